package app_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/cmd/gatehouse/app"
	"gatehouse/config"
	"gatehouse/gateway"
	"gatehouse/gateway/db"
	"gatehouse/gateway/db/dbtest"
	"gatehouse/gateway/events"
	"gatehouse/gateway/gatewaytest"
	"gatehouse/plugins/audit"
	"gatehouse/plugins/webhooks"
)

// hookSecret is the endpoints' whsec secret (32 bytes).
var hookSecret = "whsec_" + base64.StdEncoding.EncodeToString([]byte("gatehouse-webhook-test-key-32byt"))

// delivery is one request a receiver saw.
type delivery struct {
	ID, Timestamp string
	// Verified: the Standard Webhooks signature checked out.
	Verified bool
	Body     map[string]any
}

// hookReceiver is a webhook endpoint that verifies signatures as a
// receiver would. respond picks each answer's status (n counts requests
// from 1); nil answers 204.
type hookReceiver struct {
	*httptest.Server
	key     []byte
	mu      sync.Mutex
	got     []delivery
	respond func(n int, r *http.Request) int
}

func newHookReceiver(t *testing.T, respond func(n int, r *http.Request) int) *hookReceiver {
	t.Helper()
	key, err := webhooks.DecodeSecret(hookSecret)
	if err != nil {
		t.Fatal(err)
	}
	h := &hookReceiver{key: key, respond: respond}
	h.Server = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.Close)
	return h
}

func (h *hookReceiver) serve(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	d := delivery{ID: r.Header.Get("webhook-id"), Timestamp: r.Header.Get("webhook-timestamp")}
	d.Verified = r.Method == http.MethodPost && r.Header.Get("Content-Type") == "application/json" &&
		verifyWebhook(h.key, r.Header, raw, time.Now()) == nil
	_ = json.Unmarshal(raw, &d.Body)
	h.mu.Lock()
	h.got = append(h.got, d)
	n := len(h.got)
	h.mu.Unlock()
	status := http.StatusNoContent
	if h.respond != nil {
		status = h.respond(n, r)
	}
	w.WriteHeader(status)
}

func (h *hookReceiver) deliveries() []delivery {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]delivery(nil), h.got...)
}

// ofType lists the deliveries of one event type.
func (h *hookReceiver) ofType(typ string) []delivery {
	var out []delivery
	for _, d := range h.deliveries() {
		if d.Body["type"] == typ {
			out = append(out, d)
		}
	}
	return out
}

// verifyWebhook is what a receiver does (docs/webhooks.md): recompute the
// HMAC over id.timestamp.body, compare it with each v1 signature in
// constant time, and refuse timestamps more than 5 minutes away.
func verifyWebhook(key []byte, h http.Header, body []byte, now time.Time) error {
	id, ts := h.Get("webhook-id"), h.Get("webhook-timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || id == "" {
		return errors.New("missing webhook-id or webhook-timestamp")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return errors.New("timestamp too far from now")
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + ts + "."))
	m.Write(body)
	want := m.Sum(nil)
	for _, sig := range strings.Fields(h.Get("webhook-signature")) {
		v, b64, ok := strings.Cut(sig, ",")
		got, err := base64.StdEncoding.DecodeString(b64)
		if ok && v == "v1" && err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return errors.New("no valid signature")
}

// waitFor polls cond until it holds or 20 s have passed.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// hook is a webhooks entry for url.
func hook(url string, events ...string) config.Webhook {
	return config.Webhook{URL: url, Events: events, Secret: config.NewSecret(hookSecret)}
}

// hookConfig is a config without email verification (registering signs
// in) and with the webhooks given. sqlite names the database file of the
// embedded backend ("" = a new one).
func hookConfig(t *testing.T, backend, sqlite string, hooks ...config.Webhook) *config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.Secret = config.NewSecret("webhook-test-secret-" + strings.Repeat("y", 40))
	if sqlite == "" {
		sqlite = filepath.Join(t.TempDir(), "gh.db")
	}
	cfg.Database.Driver, cfg.Database.DSN = "sqlite", config.NewSecret("file:"+sqlite)
	if backend == "real" {
		cfg.Database.Driver, cfg.Database.DSN = "postgres", config.NewSecret(dbtest.PostgresDSN(t))
		cfg.Redis.URL = config.NewSecret(gatewaytest.RedisURL(t))
	}
	cfg.Mail.Driver = "log"
	cfg.Accounts.RequireEmailVerification = false
	cfg.Accounts.Password.Argon2 = config.Argon2{Memory: 8 * 1024, Iterations: 1, Parallelism: 1}
	u, _ := config.ParseURL(startUpstream(t))
	cfg.Routes = []config.Route{{Name: "app", Path: "/app", Upstream: u, Auth: "required", Timeout: config.Duration(5 * time.Second)}}
	cfg.Webhooks = hooks
	return cfg
}

