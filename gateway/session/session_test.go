package session

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gatehouse/gateway/store"
)

func TestStoreMemory(t *testing.T) {
	runStoreSuite(t, memoryKV())
}

func TestStoreRedis(t *testing.T) {
	redisKV(t) // skip (or fail in CI) at once when there is no Redis
	runStoreSuite(t, func(t *testing.T) store.KV { return redisKV(t) })
}

func TestTokenRedacted(t *testing.T) {
	tok, err := newToken()
	if err != nil {
		t.Fatal(err)
	}
	type wrapper struct{ T Token }
	for _, got := range []string{
		tok.String(),
		fmt.Sprint(tok), fmt.Sprintf("%s|%v|%q|%x|%#v|%d", tok, tok, tok, tok, tok, tok),
		fmt.Sprintf("%+v %#v", wrapper{tok}, wrapper{tok}),
	} {
		if strings.Contains(got, string(tok)) || !strings.Contains(got, redacted) {
			t.Errorf("formatted token = %q; want only %q", got, redacted)
		}
	}
	js, err := json.Marshal(wrapper{tok})
	if err != nil || strings.Contains(string(js), string(tok)) {
		t.Errorf("json of a token = %s, %v", js, err)
	}
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("login", "token", tok, "group", slog.GroupValue(slog.Any("t", tok)), "nested", wrapper{tok})
	if strings.Contains(buf.String(), string(tok)) || !strings.Contains(buf.String(), redacted) {
		t.Errorf("slog output %s shows the token", buf.String())
	}
}

func TestNewPanicsOnShortSecret(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("New with a 31-byte secret did not panic")
		}
	}()
	New(store.NewMemory(store.WithSweepInterval(0)), Options{Secret: testSecret[:31]})
}

func TestOptionsDefaults(t *testing.T) {
	o := Options{Secret: testSecret}.withDefaults()
	want := []any{DefaultIdleTimeout, DefaultMaxLifetime, DefaultTouchEvery, DefaultCacheSize, DefaultCacheTTL, DefaultHeartbeatEvery}
	got := []any{o.IdleTimeout, o.MaxLifetime, o.TouchEvery, o.CacheSize, o.CacheTTL, o.HeartbeatEvery}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("defaults (-want +got):\n%s", d)
	}
	if o.Clock == nil || o.Logger == nil {
		t.Error("Clock or Logger not defaulted")
	}
	if o := (Options{IdleTimeout: time.Minute}).withDefaults(); o.TouchEvery != 30*time.Second {
		t.Errorf("TouchEvery with a 1m idle timeout = %v, want 30s", o.TouchEvery)
	}
}

func TestIDIsKeyedAndStable(t *testing.T) {
	kv := store.NewMemory(store.WithSweepInterval(0))
	a, b := New(kv, Options{Secret: testSecret}), New(kv, Options{Secret: testSecret})
	other := New(kv, Options{Secret: bytes.Repeat([]byte{'z'}, 32)})
	tok, _ := newToken()
	if a.ID(tok) != b.ID(tok) || len(a.ID(tok)) != idLen || !validID(a.ID(tok)) {
		t.Errorf("ID not stable or malformed: %q %q", a.ID(tok), b.ID(tok))
	}
	if a.ID(tok) == other.ID(tok) {
		t.Error("ID does not depend on the secret")
	}
}

// TestCacheGeneration: a Record read before an invalidation of its shard
// is not cached after it; claimTouch claims once per interval.
func TestCacheGeneration(t *testing.T) {
	c := newCache(100, time.Minute)
	id := strings.Repeat("a", idLen)
	rec := Record{ID: id, Role: "user", LastSeenAt: time.Unix(100, 0)}
	on := func() bool { return true }
	sh := c.shard([]byte(id))

	_, gen, _ := sh.get([]byte(id), 0)
	c.drop(id) // the invalidation arrives while the KV read is in flight
	c.put(sh, rec, gen, 0, on)
	if _, _, ok := sh.get([]byte(id), 0); ok {
		t.Fatal("a Record read before a drop was cached")
	}
	_, gen, _ = sh.get([]byte(id), 0)
	c.put(sh, rec, gen, 0, func() bool { return false })
	if _, _, ok := sh.get([]byte(id), 0); ok {
		t.Fatal("cached while the subscription was not usable")
	}
	c.put(sh, rec, gen, 0, on)
	got, gen, ok := sh.get([]byte(id), 0)
	if !ok || got.Role != "user" {
		t.Fatal("not cached")
	}
	if _, _, ok := sh.get([]byte(id), int64(time.Minute)); ok {
		t.Error("entry trusted after CacheTTL")
	}
	touch := got
	touch.LastSeenAt = got.LastSeenAt.Add(time.Minute)
	if !sh.claimTouch([]byte(id), gen, &touch, time.Minute) {
		t.Error("first claim refused")
	}
	if sh.claimTouch([]byte(id), gen, &touch, time.Minute) {
		t.Error("second claim in the same interval granted")
	}
	c.clear()
	if c.len() != 0 {
		t.Error("clear left entries")
	}
}

