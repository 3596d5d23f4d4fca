package store_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"gatehouse/gateway/store"
)

// clientInfo is what TestOpenRedis checks of a client.
type clientInfo struct {
	Kind         string // single, failover or cluster
	Addrs        []string
	DB           int
	Username     string
	Password     string
	TLS          bool
	DialTimeout  time.Duration
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
}

func describe(t *testing.T, c redis.UniversalClient) clientInfo {
	t.Helper()
	switch c := c.(type) {
	case *redis.Client:
		o := c.Options()
		info := clientInfo{Kind: "single", Addrs: []string{o.Addr}, DB: o.DB, Username: o.Username,
			Password: o.Password, TLS: o.TLSConfig != nil,
			DialTimeout: o.DialTimeout, ReadTimeout: o.ReadTimeout, WriteTimeout: o.WriteTimeout}
		if o.Addr == "FailoverClient" { // go-redis' marker for a Sentinel client
			info.Kind, info.Addrs = "failover", nil
		}
		return info
	case *redis.ClusterClient:
		o := c.Options()
		return clientInfo{Kind: "cluster", Addrs: o.Addrs, Username: o.Username, Password: o.Password,
			TLS: o.TLSConfig != nil, DialTimeout: o.DialTimeout, ReadTimeout: o.ReadTimeout, WriteTimeout: o.WriteTimeout}
	}
	t.Fatalf("unexpected client type %T", c)
	return clientInfo{}
}

func TestOpenRedis(t *testing.T) {
	const (
		dial = 5 * time.Second
		rw   = 3 * time.Second
	)
	tests := []struct {
		name    string
		opts    store.RedisOptions
		want    clientInfo
		wantErr string
	}{
		{
			name: "url with db and password",
			opts: store.RedisOptions{URL: "redis://:hunter2@db.example:6390/4"},
			want: clientInfo{Kind: "single", Addrs: []string{"db.example:6390"}, DB: 4, Password: "hunter2",
				DialTimeout: dial, ReadTimeout: rw, WriteTimeout: rw},
		},
		{
			name: "url with user and query",
			opts: store.RedisOptions{URL: "rediss://alice:pw@db.example/2?dial_timeout=1s&read_timeout=2s"},
			want: clientInfo{Kind: "single", Addrs: []string{"db.example:6379"}, DB: 2, Username: "alice", Password: "pw",
				TLS: true, DialTimeout: time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: rw},
		},
		{
			name: "options fill in what the url lacks",
			opts: store.RedisOptions{URL: "redis://db.example:6379", Username: "bob", Password: "hunter2", DB: 3},
			want: clientInfo{Kind: "single", Addrs: []string{"db.example:6379"}, DB: 3, Username: "bob", Password: "hunter2",
				DialTimeout: dial, ReadTimeout: rw, WriteTimeout: rw},
		},
		{
			name: "url wins over options",
			opts: store.RedisOptions{URL: "redis://carol:fromurl@db.example:6379/5", Username: "bob", Password: "hunter2", DB: 3},
			want: clientInfo{Kind: "single", Addrs: []string{"db.example:6379"}, DB: 5, Username: "carol", Password: "fromurl",
				DialTimeout: dial, ReadTimeout: rw, WriteTimeout: rw},
		},
		{
			name: "one addr",
			opts: store.RedisOptions{Addrs: []string{"db.example:6379"}, DB: 1, Password: "hunter2"},
			want: clientInfo{Kind: "single", Addrs: []string{"db.example:6379"}, DB: 1, Password: "hunter2",
				DialTimeout: dial, ReadTimeout: rw, WriteTimeout: rw},
		},
		{
			name: "sentinel",
			opts: store.RedisOptions{Addrs: []string{"s1:26379", "s2:26379"}, MasterName: "mymaster", Password: "hunter2", DB: 2},
			want: clientInfo{Kind: "failover", DB: 2, Password: "hunter2", DialTimeout: dial, ReadTimeout: rw, WriteTimeout: rw},
		},
		{
			name: "cluster",
			opts: store.RedisOptions{Addrs: []string{"n1:7000", "n2:7001", "n3:7002"}, Username: "u", Password: "hunter2"},
			want: clientInfo{Kind: "cluster", Addrs: []string{"n1:7000", "n2:7001", "n3:7002"}, Username: "u", Password: "hunter2",
				DialTimeout: dial, ReadTimeout: rw, WriteTimeout: rw},
		},
		{name: "bad scheme", opts: store.RedisOptions{URL: "http://:hunter2@db.example"}, wantErr: "invalid URL scheme"},
		{name: "bad db", opts: store.RedisOptions{URL: "redis://:hunter2@db.example/first"}, wantErr: "invalid database number"},
		{name: "unparsable url hides the password", opts: store.RedisOptions{URL: "redis://u:hunter2@db.example:port/0"}, wantErr: "invalid port"},
		{name: "unknown query parameter", opts: store.RedisOptions{URL: "redis://db.example/0?bogus=1"}, wantErr: "bogus"},
		{name: "url and addrs", opts: store.RedisOptions{URL: "redis://db.example", Addrs: []string{"a:1"}}, wantErr: "not both"},
		{name: "nothing", opts: store.RedisOptions{}, wantErr: "no url or addrs"},
		{name: "empty addr", opts: store.RedisOptions{Addrs: []string{"a:1", ""}}, wantErr: "addrs[1] is empty"},
		{name: "cluster with db", opts: store.RedisOptions{Addrs: []string{"a:1", "b:2"}, DB: 2}, wantErr: "only db 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := store.OpenRedis(tc.opts)
			if tc.wantErr != "" {
				if err == nil {
					_ = c.Close()
					t.Fatalf("OpenRedis = nil error, want %q", tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("OpenRedis error = %q, want it to contain %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("OpenRedis error %q shows the password", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("OpenRedis error = %v", err)
			}
			defer c.Close()
			if diff := cmp.Diff(tc.want, describe(t, c)); diff != "" {
				t.Errorf("client (-want +got):\n%s", diff)
			}
		})
	}
}
