package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"gorm.io/gorm"

	"gatehouse/gateway/db"
	"gatehouse/gateway/db/dbtest"
)

// drivers are the databases every test runs against.
var drivers = []struct {
	name string
	dsn  func(testing.TB) string
}{
	{name: db.DriverSQLite, dsn: dbtest.SQLiteDSN},
	{name: db.DriverPostgres, dsn: dbtest.PostgresDSN},
}

// forEachDB runs fn against a fresh, migrated database of every driver.
func forEachDB(t *testing.T, fn func(t *testing.T, gdb *gorm.DB)) {
	t.Helper()
	forEachDBPools(t, func(t *testing.T, open func() *gorm.DB) { fn(t, open()) })
}

// forEachDBPools runs fn against a fresh, migrated database of every
// driver. open returns a new connection pool on that database each time it
// is called, so that two pools can stand for two replicas. The test runs in
// parallel with the others.
func forEachDBPools(t *testing.T, fn func(t *testing.T, open func() *gorm.DB)) {
	t.Helper()
	t.Parallel()
	for _, d := range drivers {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			dsn := d.dsn(t)
			open := func() *gorm.DB {
				t.Helper()
				gdb, err := db.Open(t.Context(), db.Options{Driver: d.name, DSN: dsn})
				if err != nil {
					t.Fatalf("db.Open: %v", err)
				}
				t.Cleanup(func() { _ = db.Close(gdb) })
				return gdb
			}
			if _, err := db.Up(t.Context(), open(), d.name); err != nil {
				t.Fatalf("db.Up: %v", err)
			}
			fn(t, open)
		})
	}
}

// fakeClock is a settable clock for leases and backoff.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// counter counts handler calls by payload.
type counter struct {
	mu sync.Mutex
	n  map[string]int
}

func newCounter() *counter { return &counter{n: make(map[string]int)} }

func (c *counter) add(p []byte) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[string(p)]++
	return c.n[string(p)]
}

func (c *counter) get(p string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[p]
}

func (c *counter) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.n))
	for k, v := range c.n {
		out[k] = v
	}
	return out
}

// recorder is a slog.Handler that keeps records.
type recorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec.Clone())
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

func (r *recorder) count(level slog.Level) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, rec := range r.recs {
		if rec.Level == level {
			n++
		}
	}
	return n
}

// only returns the single item in the table.
func only(t *testing.T, gdb *gorm.DB) db.OutboxItem {
	t.Helper()
	var items []db.OutboxItem
	if err := gdb.Find(&items).Error; err != nil {
		t.Fatal(err)
	}
	if len(items) != 1 {
		t.Fatalf("outbox holds %d items, want 1", len(items))
	}
	return items[0]
}

func drain(t *testing.T, ob *Queue) {
	t.Helper()
	if err := ob.Drain(t.Context()); err != nil {
		t.Fatalf("Drain: %v", err)
	}
}

func depth(t *testing.T, ob *Queue) int64 {
	t.Helper()
	n, err := ob.Depth(t.Context())
	if err != nil {
		t.Fatalf("Depth: %v", err)
	}
	return n
}

func TestDeliverOnce(t *testing.T) {
	forEachDB(t, func(t *testing.T, gdb *gorm.DB) {
		ob := New(gdb, Options{})
		calls := newCounter()
		ob.Handle("mail", func(_ context.Context, p []byte) error { calls.add(p); return nil })

		payload := "{\"to\":\"a@example.com\",\"text\":\"héllo\\r\\n\"}\r\n\ttrailing "
		if err := ob.Enqueue(t.Context(), nil, "mail", []byte(payload)); err != nil {
			t.Fatal(err)
		}
		if got := depth(t, ob); got != 1 {
			t.Errorf("Depth after Enqueue = %d, want 1", got)
		}
		drain(t, ob)
		drain(t, ob)
		if diff := cmp.Diff(map[string]int{payload: 1}, calls.snapshot()); diff != "" {
			t.Errorf("handler calls by payload (-want +got):\n%s", diff)
		}
		it := only(t, gdb)
		if it.Status != db.OutboxDone || it.Attempts != 1 || it.LockedUntil != nil || it.Payload != "" {
			t.Errorf("item = status %q attempts %d locked %v payload %q; want done, 1, nil, cleared",
				it.Status, it.Attempts, it.LockedUntil, it.Payload)
		}
		if got := depth(t, ob); got != 0 {
			t.Errorf("Depth after Drain = %d, want 0", got)
		}
	})
}

