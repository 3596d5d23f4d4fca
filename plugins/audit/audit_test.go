package audit

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"gatehouse/gateway"
	"gatehouse/gateway/db"
	"gatehouse/gateway/db/dbtest"
	"gatehouse/gateway/gatewaytest"
)

var drivers = []struct {
	name string
	dsn  func(testing.TB) string
}{
	{name: db.DriverSQLite, dsn: dbtest.SQLiteDSN},
	{name: db.DriverPostgres, dsn: dbtest.PostgresDSN},
}

// forEachDB runs fn on a fresh, migrated database of each driver.
func forEachDB(t *testing.T, fn func(t *testing.T, gdb *gorm.DB)) {
	for _, d := range drivers {
		t.Run(d.name, func(t *testing.T) {
			gdb, err := db.Open(t.Context(), db.Options{Driver: d.name, DSN: d.dsn(t)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = db.Close(gdb) })
			if _, err := db.Up(t.Context(), gdb, d.name); err != nil {
				t.Fatal(err)
			}
			fn(t, gdb)
		})
	}
}

type fixedClock time.Time

func (c fixedClock) Now() time.Time { return time.Time(c) }

// insertEvents adds n events of type typ at time at.
func insertEvents(t *testing.T, gdb *gorm.DB, n int, typ string, at time.Time) {
	t.Helper()
	rows := make([]db.AuditEvent, n)
	for i := range rows {
		rows[i] = db.AuditEvent{ID: db.NewID(), Time: at, Type: typ, Data: "{}"}
	}
	if err := gdb.CreateInBatches(&rows, 500).Error; err != nil {
		t.Fatal(err)
	}
}

func countEvents(t *testing.T, gdb *gorm.DB) map[string]int64 {
	t.Helper()
	var rows []struct {
		Type string
		N    int64
	}
	if err := gdb.Raw("SELECT type, COUNT(*) AS n FROM audit_events GROUP BY type").Scan(&rows).Error; err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, r := range rows {
		out[r.Type] = r.N
	}
	return out
}