// hookRegistry is the registry of the webhook tests: the webhooks plugin
// (allowed to reach the test receivers on loopback when allowPrivate, as
// cmd/gatehouse registers it with GATEHOUSE_WEBHOOKS_ALLOW_PRIVATE=1) and
// plugins.
func hookRegistry(t *testing.T, allowPrivate bool, plugins ...gateway.PluginInfo) *gateway.Registry {
	t.Helper()
	hooks := webhooks.Info()
	if allowPrivate {
		hooks = webhooks.InfoAllowPrivate()
	}
	return testRegistry(t, append([]gateway.PluginInfo{hooks}, plugins...))
}

// startHookApp builds and starts an app on a real listener; stop (also
// run at cleanup, once) shuts it down the way the server does.
func startHookApp(t *testing.T, cfg *config.Config, reg *gateway.Registry, o app.Options) (*stack, func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	cfg.Server.PublicURL, _ = config.ParseURL(base)
	cfg.Server.Listen = ln.Addr().String()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.Build(ctx, cfg, reg, slog.New(slog.DiscardHandler), withPasswords(t, cfg, o))
	if err != nil {
		cancel()
		_ = ln.Close()
		t.Fatal(err)
	}
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	go func() { _ = a.Server.Serve(ln) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			_ = a.Server.Shutdown(context.Background())
			cancel()
			a.Close()
		})
	}
	t.Cleanup(stop)
	return &stack{t: t, App: a, Base: base, seen: map[string]int{}}, stop
}

// outboxItems are the outbox rows of a top-level endpoint.
func outboxItems(t *testing.T, s *stack, endpoint string) []db.OutboxItem {
	t.Helper()
	var items []db.OutboxItem
	if err := s.App.DB.Where("kind = ?", db.OutboxEvent+":"+webhooks.SinkID(endpoint)).Order("created_at").Find(&items).Error; err != nil {
		t.Fatal(err)
	}
	return items
}

