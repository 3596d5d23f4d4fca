package adminapi

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"gatehouse/gateway/db"
	"gatehouse/gateway/db/dbtest"
)

const benchUsers = 100_000

// envBenchIndexes, set to "proposed", makes BenchmarkListUsersPostgres add
// proposedIndexes after seeding, to compare plans with and without them.
// They are not in the migrations.
const envBenchIndexes = "GATEHOUSE_BENCH_INDEXES"

// proposedIndexes serve what the migrations' indexes cannot: substring
// search (trigram GIN; needs the pg_trgm extension), last_login_at DESC with
// NULLs last, and the id tie-breaker of the default order.
var proposedIndexes = []string{
	`CREATE EXTENSION IF NOT EXISTS pg_trgm`,
	`CREATE INDEX users_email_trgm_idx ON users USING gin (lower(email) gin_trgm_ops)`,
	`CREATE INDEX users_username_trgm_idx ON users USING gin (lower(username) gin_trgm_ops)`,
	`CREATE INDEX users_name_trgm_idx ON users USING gin (lower(name) gin_trgm_ops)`,
	`CREATE INDEX users_last_login_at_desc_idx ON users (last_login_at DESC NULLS LAST, id DESC)`,
	`CREATE INDEX users_created_at_id_idx ON users (created_at, id)`,
}

// BenchmarkListUsersPostgres seeds 100 000 users into a fresh Postgres
// database once, then times whole List calls (count + page) per query
// shape and reports their p50 and p99 in milliseconds. With -v it logs the
// EXPLAIN ANALYZE of each query, to judge the indexes; with
// GATEHOUSE_BENCH_INDEXES=proposed it first adds proposedIndexes.
//
//	go test ./gateway/admin -run '^$' -bench ListUsersPostgres -v
func BenchmarkListUsersPostgres(b *testing.B) {
	ctx := context.Background()
	gdb := openMigrated(b, db.DriverPostgres, dbtest.PostgresDSN(b))
	now := time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)
	began := time.Now()
	if err := SeedUsers(ctx, gdb, benchUsers, now); err != nil {
		b.Fatal(err)
	}
	if os.Getenv(envBenchIndexes) == "proposed" {
		for _, stmt := range proposedIndexes {
			if err := gdb.Exec(stmt).Error; err != nil {
				b.Fatalf("%s: %v", stmt, err)
			}
		}
		b.Logf("with the proposed indexes")
	}
	if err := gdb.Exec("ANALYZE").Error; err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d users in %v", benchUsers, time.Since(began).Round(time.Millisecond))

	cases := []struct {
		name   string
		sort   []string
		page   int
		filter string
	}{
		// The query of the brief: a search, a flag, newest first.
		{name: "q=user1,blocked=false,sort=created_at_DESC", sort: []string{"created_at", Desc}, filter: `{"q":"user1","blocked":false}`},
		{name: "no_filter,sort=created_at_DESC", sort: []string{"created_at", Desc}},
		{name: "no_filter,sort=email_ASC,page=2000", sort: []string{"email", Asc}, page: 2000},
		{name: "no_filter,sort=last_login_at_DESC", sort: []string{"last_login_at", Desc}},
		{name: "email=user4242,sort=email_ASC", sort: []string{"email", Asc}, filter: `{"email":"user4242"}`},
		{name: "auth_method=github,sort=created_at_DESC", sort: []string{"created_at", Desc}, filter: `{"auth_method":"github"}`},
		{name: "created_at_week,sort=created_at_DESC", sort: []string{"created_at", Desc}, filter: `{"created_at":{"gte":"2025-12-01","lte":"2025-12-07"}}`},
	}
	for _, bc := range cases {
		p := ListParams{Sort: bc.sort, Page: bc.page, PerPage: 25}
		if bc.filter != "" {
			p.Filter = filter(b, bc.filter)
		}
		b.Run(bc.name, func(b *testing.B) {
			explain(b, gdb, p)
			var took []time.Duration
			var total int64
			for b.Loop() {
				start := time.Now()
				var users []db.User
				n, _, _, err := List(ctx, gdb, Users, p, &users)
				if err != nil {
					b.Fatal(err)
				}
				took = append(took, time.Since(start))
				total = n
			}
			slices.Sort(took)
			pct := func(q int) float64 {
				return float64(took[min(len(took)-1, len(took)*q/100)].Microseconds()) / 1000
			}
			b.ReportMetric(pct(50), "p50-ms")
			b.ReportMetric(pct(99), "p99-ms")
			b.ReportMetric(float64(total), "matches")
		})
	}
}

// explain logs the EXPLAIN ANALYZE of the statements List runs for p.
func explain(b *testing.B, gdb *gorm.DB, p ListParams) {
	b.Helper()
	rec := &sqlRecorder{Interface: logger.Discard}
	var users []db.User
	if _, _, _, err := List(context.Background(), gdb.Session(&gorm.Session{Logger: rec}), Users, p, &users); err != nil {
		b.Fatal(err)
	}
	for _, stmt := range rec.stmts {
		var plan []string
		if err := gdb.Raw("EXPLAIN (ANALYZE, BUFFERS) " + stmt).Scan(&plan).Error; err != nil {
			b.Fatalf("explain %s: %v", stmt, err)
		}
		b.Logf("%s\n%s", stmt, strings.Join(plan, "\n"))
	}
}

// sqlRecorder is a gorm logger that keeps each statement, values inlined.
type sqlRecorder struct {
	logger.Interface
	stmts []string
}

func (r *sqlRecorder) LogMode(logger.LogLevel) logger.Interface { return r }

func (r *sqlRecorder) Trace(_ context.Context, _ time.Time, fc func() (string, int64), _ error) {
	s, _ := fc()
	r.stmts = append(r.stmts, s)
}