func TestPayloadIsByteExact(t *testing.T) {
	forEachDB(t, func(t *testing.T, gdb *gorm.DB) {
		ob := New(gdb, Options{})
		want := "  {\"k\": \"ü\\u0000\"}\r\n\n\t€ "
		var got string
		ob.Handle("event", func(_ context.Context, p []byte) error { got = string(p); return nil })
		if err := ob.Enqueue(t.Context(), nil, "event", []byte(want)); err != nil {
			t.Fatal(err)
		}
		drain(t, ob)
		if got != want {
			t.Errorf("payload = %q, want %q", got, want)
		}
	})
}

func TestRetryWithBackoffThenDead(t *testing.T) {
	forEachDB(t, func(t *testing.T, gdb *gorm.DB) {
		clock := newFakeClock()
		logs := &recorder{}
		ob := New(gdb, Options{
			Logger:      slog.New(logs),
			Clock:       clock.Now,
			MaxAttempts: 3,
			Backoff:     func(n int) time.Duration { return time.Duration(n) * time.Minute },
		})
		calls := 0
		ob.Handle("mail", func(context.Context, []byte) error {
			calls++
			return fmt.Errorf("smtp: 451 try again (call %d)", calls)
		})
		if err := ob.Enqueue(t.Context(), nil, "mail", []byte("m")); err != nil {
			t.Fatal(err)
		}

		steps := []struct {
			name         string
			advance      time.Duration
			wantCalls    int
			wantAttempts int
			wantStatus   string
			wantNext     time.Duration // from the start, for pending items
			wantError    string
		}{
			{name: "first try fails", wantCalls: 1, wantAttempts: 1, wantStatus: db.OutboxPending,
				wantNext: time.Minute, wantError: "smtp: 451 try again (call 1)"},
			{name: "not due yet", advance: 59 * time.Second, wantCalls: 1, wantAttempts: 1,
				wantStatus: db.OutboxPending, wantNext: time.Minute, wantError: "smtp: 451 try again (call 1)"},
			{name: "second try after 1m", advance: time.Second, wantCalls: 2, wantAttempts: 2,
				wantStatus: db.OutboxPending, wantNext: 3 * time.Minute, wantError: "smtp: 451 try again (call 2)"},
			{name: "backoff grows to 2m", advance: 119 * time.Second, wantCalls: 2, wantAttempts: 2,
				wantStatus: db.OutboxPending, wantNext: 3 * time.Minute, wantError: "smtp: 451 try again (call 2)"},
			{name: "third try is the last", advance: time.Second, wantCalls: 3, wantAttempts: 3,
				wantStatus: db.OutboxDead, wantError: "smtp: 451 try again (call 3)"},
			{name: "dead stays dead", advance: 24 * time.Hour, wantCalls: 3, wantAttempts: 3,
				wantStatus: db.OutboxDead, wantError: "smtp: 451 try again (call 3)"},
		}
		start := clock.Now()
		for _, st := range steps {
			clock.Advance(st.advance)
			drain(t, ob)
			it := only(t, gdb)
			if calls != st.wantCalls || it.Attempts != st.wantAttempts || it.Status != st.wantStatus ||
				it.LastError != st.wantError || it.LockedUntil != nil {
				t.Fatalf("%s: calls %d attempts %d status %q last_error %q locked %v; want %d %d %q %q nil",
					st.name, calls, it.Attempts, it.Status, it.LastError, it.LockedUntil,
					st.wantCalls, st.wantAttempts, st.wantStatus, st.wantError)
			}
			if st.wantStatus == db.OutboxPending && !it.NextAttemptAt.Equal(start.Add(st.wantNext)) {
				t.Fatalf("%s: next_attempt_at = %v, want %v", st.name, it.NextAttemptAt, start.Add(st.wantNext))
			}
		}
		if got := logs.count(slog.LevelError); got != 1 {
			t.Errorf("Error records = %d, want 1 (the item died)", got)
		}
		if got := logs.count(slog.LevelWarn); got != 2 {
			t.Errorf("Warn records = %d, want 2 (two retries)", got)
		}
		if got := depth(t, ob); got != 0 {
			t.Errorf("Depth = %d, want 0 (dead items are not pending)", got)
		}
	})
}

