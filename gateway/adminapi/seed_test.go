package adminapi

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"gorm.io/gorm"

	"gatehouse/gateway/db"
)

func TestSeedUsers(t *testing.T) {
	// Just over one batch: SQLite under -race inserts slowly.
	const n = seedBatch + 1
	now := ts("2026-01-01T00:00:00Z")

	// Count what SeedUsers documents, from its rules.
	var verified, blocked, mfa, password, google, github, loggedIn, admins, matches int64
	for i := 1; i <= n; i++ {
		count := func(c *int64, ok bool) {
			if ok {
				*c++
			}
		}
		count(&verified, i%10 != 0)
		count(&blocked, i%40 == 0)
		count(&mfa, i%8 == 0)
		count(&password, i%5 != 0)
		count(&google, i%3 == 0)
		count(&github, i%7 == 0)
		count(&loggedIn, i%4 != 0)
		count(&admins, i%1000 == 1)
		count(&matches, strings.HasPrefix(strconv.Itoa(i), "1") && i%40 != 0)
	}

	forEachDB(t, func(t *testing.T, gdb *gorm.DB) {
		if err := SeedUsers(t.Context(), gdb, n, now); err != nil {
			t.Fatal(err)
		}
		got, err := Metrics(t.Context(), gdb, now, 0)
		if err != nil {
			t.Fatal(err)
		}
		want := MetricsResult{
			UsersTotal: n, UsersVerified: verified, UsersUnverified: n - verified, UsersBlocked: blocked, UsersMFA: mfa,
			// Created over the n×5 minutes (~3.5 days) before now, all in
			// 2025-12, and signed in between creation and now.
			UsersCreatedThisMonth: 0, UsersCreatedThisYear: 0,
			UsersActive24h: got.UsersActive24h, UsersActive30d: loggedIn,
			UsersByAuthMethod: map[string]int64{"password": password, "email_code": verified, "google": google, "github": github},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("metrics of the seeded users (-want +got):\n%s", diff)
		}
		if got.UsersActive24h == 0 {
			t.Error("no seeded user signed in in the last 24h")
		}

		var stats struct {
			Admins   int64 `gorm:"column:admins"`
			Distinct int64 `gorm:"column:distinct_created"`
		}
		err = gdb.Raw(`SELECT SUM(CASE WHEN role = 'admin' THEN 1 ELSE 0 END) AS admins,
			COUNT(DISTINCT created_at) AS distinct_created FROM users`).Scan(&stats).Error
		if err != nil {
			t.Fatal(err)
		}
		if stats.Admins != admins || stats.Distinct != n {
			t.Errorf("admins %d, distinct created_at %d; want %d, %d", stats.Admins, stats.Distinct, admins, n)
		}
		var oldest, newest db.User
		if err := gdb.Order("created_at ASC").Take(&oldest).Error; err != nil {
			t.Fatal(err)
		}
		if err := gdb.Order("created_at DESC").Take(&newest).Error; err != nil {
			t.Fatal(err)
		}
		if !oldest.CreatedAt.Equal(now.Add(-n*5*time.Minute)) || !newest.CreatedAt.Equal(now.Add(-5*time.Minute)) {
			t.Errorf("created_at from %v to %v", oldest.CreatedAt, newest.CreatedAt)
		}

		// The benchmark's query finds what it should: user1, user10–19,
		// user100–199, user1000–… less the blocked.
		p := ListParams{Sort: []string{"created_at", Desc}, PerPage: 25, Filter: filter(t, `{"q":"user1","blocked":false}`)}
		var page []struct{ Email string }
		total, _, _, err := List(t.Context(), gdb, Users, p, &page)
		if err != nil {
			t.Fatal(err)
		}
		if total != matches || len(page) != 25 {
			t.Errorf("total %d, page %d; want %d, 25", total, len(page), matches)
		}
	})
}