func TestWebhookDelivery(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		created := newHookReceiver(t, nil)
		deleted := newHookReceiver(t, nil)
		cfg := hookConfig(t, backend, "",
			hook(created.URL+"/hooks?source=gatehouse", "user.created", "user.login"),
			hook(deleted.URL, "user.deleted"))
		s, _ := startHookApp(t, cfg, hookRegistry(t, true), app.Options{})

		// Sign-up: user.created (and user.login: registering signs in).
		admin := s.client()
		email := uniqueEmail("hooked")
		r := admin.post("/auth/register", map[string]any{"email": email, "password": pw, "name": "Ada"})
		expect(t, r, 201, "")
		id := r.str("user.id")
		waitFor(t, "user.created", func() bool { return len(created.ofType("user.created")) == 1 })
		waitFor(t, "user.login", func() bool { return len(created.ofType("user.login")) == 1 })
		d := created.ofType("user.created")[0]
		if !d.Verified {
			t.Fatalf("user.created: the signature does not verify: %+v", d)
		}
		data, _ := d.Body["data"].(map[string]any)
		if data["user_id"] != id || data["email"] != email || data["role"] != "admin" || data["email_verified"] != true {
			t.Fatalf("user.created payload: %v", d.Body)
		}
		ts, err := time.Parse(time.RFC3339Nano, fmt.Sprint(d.Body["timestamp"]))
		if err != nil || time.Since(ts) > time.Minute || len(d.Body) != 3 {
			t.Fatalf("payload %v: want exactly type, timestamp (RFC 3339) and data", d.Body)
		}
		// webhook-id is the event's id: its audit record's.
		audit := admin.list(t, "/auth/admin/audit", q("filter", jsonStr(map[string]any{"type": "user.created", "subject_id": id})))
		if audit.Total != 1 || audit.field("id")[0] != d.ID {
			t.Fatalf("webhook-id %q, audit record %s", d.ID, audit.Body)
		}
		login := created.ofType("user.login")[0]
		if ld, _ := login.Body["data"].(map[string]any); !login.Verified || ld["method"] != "password" || ld["user_id"] != id {
			t.Fatalf("user.login: %+v", login)
		}

		// An admin creates and deletes a user: user.created to the first
		// endpoint, user.deleted (no personal data) to the second only.
		r = admin.post("/auth/admin/users", map[string]any{"email": uniqueEmail("shortlived")})
		expect(t, r, 201, "")
		gone := r.str("id")
		expect(t, admin.do("DELETE", "/auth/admin/users/"+gone, nil), 204, "")
		waitFor(t, "user.deleted", func() bool { return len(deleted.deliveries()) == 1 })
		waitFor(t, "the second user.created", func() bool { return len(created.ofType("user.created")) == 2 })
		del := deleted.deliveries()[0]
		dd, _ := del.Body["data"].(map[string]any)
		if !del.Verified || del.Body["type"] != "user.deleted" || dd["user_id"] != gone || dd["actor_id"] != id || dd["email"] != nil {
			t.Fatalf("user.deleted: %+v", del)
		}
		// Filters hold: nothing else reached either endpoint.
		time.Sleep(300 * time.Millisecond)
		if n := len(deleted.deliveries()); n != 1 {
			t.Fatalf("the user.deleted endpoint got %d deliveries", n)
		}
		for _, d := range created.deliveries() {
			if typ := d.Body["type"]; typ != "user.created" && typ != "user.login" {
				t.Fatalf("the first endpoint got %v", typ)
			}
		}
		// Every item is done, with nothing left to retry.
		for _, it := range append(outboxItems(t, s, created.URL+"/hooks?source=gatehouse"), outboxItems(t, s, deleted.URL)...) {
			if it.Status != db.OutboxDone {
				t.Fatalf("outbox item %s: %s after %d attempts (%s)", it.ID, it.Status, it.Attempts, it.LastError)
			}
		}
	})
}