func TestPermanentErrorIsDeadAtOnce(t *testing.T) {
	forEachDB(t, func(t *testing.T, gdb *gorm.DB) {
		ob := New(gdb, Options{})
		ob.Handle("mail", func(context.Context, []byte) error {
			return Permanent(errors.New("mail: bad payload"))
		})
		if err := ob.Enqueue(t.Context(), nil, "mail", []byte("x")); err != nil {
			t.Fatal(err)
		}
		drain(t, ob)
		if it := only(t, gdb); it.Status != db.OutboxDead || it.Attempts != 1 || it.LastError != "mail: bad payload" {
			t.Errorf("item = %q attempts %d last_error %q; want dead, 1, the error", it.Status, it.Attempts, it.LastError)
		}
	})
}

func TestHandlerTimeoutAndPanicAreFailures(t *testing.T) {
	forEachDB(t, func(t *testing.T, gdb *gorm.DB) {
		ob := New(gdb, Options{Timeout: 50 * time.Millisecond})
		ob.Handle("slow", func(ctx context.Context, _ []byte) error {
			<-ctx.Done()
			return ctx.Err()
		})
		ob.Handle("panicky", func(context.Context, []byte) error { panic("secret-123456") })
		for _, k := range []string{"slow", "panicky"} {
			if err := ob.Enqueue(t.Context(), nil, k, []byte(k)); err != nil {
				t.Fatal(err)
			}
		}
		drain(t, ob)
		var items []db.OutboxItem
		if err := gdb.Order("kind").Find(&items).Error; err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, it := range items {
			if it.Status != db.OutboxPending || it.Attempts != 1 {
				t.Errorf("%s: status %q attempts %d, want pending 1", it.Kind, it.Status, it.Attempts)
			}
			got[it.Kind] = it.LastError
		}
		want := map[string]string{
			"panicky": "outbox: panicky handler panicked (string)",
			"slow":    context.DeadlineExceeded.Error(),
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("last_error by kind (-want +got):\n%s", diff)
		}
	})
}

func TestRolledBackEnqueueIsNotDelivered(t *testing.T) {
	forEachDB(t, func(t *testing.T, gdb *gorm.DB) {
		ob := New(gdb, Options{})
		calls := newCounter()
		ob.Handle("mail", func(_ context.Context, p []byte) error { calls.add(p); return nil })

		errRollback := errors.New("rollback")
		err := gdb.WithContext(t.Context()).Transaction(func(tx *gorm.DB) error {
			if err := ob.Enqueue(t.Context(), tx, "mail", []byte("rolled back")); err != nil {
				return err
			}
			return errRollback
		})
		if !errors.Is(err, errRollback) {
			t.Fatalf("Transaction = %v, want the rollback", err)
		}
		err = gdb.WithContext(t.Context()).Transaction(func(tx *gorm.DB) error {
			return ob.Enqueue(t.Context(), tx, "mail", []byte("committed"))
		})
		if err != nil {
			t.Fatal(err)
		}
		drain(t, ob)
		if diff := cmp.Diff(map[string]int{"committed": 1}, calls.snapshot()); diff != "" {
			t.Errorf("deliveries (-want +got):\n%s", diff)
		}
	})
}

func TestUnhandledKindsAreLeftAlone(t *testing.T) {
	forEachDB(t, func(t *testing.T, gdb *gorm.DB) {
		ob := New(gdb, Options{})
		ob.Handle("mail", func(context.Context, []byte) error { return nil })
		if err := ob.Enqueue(t.Context(), nil, "webhook", []byte("w")); err != nil {
			t.Fatal(err)
		}
		drain(t, ob)
		if it := only(t, gdb); it.Status != db.OutboxPending || it.Attempts != 0 || it.LockedUntil != nil {
			t.Errorf("webhook item = %q attempts %d locked %v; want untouched", it.Status, it.Attempts, it.LockedUntil)
		}
		if got := depth(t, ob); got != 1 {
			t.Errorf("Depth = %d, want 1", got)
		}
	})
}

