package store

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/redis/go-redis/v9"
)

// Connection defaults for OpenRedis; a URL's query parameters
// (dial_timeout=…) override them.
const (
	redisDialTimeout  = 5 * time.Second
	redisReadTimeout  = 3 * time.Second
	redisWriteTimeout = 3 * time.Second
	redisPoolTimeout  = 4 * time.Second // read timeout + 1s, go-redis's default
)

// RedisOptions says how to reach Redis (config section "redis"). Set URL
// or Addrs, not both.
type RedisOptions struct {
	// URL is a single server, "redis://[user:password@]host:port/db" or
	// rediss:// for TLS; query parameters set go-redis options
	// (redis.ParseURL), e.g. "?dial_timeout=2s&pool_size=20".
	URL string
	// Addrs are Sentinel addresses (with MasterName), Cluster seed nodes
	// (more than one, no MasterName) or one server.
	Addrs []string
	// MasterName selects Sentinel: the name of the monitored master.
	MasterName string
	// Username is the ACL user; with URL, used only if the URL has none.
	Username string
	// Password is the server password (not Sentinel's own); with URL, used
	// only if the URL has none.
	Password string
	// DB is the database number; with URL, used only if the URL selects
	// none (or 0). Cluster has only database 0.
	DB int
}

// OpenRedis builds a client from o without connecting: the first command
// dials. URL gives a *redis.Client; Addrs with MasterName a Sentinel-backed
// (failover) *redis.Client; several Addrs without one a
// *redis.ClusterClient; a single Addr a *redis.Client. Dial timeout is 5s,
// read and write timeouts 3s, and a context's deadline bounds a command
// too (ContextTimeoutEnabled). Errors never contain the password.
func OpenRedis(o RedisOptions) (redis.UniversalClient, error) {
	switch {
	case o.URL != "" && len(o.Addrs) > 0:
		return nil, errors.New("store: redis: set url or addrs, not both")
	case o.URL != "":
		return openURL(o)
	case len(o.Addrs) == 0:
		return nil, errors.New("store: redis: no url or addrs")
	}
	for i, a := range o.Addrs {
		if a == "" {
			return nil, fmt.Errorf("store: redis: addrs[%d] is empty", i)
		}
	}
	if o.MasterName == "" && len(o.Addrs) > 1 && o.DB != 0 {
		return nil, fmt.Errorf("store: redis: db %d with a cluster, which has only db 0", o.DB)
	}
	return redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs:        o.Addrs,
		MasterName:   o.MasterName,
		Username:     o.Username,
		Password:     o.Password,
		DB:           o.DB,
		DialTimeout:  redisDialTimeout,
		ReadTimeout:  redisReadTimeout,
		WriteTimeout: redisWriteTimeout,
		PoolTimeout:  redisPoolTimeout,
		// The caller's deadline (the request's) bounds every command, not
		// only ReadTimeout: go-redis ignores it otherwise.
		ContextTimeoutEnabled: true,
	}), nil
}

// openURL is OpenRedis for o.URL.
func openURL(o RedisOptions) (redis.UniversalClient, error) {
	// Parse first: url.Parse's error quotes the whole URL, password included.
	if _, err := url.Parse(o.URL); err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("store: redis url: %w", err)
	}
	opt, err := redis.ParseURL(o.URL)
	if err != nil {
		return nil, fmt.Errorf("store: redis url: %w", err)
	}
	if opt.Username == "" {
		opt.Username = o.Username
	}
	if opt.Password == "" {
		opt.Password = o.Password
	}
	if opt.DB == 0 {
		opt.DB = o.DB
	}
	if opt.DialTimeout == 0 {
		opt.DialTimeout = redisDialTimeout
	}
	if opt.ReadTimeout == 0 {
		opt.ReadTimeout = redisReadTimeout
	}
	if opt.WriteTimeout == 0 {
		opt.WriteTimeout = redisWriteTimeout
	}
	if opt.PoolTimeout == 0 {
		opt.PoolTimeout = redisPoolTimeout
	}
	opt.ContextTimeoutEnabled = true // as in OpenRedis
	return redis.NewClient(opt), nil
}
