// Package gatewaytest holds test helpers shared by Gatehouse's packages:
// contract suites that every implementation of a gateway interface must
// pass (RunPluginContract and RunProviderContract for modules;
// RunKVContract and RunLimiterContract for the memory and Redis stores),
// module builders that go through a Registry as the gateway does
// (NewPlugin, NewProviders, ProvisionProviders), fakes, and access to the
// test servers (RedisURL).
//
// The store suites are written to run against a shared, real server:
// every subtest uses its own random key prefix and deletes what it writes.
package gatewaytest

import (
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"
)

// testKeyPrefix returns a random key prefix for one subtest. It is a Redis
// Cluster hash tag ("{gh-test-…}:"), so all keys of a subtest share a slot
// and multi-key commands work there too.
func testKeyPrefix(t testing.TB) string {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("random prefix: %v", err)
	}
	return "{gh-test-" + hex.EncodeToString(b) + "}:"
}

// pollUntil polls cond every 10ms until it holds or timeout passes, and
// reports whether it held.
func pollUntil(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}
