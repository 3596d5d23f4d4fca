package gatewaytest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultRedisURL is the test Redis when GATEHOUSE_TEST_REDIS is unset.
const DefaultRedisURL = "redis://127.0.0.1:6379/0"

// redisPingTimeout is how long RedisURL waits for PING.
const redisPingTimeout = 2 * time.Second

var (
	redisPingMu   sync.Mutex
	redisPingDone = map[string]error{} // URL → result of the first PING
)

// RedisURL returns the URL of the test Redis (env GATEHOUSE_TEST_REDIS,
// default DefaultRedisURL) once it has answered PING (within 2s). If it does
// not, the test is skipped, or fails when env CI is "true" or
// GATEHOUSE_REQUIRE_SERVERS is "1": CI never skips. An unparsable URL always
// fails. The PING is done once per process and URL.
func RedisURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("GATEHOUSE_TEST_REDIS")
	if u == "" {
		u = DefaultRedisURL
	}
	opt, err := redis.ParseURL(u)
	if err != nil {
		t.Fatalf("gatewaytest: GATEHOUSE_TEST_REDIS=%s: %v", redactURL(u), err)
	}

	redisPingMu.Lock()
	err, done := redisPingDone[u]
	if !done {
		err = pingRedis(opt)
		redisPingDone[u] = err
	}
	redisPingMu.Unlock()

	if err != nil {
		msg := fmt.Sprintf("gatewaytest: Redis at %s did not answer PING (timeout %v): %v", redactURL(u), redisPingTimeout, err)
		if RequireServers() {
			t.Fatalf("%s (CI=true or GATEHOUSE_REQUIRE_SERVERS=1: tests never skip; start Redis or set GATEHOUSE_TEST_REDIS)", msg)
		}
		t.Skipf("%s; skipping (set GATEHOUSE_TEST_REDIS to run)", msg)
	}
	return u
}

// RequireServers reports whether a missing test server must fail the run
// instead of skipping: env CI is "true" or GATEHOUSE_REQUIRE_SERVERS is "1".
func RequireServers() bool {
	return os.Getenv("CI") == "true" || os.Getenv("GATEHOUSE_REQUIRE_SERVERS") == "1"
}

// pingRedis sends one PING with short timeouts and no retries.
func pingRedis(opt *redis.Options) error {
	opt.DialTimeout = redisPingTimeout
	opt.ReadTimeout = redisPingTimeout
	opt.WriteTimeout = redisPingTimeout
	opt.MaxRetries = -1
	opt.DialerRetries = 1
	c := redis.NewClient(opt)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), redisPingTimeout)
	defer cancel()
	return c.Ping(ctx).Err()
}

// redactURL hides the password of a Redis URL for messages.
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	return p.Redacted()
}