// Two replicas, each running its worker on its own connection pool, share
// the table: every item is delivered exactly once.
func TestTwoReplicasDeliverEachItemOnce(t *testing.T) {
	forEachDBPools(t, func(t *testing.T, open func() *gorm.DB) {
		const items = 50
		calls := newCounter()
		var mu sync.Mutex
		byReplica := map[string]int{}
		replicas := []*Queue{}
		for _, name := range []string{"a", "b"} {
			ob := New(open(), Options{PollInterval: 5 * time.Millisecond, Concurrency: 4, BatchSize: 8})
			ob.Handle("mail", func(_ context.Context, p []byte) error {
				time.Sleep(2 * time.Millisecond)
				calls.add(p)
				mu.Lock()
				byReplica[name]++
				mu.Unlock()
				return nil
			})
			replicas = append(replicas, ob)
		}

		ctx, cancel := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		for _, ob := range replicas {
			wg.Go(func() { ob.Run(ctx) })
		}
		for i := range items {
			// Enqueue through both replicas, so both are poked.
			if err := replicas[i%2].Enqueue(t.Context(), nil, "mail", fmt.Appendf(nil, "item-%02d", i)); err != nil {
				t.Fatal(err)
			}
		}
		deadline := time.Now().Add(20 * time.Second)
		for len(calls.snapshot()) < items && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		// Give a duplicate every chance to show up, then stop both workers.
		time.Sleep(50 * time.Millisecond)
		cancel()
		wg.Wait()

		want := map[string]int{}
		for i := range items {
			want[fmt.Sprintf("item-%02d", i)] = 1
		}
		if diff := cmp.Diff(want, calls.snapshot()); diff != "" {
			t.Errorf("deliveries per item (-want +got):\n%s", diff)
		}
		if got := depth(t, replicas[0]); got != 0 {
			t.Errorf("Depth = %d, want 0", got)
		}
		t.Logf("deliveries by replica: %v", byReplica)
	})
}

// A worker that dies mid-send leaves its item locked; once the lease has
// expired another replica delivers it (at least once), and the dead
// worker's late outcome changes nothing.
func TestCrashedWorkerItemIsRedeliveredAfterLease(t *testing.T) {
	forEachDBPools(t, func(t *testing.T, open func() *gorm.DB) {
		clock := newFakeClock()
		const lease = time.Minute

		// Replica A: its handler hangs, as if the process had frozen or died
		// mid-send; it ignores ctx. A runs one Drain, so that nothing of A
		// is left to claim the item again, as after a real crash.
		a := New(open(), Options{Clock: clock.Now, Lease: lease})
		started := make(chan struct{})
		unblock := make(chan struct{})
		a.Handle("mail", func(context.Context, []byte) error {
			close(started)
			<-unblock
			return errors.New("connection reset")
		})
		// Replica B: healthy.
		gdbB := open()
		b := New(gdbB, Options{Clock: clock.Now, Lease: lease})
		calls := newCounter()
		b.Handle("mail", func(_ context.Context, p []byte) error { calls.add(p); return nil })

		if err := b.Enqueue(t.Context(), nil, "mail", []byte("code mail")); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { _ = a.Drain(ctx); close(done) }()
		t.Cleanup(func() {
			select {
			case <-unblock:
			default:
				close(unblock)
			}
			cancel()
			<-done
		})
		select {
		case <-started:
		case <-time.After(10 * time.Second):
			t.Fatal("replica A never claimed the item")
		}

		drain(t, b)
		if n := calls.get("code mail"); n != 0 {
			t.Fatalf("delivered %d times while A holds the lease, want 0", n)
		}
		clock.Advance(lease - time.Second)
		drain(t, b)
		if n := calls.get("code mail"); n != 0 {
			t.Fatalf("delivered %d times before the lease expired, want 0", n)
		}
		clock.Advance(2 * time.Second)
		drain(t, b)
		if n := calls.get("code mail"); n != 1 {
			t.Fatalf("delivered %d times after the lease expired, want 1", n)
		}

		// A wakes up and reports its failure: the done item stays done.
		close(unblock)
		cancel()
		<-done
		if it := only(t, gdbB); it.Status != db.OutboxDone || it.Attempts != 1 || it.LastError != "" {
			t.Errorf("item = %q attempts %d last_error %q; want done, 1, none", it.Status, it.Attempts, it.LastError)
		}
	})
}

