package adminapi

import (
	"context"
	"encoding/json"
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

// benchWorkspace holds every 50th seeded user (2 000 members), for the
// workspace_id filter.
const benchWorkspace = "ws_bench"

// seedWorkspace adds benchWorkspace, owned by the first admin, with every
// 50th user of the seed (in id order) as a member.
func seedWorkspace(tb testing.TB, gdb *gorm.DB) {
	tb.Helper()
	stmts := []string{
		`INSERT INTO workspaces (id, name, slug, owner_id) SELECT '` + benchWorkspace + `', 'Bench', 'bench', id FROM users WHERE role = 'admin' ORDER BY id LIMIT 1`,
		`INSERT INTO memberships (workspace_id, user_id, role) SELECT '` + benchWorkspace + `', id, 'member' FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM users) u WHERE n % 50 = 0`,
	}
	for _, stmt := range stmts {
		if err := gdb.Exec(stmt).Error; err != nil {
			tb.Fatalf("%s: %v", stmt, err)
		}
	}
}

// benchIDs is a getMany of n seeded ids, spread over the table.
func benchIDs(tb testing.TB, gdb *gorm.DB, n int) string {
	tb.Helper()
	var ids []string
	if err := gdb.Raw(`SELECT id FROM users ORDER BY md5(id) LIMIT ?`, n).Scan(&ids).Error; err != nil {
		tb.Fatal(err)
	}
	b, _ := json.Marshal(map[string][]string{"id": ids})
	return string(b)
}

// BenchmarkListUsersPostgres seeds 100 000 users into a fresh Postgres
// database once, then times the database work of one answer of GET
// /admin/users — List (count + page) and the page's providers — for every
// filter and sort field, and reports p50 and p99 in milliseconds and the
// total. With -v it logs the EXPLAIN ANALYZE of each query, to judge the
// indexes; with GATEHOUSE_BENCH_INDEXES=proposed it first adds
// proposedIndexes.
//
//	go test ./gateway/adminapi -run '^$' -bench ListUsersPostgres -benchtime 200x
func BenchmarkListUsersPostgres(b *testing.B) {
	ctx := context.Background()
	gdb := openMigrated(b, db.DriverPostgres, dbtest.PostgresDSN(b))
	now := time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)
	began := time.Now()
	if err := SeedUsers(ctx, gdb, benchUsers, now); err != nil {
		b.Fatal(err)
	}
	seedWorkspace(b, gdb)
	if os.Getenv(envBenchIndexes) == "proposed" {
		for _, stmt := range proposedIndexes {
			if err := gdb.Exec(stmt).Error; err != nil {
				b.Fatalf("%s: %v", stmt, err)
			}
		}
		b.Logf("with the proposed indexes")
	}
	if err := gdb.Exec("VACUUM ANALYZE").Error; err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d users in %v", benchUsers, time.Since(began).Round(time.Millisecond))

	newest := []string{"created_at", Desc}
	cases := []struct {
		name   string
		sort   []string
		page   int
		filter string
	}{
		// A broad search (11 000 matches), a flag, newest first.
		{name: "q=user1,blocked=false", sort: newest, filter: `{"q":"user1","blocked":false}`},
		{name: "q=user1", sort: newest, filter: `{"q":"user1"}`},
		{name: "q=lovelace", sort: newest, filter: `{"q":"lovelace"}`},
		{name: "q=user4242", sort: newest, filter: `{"q":"user4242"}`},
		{name: "q=nobody", sort: newest, filter: `{"q":"nobody"}`},
		{name: "email=user4242,sort=email", sort: []string{"email", Asc}, filter: `{"email":"user4242"}`},
		{name: "email=example,sort=email", sort: []string{"email", Asc}, filter: `{"email":"example"}`},
		{name: "username=user99", sort: newest, filter: `{"username":"user99"}`},
		{name: "name=grace", sort: newest, filter: `{"name":"grace"}`},
		{name: "username=user99,sort=username", sort: []string{"username", Asc}, filter: `{"username":"user99"}`},
		{name: "name=grace,sort=name", sort: []string{"name", Asc}, filter: `{"name":"grace"}`},
		{name: "q=grace,sort=name_DESC", sort: []string{"name", Desc}, filter: `{"q":"grace"}`},
		{name: "q=user99,sort=email", sort: []string{"email", Asc}, filter: `{"q":"user99"}`},
		{name: "q=example,sort=email", sort: []string{"email", Asc}, filter: `{"q":"example"}`},
		{name: "role=admin", sort: newest, filter: `{"role":"admin"}`},
		{name: "role=[admin,user]", sort: newest, filter: `{"role":["admin","user"]}`},
		{name: "blocked=true", sort: newest, filter: `{"blocked":true}`},
		{name: "email_verified=false", sort: newest, filter: `{"email_verified":false}`},
		{name: "mfa_enabled=true", sort: newest, filter: `{"mfa_enabled":true}`},
		{name: "auth_method=password", sort: newest, filter: `{"auth_method":"password"}`},
		{name: "auth_method=email_code", sort: newest, filter: `{"auth_method":"email_code"}`},
		{name: "auth_method=github", sort: newest, filter: `{"auth_method":"github"}`},
		{name: "workspace_id", sort: newest, filter: `{"workspace_id":"` + benchWorkspace + `"}`},
		{name: "created_at=day", sort: newest, filter: `{"created_at":"2025-12-01"}`},
		{name: "created_at=week", sort: newest, filter: `{"created_at":{"gte":"2025-12-01","lte":"2025-12-07"}}`},
		{name: "updated_at>=2026-01-01", sort: []string{"updated_at", Desc}, filter: `{"updated_at":{"gte":"2026-01-01"}}`},
		{name: "last_login_at=null", sort: newest, filter: `{"last_login_at":"null"}`},
		{name: "last_login_at=!null", sort: []string{"last_login_at", Desc}, filter: `{"last_login_at":"!null"}`},
		{name: "last_login_at=month", sort: []string{"last_login_at", Desc}, filter: `{"last_login_at":{"gte":"2025-12-15","lt":"2026-01-15"}}`},
		{name: "id=[100_ids]", filter: benchIDs(b, gdb, 100)},
		{name: "getMany_id=[1000_ids]", filter: benchIDs(b, gdb, maxExactList)},
		{name: "no_filter", sort: newest},
		{name: "no_filter,sort=email,page=2000", sort: []string{"email", Asc}, page: 2000},
		{name: "no_filter,sort=name", sort: []string{"name", Asc}},
		{name: "no_filter,sort=username_DESC", sort: []string{"username", Desc}},
		{name: "no_filter,sort=role", sort: []string{"role", Asc}},
		{name: "no_filter,sort=id", sort: []string{"id", Asc}},
		{name: "no_filter,sort=last_login_at_DESC", sort: []string{"last_login_at", Desc}},
	}
	for _, bc := range cases {
		p := ListParams{Sort: bc.sort, Page: bc.page, PerPage: 25, Paged: !strings.Contains(bc.name, "getMany")}
		if bc.filter != "" {
			p.Filter = filter(b, bc.filter)
		}
		b.Run(bc.name, func(b *testing.B) {
			explain(b, gdb, p)
			var took []time.Duration
			var total int64
			for b.Loop() {
				start := time.Now()
				n, err := listPage(ctx, gdb, p)
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
			b.ReportMetric(float64(total), "total")
		})
	}
}

// listPage is the database work of one GET /admin/users answer: the page
// and its users' linked providers.
func listPage(ctx context.Context, gdb *gorm.DB, p ListParams) (int64, error) {
	var users []db.User
	n, _, _, err := List(ctx, gdb, Users, p, &users)
	if err != nil {
		return 0, err
	}
	ids := make([]string, len(users))
	for i := range users {
		ids[i] = users[i].ID
	}
	_, err = Providers(ctx, gdb, ids)
	return n, err
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
		if strings.HasPrefix(stmt, "EXPLAIN ") {
			continue // List's own estimate
		}
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
