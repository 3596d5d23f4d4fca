package admin

import (
	"testing"
	"time"

	"gatehouse/gateway/db"
	"gatehouse/gateway/db/dbtest"
)

func TestTmpSeedTiming(t *testing.T) {
	gdb := openMigrated(t, db.DriverSQLite, dbtest.SQLiteDSN(t))
	for _, n := range []int{100, 300, 1001} {
		gdb.Exec("DELETE FROM identities"); gdb.Exec("DELETE FROM users")
		s := time.Now()
		if err := SeedUsers(t.Context(), gdb, n, time.Now()); err != nil {
			t.Fatal(err)
		}
		t.Logf("n=%d seed %v", n, time.Since(s))
		s = time.Now()
		if _, err := Metrics(t.Context(), gdb, time.Now(), 0); err != nil {
			t.Fatal(err)
		}
		t.Logf("metrics %v", time.Since(s))
	}
}