func TestPurge(t *testing.T) {
	forEachDB(t, func(t *testing.T, gdb *gorm.DB) {
		now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
		insertEvents(t, gdb, purgeBatch+250, "old", now.Add(-48*time.Hour)) // more than one batch
		insertEvents(t, gdb, 3, "edge", now.Add(-24*time.Hour+time.Minute))
		insertEvents(t, gdb, 2, "new", now.Add(-time.Minute))
		p := gatewaytest.ProvisionPlugin(t, Info(), "retention: 24h", &gateway.Host{DB: gdb, Clock: fixedClock(now)}).(*Plugin)
		// Provision's own first purge may already have run; Purge is idempotent.
		if _, err := p.Purge(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		got := countEvents(t, gdb)
		if got["old"] != 0 || got["edge"] != 3 || got["new"] != 2 {
			t.Fatalf("after the purge: %v", got)
		}
	})
}

func TestPurgeRunsInBackgroundUntilClose(t *testing.T) {
	forEachDB(t, func(t *testing.T, gdb *gorm.DB) {
		now := time.Now().UTC()
		p, err := gatewaytest.NewPlugin(Info(), "retention: 1h")
		if err != nil {
			t.Fatal(err)
		}
		pl := p.(*Plugin)
		pl.every = 20 * time.Millisecond
		if err := pl.Provision(t.Context(), (&gateway.Host{DB: gdb}).For("plugin", "audit", "audit")); err != nil {
			t.Fatal(err)
		}
		defer pl.Close()
		// Rows that age past the retention after start go at a later run.
		insertEvents(t, gdb, 5, "old", now.Add(-2*time.Hour))
		deadline := time.Now().Add(10 * time.Second)
		for countEvents(t, gdb)["old"] != 0 {
			if time.Now().After(deadline) {
				t.Fatal("the background purge did not delete the old records")
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err := pl.Close(); err != nil {
			t.Fatal(err)
		}
		// Stopped: nothing is purged any more.
		insertEvents(t, gdb, 1, "old", now.Add(-2*time.Hour))
		time.Sleep(100 * time.Millisecond)
		if n := countEvents(t, gdb)["old"]; n != 1 {
			t.Fatalf("a purge ran after Close: %d old rows", n)
		}
		if err := pl.Close(); err != nil {
			t.Fatalf("a second Close: %v", err)
		}
	})
}

func TestNoRetentionKeepsEverything(t *testing.T) {
	gdb := openSQLite(t)
	insertEvents(t, gdb, 3, "ancient", time.Now().Add(-10*365*24*time.Hour))
	p := gatewaytest.ProvisionPlugin(t, Info(), "", &gateway.Host{DB: gdb}).(*Plugin)
	if n, err := p.Purge(t.Context()); err != nil || n != 0 {
		t.Fatalf("Purge = %d, %v", n, err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if n := countEvents(t, gdb)["ancient"]; n != 3 {
		t.Fatalf("%d rows left, want 3", n)
	}
}

func TestRetentionNeedsTheDatabase(t *testing.T) {
	p, err := gatewaytest.NewPlugin(Info(), "retention: 24h")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Provision(t.Context(), &gateway.Host{}); err == nil || !strings.Contains(err.Error(), "database") {
		t.Fatalf("Provision without a database: %v", err)
	}
}

// logBuffer collects JSON log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

func TestLogStream(t *testing.T) {
	gdb := openSQLite(t)
	actor, subject, email, ip := "admin1", "user1", "ada@example.com", "203.0.113.9"
	ua := "Mozilla/5.0"
	row := db.AuditEvent{ID: db.NewID(), Time: time.Now().UTC(), Type: "user.updated", ActorID: &actor, SubjectID: &subject,
		Email: &email, IP: &ip, UserAgent: &ua, RequestID: "req-42", Data: `{"fields":["name"]}`}
	if err := gdb.Create(&row).Error; err != nil {
		t.Fatal(err)
	}
	var logs logBuffer
	h := &gateway.Host{DB: gdb, Logger: slog.New(slog.NewJSONHandler(&logs, nil))}
	p := gatewaytest.ProvisionPlugin(t, Info(), "log: true", h).(*Plugin)
	defer p.Close()

	ev := gateway.Event{ID: row.ID, Type: row.Type, Time: row.Time,
		Data: map[string]any{"user_id": subject, "email": email, "actor_id": actor, "fields": []any{"name"}}}
	if err := p.OnEvent(t.Context(), ev); err != nil {
		t.Fatal(err)
	}
	// A record already purged: the ids come from the event.
	gone := gateway.Event{ID: "purged", Type: "user.login", Time: time.Now(), Data: map[string]any{"user_id": "user2", "email": "bob@example.com"}}
	if err := p.OnEvent(t.Context(), gone); err != nil {
		t.Fatal(err)
	}
	lines := logs.lines(t)
	if len(lines) != 2 {
		t.Fatalf("%d log lines, want 2: %v", len(lines), lines)
	}
	l := lines[0]
	if l["msg"] != "audit" || l["type"] != "user.updated" || l["event_id"] != row.ID || l["actor_id"] != actor ||
		l["subject_id"] != subject || l["request_id"] != "req-42" || l["plugin"] != "audit" {
		t.Fatalf("log line: %v", l)
	}
	if lines[1]["subject_id"] != "user2" || lines[1]["type"] != "user.login" {
		t.Fatalf("fallback log line: %v", lines[1])
	}
	raw := logs.buf.String()
	for _, personal := range []string{email, ip, ua, "bob@example.com"} {
		if strings.Contains(raw, personal) {
			t.Fatalf("the log stream carries personal data %q: %s", personal, raw)
		}
	}
}

func TestLogOff(t *testing.T) {
	var logs logBuffer
	p := gatewaytest.ProvisionPlugin(t, Info(), "", &gateway.Host{Logger: slog.New(slog.NewJSONHandler(&logs, nil))}).(*Plugin)
	if err := p.OnEvent(t.Context(), gateway.Event{ID: "x", Type: "user.login"}); err != nil {
		t.Fatal(err)
	}
	if len(logs.lines(t)) != 0 {
		t.Fatalf("log off wrote: %s", logs.buf.String())
	}
}

func openSQLite(t *testing.T) *gorm.DB {
	t.Helper()
	gdb, err := db.Open(t.Context(), db.Options{Driver: db.DriverSQLite, DSN: dbtest.SQLiteDSN(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close(gdb) })
	if _, err := db.Up(t.Context(), gdb, db.DriverSQLite); err != nil {
		t.Fatal(err)
	}
	return gdb
}
