package tokens

import (
	"testing"

	"gatehouse/gateway/db"
	"gatehouse/gateway/db/dbtest"
)

// BenchmarkParseAccess is the per-request cost of a bearer token (ES256):
// signature, exp and iss, without the caller's session check.
func BenchmarkParseAccess(b *testing.B) {
	e := newEnv(b, db.DriverSQLite, dbtest.SQLiteDSN(b))
	p := e.issue(b, e.user(b, "a@example.com"), "sess-1")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.tokens.ParseAccess(p.AccessToken); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIssueAccess is the signing half of IssuePair and Refresh.
func BenchmarkIssueAccess(b *testing.B) {
	e := newEnv(b, db.DriverSQLite, dbtest.SQLiteDSN(b))
	now := e.clock.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.tokens.access(now, "user", "sess-1", 1, "ws"); err != nil {
			b.Fatal(err)
		}
	}
}