// A worker stopped mid-send (ctx cancelled, the handler returns) releases
// its item at once, without counting an attempt.
func TestStoppedWorkerReleasesItem(t *testing.T) {
	forEachDB(t, func(t *testing.T, gdb *gorm.DB) {
		clock := newFakeClock()
		a := New(gdb, Options{Clock: clock.Now, PollInterval: 5 * time.Millisecond})
		started := make(chan struct{})
		a.Handle("mail", func(ctx context.Context, _ []byte) error {
			close(started)
			<-ctx.Done()
			return ctx.Err()
		})
		if err := a.Enqueue(t.Context(), nil, "mail", []byte("m")); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { a.Run(ctx); close(done) }()
		select {
		case <-started:
		case <-time.After(10 * time.Second):
			t.Fatal("worker never claimed the item")
		}
		cancel()
		<-done

		if it := only(t, gdb); it.Status != db.OutboxPending || it.Attempts != 0 || it.LockedUntil != nil {
			t.Fatalf("after stop: %q attempts %d locked %v; want pending, 0, unlocked", it.Status, it.Attempts, it.LockedUntil)
		}
		b := New(gdb, Options{Clock: clock.Now})
		calls := newCounter()
		b.Handle("mail", func(_ context.Context, p []byte) error { calls.add(p); return nil })
		drain(t, b)
		if n := calls.get("m"); n != 1 {
			t.Errorf("redelivered %d times, want 1", n)
		}
	})
}

func TestPurgeDeletesOldDoneItems(t *testing.T) {
	forEachDB(t, func(t *testing.T, gdb *gorm.DB) {
		clock := newFakeClock()
		ob := New(gdb, Options{Clock: clock.Now})
		ob.Handle("mail", func(context.Context, []byte) error { return nil })
		for _, k := range []string{"mail", "webhook"} {
			if err := ob.Enqueue(t.Context(), nil, k, []byte(k)); err != nil {
				t.Fatal(err)
			}
		}
		drain(t, ob)
		clock.Advance(48 * time.Hour)
		n, err := ob.Purge(t.Context(), 24*time.Hour)
		if err != nil || n != 1 {
			t.Fatalf("Purge = %d, %v; want 1, nil", n, err)
		}
		if it := only(t, gdb); it.Kind != "webhook" {
			t.Errorf("left %q, want the pending webhook", it.Kind)
		}
	})
}

func TestEnqueueRejects(t *testing.T) {
	gdb := openSQLite(t)
	ob := New(gdb, Options{})
	tests := []struct {
		name    string
		kind    string
		payload []byte
		wantErr string
	}{
		{name: "empty kind", kind: "", payload: []byte("x"), wantErr: "empty kind"},
		{name: "invalid UTF-8", kind: "mail", payload: []byte{0xff, 0xfe}, wantErr: "UTF-8"},
		{name: "NUL byte", kind: "mail", payload: []byte("a\x00b"), wantErr: "NUL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ob.Enqueue(t.Context(), nil, tc.kind, tc.payload)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Enqueue = %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
	if got := depth(t, ob); got != 0 {
		t.Errorf("Depth = %d, want 0", got)
	}
}

func TestDefaultBackoff(t *testing.T) {
	tests := []struct {
		attempt int
		base    time.Duration
	}{
		{attempt: 0, base: 2 * time.Second},
		{attempt: 1, base: 2 * time.Second},
		{attempt: 2, base: 4 * time.Second},
		{attempt: 5, base: 32 * time.Second},
		{attempt: 11, base: 2048 * time.Second},
		{attempt: 12, base: time.Hour},
		{attempt: 40, base: time.Hour},
		{attempt: 1 << 30, base: time.Hour},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.attempt), func(t *testing.T) {
			lo, hi := tc.base*8/10, tc.base*12/10
			seen := map[time.Duration]bool{}
			for range 200 {
				d := DefaultBackoff(tc.attempt)
				if d < lo || d > hi {
					t.Fatalf("DefaultBackoff(%d) = %v, want within [%v, %v]", tc.attempt, d, lo, hi)
				}
				seen[d] = true
			}
			if len(seen) < 2 {
				t.Errorf("DefaultBackoff(%d) has no jitter", tc.attempt)
			}
		})
	}
}

func TestPermanent(t *testing.T) {
	base := errors.New("bad")
	err := fmt.Errorf("wrapped: %w", Permanent(base))
	if !IsPermanent(err) || !errors.Is(err, base) || err.Error() != "wrapped: bad" {
		t.Errorf("Permanent wrapping broken: %v", err)
	}
	if IsPermanent(base) || Permanent(nil) != nil {
		t.Error("IsPermanent(plain) or Permanent(nil) wrong")
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