func TestMessages(t *testing.T) {
	tests := []struct {
		name    string
		msg     string
		ok      bool
		peer    string
		seq     uint64
		wantIDs string
	}{
		{name: "heartbeat", msg: "g1 peerA 7", ok: true, peer: "peerA", seq: 7},
		{name: "ids", msg: "g1 p 0 id1 id2", ok: true, peer: "p", seq: 0, wantIDs: "id1 id2"},
		{name: "other_version", msg: "g2 p 1 x"},
		{name: "no_seq", msg: "g1 p"},
		{name: "bad_seq", msg: "g1 p -1 x"},
		{name: "empty", msg: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			peer, seq, ids, ok := parseMessage([]byte(tc.msg))
			if ok != tc.ok || ok && (string(peer) != tc.peer || seq != tc.seq || string(ids) != tc.wantIDs) {
				t.Errorf("parseMessage(%q) = %q, %d, %q, %v", tc.msg, peer, seq, ids, ok)
			}
		})
	}
	msg := appendIDs(appendHeader(nil, "me", 42), []string{"a", "b"})
	if string(msg) != "g1 me 42 a b" {
		t.Errorf("message = %q", msg)
	}
}

// BenchmarkGetCached is the hot path: a started Store answering from its
// cache (HMAC of the token, one shard lookup, no round trip).
func BenchmarkGetCached(b *testing.B) {
	st, tok := benchStore(b, true)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := st.Get(b.Context(), tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGetCachedParallel is BenchmarkGetCached from every core.
func BenchmarkGetCachedParallel(b *testing.B) {
	st, tok := benchStore(b, true)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := st.Get(b.Context(), tok); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkGetUncached is Get with the cache bypassed (never started): an
// MGET and a JSON decode on the in-process store.
func BenchmarkGetUncached(b *testing.B) {
	st, tok := benchStore(b, false)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := st.Get(b.Context(), tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGetRedis compares a cache hit and a bypassed Get on the test
// Redis (a real round trip).
func BenchmarkGetRedis(b *testing.B) {
	for _, start := range []bool{true, false} {
		b.Run(fmt.Sprintf("cached=%v", start), func(b *testing.B) {
			kv := redisKV(b)
			st := New(kv, Options{Secret: testSecret})
			if start {
				if err := st.Start(b.Context()); err != nil {
					b.Fatal(err)
				}
			}
			tok, _, err := st.Create(b.Context(), Record{UserID: "bench-" + randomString(6), Role: "user"})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := st.Get(b.Context(), tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchStore is a Store on a Memory with one session.
func benchStore(b *testing.B, start bool) (*Store, Token) {
	kv := store.NewMemory()
	b.Cleanup(func() { _ = kv.Close() })
	st := New(kv, Options{Secret: testSecret})
	if start {
		if err := st.Start(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
	tok, _, err := st.Create(b.Context(), Record{
		UserID: "bench", Email: "bench@example.com", Username: "bench", Name: "Bench Mark",
		Role: "user", EmailVerified: true, Method: "password", WorkspaceID: "ws", WorkspaceRole: "member",
		IP: "192.0.2.1", UserAgent: "bench/1.0",
	})
	if err != nil {
		b.Fatal(err)
	}
	return st, tok
}

// TestGetByID: a session is found by its public id as by its token, and
// not after it ends.
func TestGetByID(t *testing.T) {
	ctx := t.Context()
	st := New(store.NewMemory(), Options{Secret: testSecret})
	tok, rec, err := st.Create(ctx, Record{UserID: "u1", Email: "a@example.com", Role: "user"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := st.GetByID(ctx, rec.ID)
	if err != nil || got.UserID != "u1" || got.ID != rec.ID {
		t.Fatalf("GetByID = %+v, %v", got, err)
	}
	for _, bad := range []string{"", "short", rec.ID + "x", string(tok)} {
		if _, err := st.GetByID(ctx, bad); err != ErrNotFound {
			t.Errorf("GetByID(%q) = %v, want ErrNotFound", bad, err)
		}
	}
	if err := st.Delete(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetByID(ctx, rec.ID); err != ErrNotFound {
		t.Fatalf("after Delete: %v", err)
	}
}