func TestWebhookRetries(t *testing.T) {
	// Fails twice, then answers 200.
	flaky := newHookReceiver(t, func(n int, _ *http.Request) int {
		if n <= 2 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	gone := newHookReceiver(t, func(int, *http.Request) int { return http.StatusGone })
	cfg := hookConfig(t, "embedded", "", hook(flaky.URL, "user.created"), hook(gone.URL, "user.created"))
	s, _ := startHookApp(t, cfg, hookRegistry(t, true), app.Options{
		OutboxBackoff: func(int) time.Duration { return 10 * time.Millisecond }})

	expect(t, s.client().post("/auth/register", map[string]any{"email": uniqueEmail("retry"), "password": pw}), 201, "")
	waitFor(t, "the third attempt", func() bool { return len(flaky.deliveries()) == 3 })
	got := flaky.deliveries()
	for i, d := range got {
		if !d.Verified || d.ID != got[0].ID || d.Body["type"] != "user.created" {
			t.Fatalf("attempt %d: %+v (first id %s)", i+1, d, got[0].ID)
		}
	}
	// Registering also signs in: the user.login item is done at once (the
	// endpoints do not subscribe to it); user.created is the first item.
	waitFor(t, "the items done", func() bool {
		items := outboxItems(t, s, flaky.URL)
		return len(items) == 2 && items[0].Status == db.OutboxDone && items[1].Status == db.OutboxDone
	})
	if it := outboxItems(t, s, flaky.URL)[0]; it.Attempts != 3 {
		t.Fatalf("attempts %d, want 3", it.Attempts)
	}
	// 410 Gone: dead at once, never retried.
	waitFor(t, "the 410 item dead", func() bool {
		items := outboxItems(t, s, gone.URL)
		return len(items) == 2 && items[0].Status == db.OutboxDead
	})
	it := outboxItems(t, s, gone.URL)[0]
	if it.Attempts != 1 || !strings.Contains(it.LastError, "410") || strings.Contains(it.LastError, hookSecret) {
		t.Fatalf("410 item: %d attempts, last error %q", it.Attempts, it.LastError)
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(gone.deliveries()); n != 1 {
		t.Fatalf("a 410 endpoint was tried %d times", n)
	}
	if n := len(flaky.deliveries()); n != 3 {
		t.Fatalf("a delivered item was tried again: %d attempts", n)
	}
}

// TestWebhookSurvivesRestart stops Gatehouse while the receiver holds a
// delivery open; a new Gatehouse on the same database delivers it.
func TestWebhookSurvivesRestart(t *testing.T) {
	holding := make(chan struct{}, 1)
	var block sync.Mutex
	blocking := true
	recv := newHookReceiver(t, func(n int, r *http.Request) int {
		block.Lock()
		b := blocking
		block.Unlock()
		if !b {
			return http.StatusOK
		}
		holding <- struct{}{}
		<-r.Context().Done() // until Gatehouse hangs up
		return http.StatusServiceUnavailable
	})
	file := filepath.Join(t.TempDir(), "shared.db")
	cfg := hookConfig(t, "embedded", file, hook(recv.URL, "user.created"))
	first, stop := startHookApp(t, cfg, hookRegistry(t, true), app.Options{})

	// Enqueue: an event committed with its outbox item.
	err := first.App.Events.Emit(t.Context(), nil, events.Record{Type: events.UserCreated, SubjectID: "u-restart",
		Email: "restart@example.com", Data: map[string]any{"role": "user"}})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-holding:
	case <-time.After(20 * time.Second):
		t.Fatal("the delivery never started")
	}
	stop() // mid-send
	block.Lock()
	blocking = false
	block.Unlock()

	// Not delivered, not lost: pending, and the interrupted try not counted.
	gdb, err := db.Open(t.Context(), db.Options{Driver: "sqlite", DSN: "file:" + file})
	if err != nil {
		t.Fatal(err)
	}
	var items []db.OutboxItem
	if err := gdb.Where("kind = ?", db.OutboxEvent+":"+webhooks.SinkID(recv.URL)).Find(&items).Error; err != nil {
		t.Fatal(err)
	}
	_ = db.Close(gdb)
	if len(items) != 1 || items[0].Status != db.OutboxPending || items[0].Attempts != 0 {
		t.Fatalf("after the stop: %+v", items)
	}

	cfg2 := hookConfig(t, "embedded", file, hook(recv.URL, "user.created"))
	second, _ := startHookApp(t, cfg2, hookRegistry(t, true), app.Options{})
	waitFor(t, "the delivery after the restart", func() bool {
		items := outboxItems(t, second, recv.URL)
		return len(items) == 1 && items[0].Status == db.OutboxDone
	})
	got := recv.deliveries()
	if len(got) != 2 || got[0].ID != got[1].ID || !got[1].Verified {
		t.Fatalf("deliveries: %+v", got)
	}
	if data, _ := got[1].Body["data"].(map[string]any); data["user_id"] != "u-restart" || data["email"] != "restart@example.com" {
		t.Fatalf("payload after the restart: %v", got[1].Body)
	}
}

func TestWebhookSSRFGuard(t *testing.T) {
	recv := newHookReceiver(t, nil)
	port := recv.Listener.Addr().(*net.TCPAddr).Port

	// A literal loopback address is refused at start.
	cfg := hookConfig(t, "embedded", "", hook(recv.URL, "user.created"))
	cfg.Server.PublicURL, _ = config.ParseURL("http://127.0.0.1:1")
	_, err := app.Build(t.Context(), cfg, hookRegistry(t, false), slog.New(slog.DiscardHandler), withPasswords(t, cfg, app.Options{}))
	if err == nil || !strings.Contains(err.Error(), "webhooks[0] (webhooks).options: url: 127.0.0.1 is a loopback address") {
		t.Fatalf("Build with a loopback webhook: %v", err)
	}

	// A name that resolves to loopback passes the start, and is refused
	// when dialled: the item goes dead without reaching the receiver.
	byName := fmt.Sprintf("http://localhost:%d/hook", port)
	s, _ := startHookApp(t, hookConfig(t, "embedded", "", hook(byName, "user.created")), hookRegistry(t, false), app.Options{})
	expect(t, s.client().post("/auth/register", map[string]any{"email": uniqueEmail("ssrf"), "password": pw}), 201, "")
	waitFor(t, "the refused item dead", func() bool {
		items := outboxItems(t, s, byName)
		return len(items) == 2 && items[0].Status == db.OutboxDead // then user.login, not subscribed
	})
	if it := outboxItems(t, s, byName)[0]; it.Attempts != 1 || !strings.Contains(it.LastError, "loopback") {
		t.Fatalf("refused item: %d attempts, %q", it.Attempts, it.LastError)
	}
	if n := len(recv.deliveries()); n != 0 {
		t.Fatalf("the receiver got %d deliveries", n)
	}

	// The operator's switch (GATEHOUSE_WEBHOOKS_ALLOW_PRIVATE=1, read by
	// cmd/gatehouse, which then registers InfoAllowPrivate) allows it.
	s, _ = startHookApp(t, hookConfig(t, "embedded", "", hook(recv.URL, "user.created")), hookRegistry(t, true), app.Options{})
	expect(t, s.client().post("/auth/register", map[string]any{"email": uniqueEmail("allowed"), "password": pw}), 201, "")
	waitFor(t, "the allowed delivery", func() bool { return len(recv.deliveries()) == 1 })
	if d := recv.deliveries()[0]; !d.Verified {
		t.Fatalf("delivery: %+v", d)
	}
}

// TestWebhookPluginInstance: an endpoint declared as a plugin instance is
// an event sink of its own, next to the audit plugin's.
func TestWebhookPluginInstance(t *testing.T) {
	recv := newHookReceiver(t, nil)
	reg := hookRegistry(t, false, audit.Info())
	opts, err := gatewaytest.OptionsNode(fmt.Sprintf(`{url: "%s/crm", events: [user.created], secret: "%s", allow_private: true}`, recv.URL, hookSecret))
	if err != nil {
		t.Fatal(err)
	}
	auditOpts, _ := gatewaytest.OptionsNode("{retention: 2160h, log: true}")
	cfg := hookConfig(t, "embedded", "")
	cfg.Plugins = []config.PluginSpec{{Name: "webhooks", ID: "crm", Options: opts, Path: "plugins[0]"},
		{Name: "audit", Options: auditOpts, Path: "plugins[1]"}}
	s, _ := startHookApp(t, cfg, reg, app.Options{})
	expect(t, s.client().post("/auth/register", map[string]any{"email": uniqueEmail("plugin"), "password": pw}), 201, "")
	waitFor(t, "the plugin's delivery", func() bool { return len(recv.ofType("user.created")) == 1 })
	if d := recv.ofType("user.created")[0]; !d.Verified {
		t.Fatalf("delivery: %+v", d)
	}
	// Its outbox items are its own (kind event:crm), done; the audit
	// sink's too.
	for _, kind := range []string{"event:crm", "event:audit"} {
		waitFor(t, kind+" items done", func() bool {
			var items []db.OutboxItem
			if err := s.App.DB.Where("kind = ?", kind).Find(&items).Error; err != nil {
				t.Fatal(err)
			}
			for _, it := range items {
				if it.Status != db.OutboxDone {
					return false
				}
			}
			return len(items) == 2 // user.created and user.login
		})
	}
}

// TestWebhookQueuedByTools: the CLI's tools (NoServer) deliver nothing,
// but the events they emit are queued for the top-level endpoints.
func TestWebhookQueuedByTools(t *testing.T) {
	cfg := hookConfig(t, "embedded", "", hook("https://hooks.example.com/h", "user.created"))
	cfg.Server.PublicURL, _ = config.ParseURL("http://127.0.0.1:1")
	a, err := app.Build(t.Context(), cfg, hookRegistry(t, false), slog.New(slog.DiscardHandler), withPasswords(t, cfg, app.Options{NoServer: true}))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.Events.Emit(t.Context(), nil, events.Record{Type: events.UserCreated, SubjectID: "u-cli", Email: "cli@example.com"}); err != nil {
		t.Fatal(err)
	}
	var n int64
	kind := db.OutboxEvent + ":" + webhooks.SinkID("https://hooks.example.com/h")
	if err := a.DB.Model(&db.OutboxItem{}).Where("kind = ?", kind).Count(&n).Error; err != nil || n != 1 {
		t.Fatalf("%d items of kind %s (%v), want 1", n, kind, err)
	}
}
