package ratelimit

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"gatehouse/gateway"
	"gatehouse/gateway/gatewaytest"
	"gatehouse/gateway/store"
)

func TestPluginContract(t *testing.T) {
	gatewaytest.RunPluginContract(t, Info(),
		`{per: user, rate: 100/m, burst: 20}`,
		`rate: 10/s`,
		`{per: nope, rate: "", burst: 0}`)
}

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// frozenLimiter is an in-process limiter whose clock stands still, so the
// RateLimit-Reset values are exact.
func frozenLimiter(t *testing.T) store.Limiter {
	t.Helper()
	m := store.NewMemory(store.WithClock(func() time.Time { return t0 }), store.WithSweepInterval(0))
	t.Cleanup(func() { _ = m.Close() })
	return m.Limiter()
}

// identityStub records the caller named by the X-Test-User and
// X-Test-Workspace headers, standing in for the auth step.
type identityStub struct{}

func (identityStub) Provision(context.Context, *gateway.Host) error { return nil }

func (identityStub) Handle(c *fiber.Ctx) error {
	if u := c.Get("X-Test-User"); u != "" {
		gateway.SetIdentity(c, gateway.Identity{UserID: u, WorkspaceID: c.Get("X-Test-Workspace")})
	}
	return c.Next()
}

// newApp is a Fiber app with the engine's RequestContext (trusting the test
// peer, so X-Forwarded-For sets the client address), the identity stub
// and one ratelimit instance, answering "ok".
func newApp(t *testing.T, options string, h *gateway.Host) *fiber.App {
	t.Helper()
	if h == nil {
		h = &gateway.Host{Limiter: frozenLimiter(t)}
	}
	p := gatewaytest.ProvisionPlugin(t, Info(), options, h)
	app := gatewaytest.NewPluginApp(t, gatewaytest.TrustTestPeer(), identityStub{}, p)
	app.Get("/*", func(c *fiber.Ctx) error { return c.SendString("ok") })
	return app
}

// caller is who sends a test request.
type caller struct {
	ip, user, workspace string
}

func get(t *testing.T, app *fiber.App, who caller) gatewaytest.Result {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	if who.ip != "" {
		req.Header.Set("X-Forwarded-For", who.ip)
	}
	if who.user != "" {
		req.Header.Set("X-Test-User", who.user)
	}
	if who.workspace != "" {
		req.Header.Set("X-Test-Workspace", who.workspace)
	}
	return gatewaytest.Do(t, app, req)
}

// answer is what the tests compare of a response.
type answer struct {
	Status                  int
	Limit, Remaining, Reset string
	RetryAfter              string
	Body                    string
}

func answerOf(r gatewaytest.Result) answer {
	return answer{
		Status:     r.Status,
		Limit:      r.Header.Get("RateLimit-Limit"),
		Remaining:  r.Header.Get("RateLimit-Remaining"),
		Reset:      r.Header.Get("RateLimit-Reset"),
		RetryAfter: r.Header.Get("Retry-After"),
		Body:       r.Body,
	}
}

const refusedBody = `{"code":"rate_limited","message":"too many requests, try again later","retry_after":12}`

func TestBurstThenRefused(t *testing.T) {
	app := newApp(t, "rate: 5/m", nil) // one every 12s, a burst of 5
	who := caller{ip: "192.0.2.1"}
	var got []answer
	for range 7 {
		got = append(got, answerOf(get(t, app, who)))
	}
	want := []answer{
		{Status: 200, Limit: "5", Remaining: "4", Reset: "12", Body: "ok"},
		{Status: 200, Limit: "5", Remaining: "3", Reset: "24", Body: "ok"},
		{Status: 200, Limit: "5", Remaining: "2", Reset: "36", Body: "ok"},
		{Status: 200, Limit: "5", Remaining: "1", Reset: "48", Body: "ok"},
		{Status: 200, Limit: "5", Remaining: "0", Reset: "60", Body: "ok"},
		{Status: 429, Limit: "5", Remaining: "0", Reset: "60", RetryAfter: "12", Body: refusedBody},
		{Status: 429, Limit: "5", Remaining: "0", Reset: "60", RetryAfter: "12", Body: refusedBody},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("answers (-want +got):\n%s", d)
	}
}

func TestBurstOption(t *testing.T) {
	app := newApp(t, "{rate: 60/m, burst: 2}", nil) // one a second, two at once
	who := caller{ip: "192.0.2.1"}
	var got []answer
	for range 3 {
		got = append(got, answerOf(get(t, app, who)))
	}
	want := []answer{
		{Status: 200, Limit: "2", Remaining: "1", Reset: "1", Body: "ok"},
		{Status: 200, Limit: "2", Remaining: "0", Reset: "2", Body: "ok"},
		{Status: 429, Limit: "2", Remaining: "0", Reset: "2", RetryAfter: "1",
			Body: `{"code":"rate_limited","message":"too many requests, try again later","retry_after":1}`},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("answers (-want +got):\n%s", d)
	}
}

// The proxy replaces the whole response; the headers are set after it.
func TestHeadersSurviveTheUpstream(t *testing.T) {
	p := gatewaytest.ProvisionPlugin(t, Info(), "rate: 5/m", &gateway.Host{Limiter: frozenLimiter(t)})
	app := gatewaytest.NewPluginApp(t, nil, p)
	app.Get("/replaced", func(c *fiber.Ctx) error {
		c.Response().Reset()
		return c.SendString("upstream")
	})
	app.Get("/missing", func(c *fiber.Ctx) error { return gateway.NotFound() })

	got := []answer{
		answerOf(gatewaytest.Do(t, app, httptest.NewRequest(http.MethodGet, "/replaced", nil))),
		answerOf(gatewaytest.Do(t, app, httptest.NewRequest(http.MethodGet, "/missing", nil))),
	}
	want := []answer{
		{Status: 200, Limit: "5", Remaining: "4", Reset: "12", Body: "upstream"},
		{Status: 404, Limit: "5", Remaining: "3", Reset: "24", Body: `{"code":"not_found","message":"not found"}`},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("answers (-want +got):\n%s", d)
	}
}

func TestPer(t *testing.T) {
	type step struct {
		who        caller
		wantStatus int
	}
	tests := []struct {
		name    string
		options string // each with a burst of 1
		steps   []step
	}{
		{
			name:    "ip separates addresses",
			options: "{per: ip, rate: 1/m}",
			steps: []step{
				{who: caller{ip: "198.51.100.1"}, wantStatus: 200},
				{who: caller{ip: "198.51.100.1"}, wantStatus: 429},
				{who: caller{ip: "198.51.100.2"}, wantStatus: 200},
				{who: caller{ip: "198.51.100.1", user: "u1"}, wantStatus: 429}, // users do not matter
			},
		},
		{
			name:    "ip is the default",
			options: "rate: 1/m",
			steps: []step{
				{who: caller{ip: "198.51.100.1", user: "u1"}, wantStatus: 200},
				{who: caller{ip: "198.51.100.1", user: "u2"}, wantStatus: 429},
			},
		},
		{
			name:    "ipv6 counts per /64",
			options: "rate: 1/m",
			steps: []step{
				{who: caller{ip: "2001:db8::1"}, wantStatus: 200},
				{who: caller{ip: "2001:db8::ffff:2"}, wantStatus: 429},
				{who: caller{ip: "2001:db8:0:1::1"}, wantStatus: 200},
			},
		},
		{
			name:    "user separates users",
			options: "{per: user, rate: 1/m}",
			steps: []step{
				{who: caller{ip: "198.51.100.1", user: "u1"}, wantStatus: 200},
				{who: caller{ip: "198.51.100.2", user: "u1"}, wantStatus: 429}, // same user, other address
				{who: caller{ip: "198.51.100.1", user: "u2"}, wantStatus: 200}, // other user, same address
			},
		},
		{
			name:    "user falls back to the address when anonymous",
			options: "{per: user, rate: 1/m}",
			steps: []step{
				{who: caller{ip: "198.51.100.1"}, wantStatus: 200},
				{who: caller{ip: "198.51.100.1"}, wantStatus: 429},
				{who: caller{ip: "198.51.100.2"}, wantStatus: 200},
				{who: caller{ip: "198.51.100.1", user: "u1"}, wantStatus: 200},          // signed in: own bucket
				{who: caller{ip: "203.0.113.9", user: "198.51.100.2"}, wantStatus: 200}, // a user id never meets an address
			},
		},
		{
			name:    "workspace is shared by its members",
			options: "{per: workspace, rate: 1/m}",
			steps: []step{
				{who: caller{ip: "198.51.100.1", user: "u1", workspace: "w1"}, wantStatus: 200},
				{who: caller{ip: "198.51.100.2", user: "u2", workspace: "w1"}, wantStatus: 429},
				{who: caller{ip: "198.51.100.1", user: "u1", workspace: "w2"}, wantStatus: 200},
			},
		},
		{
			name:    "workspace falls back to the address without one",
			options: "{per: workspace, rate: 1/m}",
			steps: []step{
				{who: caller{ip: "198.51.100.1", user: "u1"}, wantStatus: 200},
				{who: caller{ip: "198.51.100.1", user: "u2"}, wantStatus: 429},
				{who: caller{ip: "198.51.100.1"}, wantStatus: 429},
				{who: caller{ip: "198.51.100.2", user: "u1"}, wantStatus: 200},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			app := newApp(t, tc.options, nil)
			var got, want []int
			for _, s := range tc.steps {
				got = append(got, get(t, app, s.who).Status)
				want = append(want, s.wantStatus)
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("statuses (-want +got):\n%s", d)
			}
		})
	}
}

func TestParallelNeverExceeds(t *testing.T) {
	mem := store.NewMemory(store.WithSweepInterval(0)) // the real clock
	t.Cleanup(func() { _ = mem.Close() })
	app := newApp(t, "{per: user, rate: 10/m}", &gateway.Host{Limiter: mem.Limiter()})
	const callers = 50
	var (
		mu     sync.Mutex
		counts = map[int]int{}
		wg     sync.WaitGroup
	)
	start := make(chan struct{})
	for range callers {
		wg.Go(func() {
			<-start
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.Header.Set("X-Test-User", "u1")
			resp, err := app.Test(req, -1)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			mu.Lock()
			counts[resp.StatusCode]++
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	if d := cmp.Diff(map[int]int{200: 10, 429: 40}, counts); d != "" {
		t.Errorf("%d parallel requests on 10/m (-want +got):\n%s", callers, d)
	}
}

// brokenLimiter fails every call, like an unreachable Redis.
type brokenLimiter struct{}

var errDown = errors.New("redis: connection refused")

func (brokenLimiter) Allow(context.Context, string, store.Limit) (store.Result, error) {
	return store.Result{}, errDown
}
func (brokenLimiter) AllowN(context.Context, string, store.Limit, int) (store.Result, error) {
	return store.Result{}, errDown
}
func (brokenLimiter) Reset(context.Context, string) error { return errDown }

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

func TestFailOpen(t *testing.T) {
	var logs bytes.Buffer
	reg := prometheus.NewRegistry()
	clk := &clock{now: t0}
	app := newApp(t, "rate: 1/m", &gateway.Host{
		Limiter: brokenLimiter{},
		Logger:  slog.New(slog.NewTextHandler(&logs, nil)),
		Metrics: reg,
		Clock:   clk,
	})
	var got []answer
	for i := range 5 {
		if i == 3 {
			clk.Add(61 * time.Second)
		}
		got = append(got, answerOf(get(t, app, caller{ip: "192.0.2.1"})))
	}
	ok := answer{Status: 200, Body: "ok"} // no RateLimit headers: nothing is known
	if d := cmp.Diff([]answer{ok, ok, ok, ok, ok}, got); d != "" {
		t.Errorf("answers (-want +got):\n%s", d)
	}
	if n := strings.Count(logs.String(), "rate limiter failed"); n != 2 {
		t.Errorf("logged %d warnings, want 2 (once a minute):\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "plugin=ratelimit") || !strings.Contains(logs.String(), "connection refused") {
		t.Errorf("warning lacks the instance or the cause:\n%s", logs.String())
	}
	if n := counterValue(t, reg, "gatehouse_ratelimit_errors_total"); n != 5 {
		t.Errorf("gatehouse_ratelimit_errors_total = %v, want 5", n)
	}
}

func TestMetricsSharedByInstances(t *testing.T) {
	reg := prometheus.NewRegistry()
	lim := frozenLimiter(t)
	a := gatewaytest.ProvisionPlugin(t, Info(), "rate: 1/m", &gateway.Host{Limiter: lim, Metrics: reg})
	b := gatewaytest.ProvisionPlugin(t, Info(), "{per: user, rate: 1/h}", &gateway.Host{Limiter: lim, Metrics: reg})
	app := gatewaytest.NewPluginApp(t, nil, a, b)
	app.Get("/*", func(c *fiber.Ctx) error { return c.SendString("ok") })
	var got []int
	for range 3 {
		got = append(got, gatewaytest.Do(t, app, httptest.NewRequest(http.MethodGet, "/", nil)).Status)
	}
	if d := cmp.Diff([]int{200, 429, 429}, got); d != "" {
		t.Errorf("statuses (-want +got):\n%s", d)
	}
	if n := counterValue(t, reg, "gatehouse_ratelimit_refused_total"); n != 2 {
		t.Errorf("gatehouse_ratelimit_refused_total = %v, want 2", n)
	}
	if n := counterValue(t, reg, "gatehouse_ratelimit_errors_total"); n != 0 {
		t.Errorf("gatehouse_ratelimit_errors_total = %v, want 0", n)
	}
}

// counterValue reads a registered counter from reg.
func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name {
			return f.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("%s is not registered", name)
	return 0
}

func TestKey(t *testing.T) {
	ip := netip.MustParseAddr("192.0.2.1")
	tests := []struct {
		name    string
		options string
		route   string
		id      gateway.Identity
		ip      netip.Addr
		want    string
	}{
		{name: "ip", options: "rate: 100/m", route: "api", ip: ip, want: "rl:plugin:100/m.b100:api:ip:192.0.2.1"},
		{name: "mapped ip", options: "rate: 100/m", route: "api", ip: netip.MustParseAddr("::ffff:192.0.2.1"), want: "rl:plugin:100/m.b100:api:ip:192.0.2.1"},
		{name: "ipv6 prefix", options: "rate: 100/m", route: "api", ip: netip.MustParseAddr("2001:db8::7"), want: "rl:plugin:100/m.b100:api:ip:2001:db8::/64"},
		{name: "no address", options: "rate: 100/m", route: "api", want: "rl:plugin:100/m.b100:api:ip:unknown"},
		{name: "no route name", options: "rate: 5/30s", ip: ip, want: "rl:plugin:5/30s.b5::ip:192.0.2.1"},
		{name: "user", options: "{per: user, rate: 10/s, burst: 3}", route: "app", id: gateway.Identity{UserID: "u1", WorkspaceID: "w1"}, ip: ip, want: "rl:plugin:10/s.b3:app:user:u1"},
		{name: "anonymous user", options: "{per: user, rate: 10/s, burst: 3}", route: "app", ip: ip, want: "rl:plugin:10/s.b3:app:ip:192.0.2.1"},
		{name: "workspace", options: "{per: workspace, rate: 1000/h}", route: "app", id: gateway.Identity{UserID: "u1", WorkspaceID: "w1"}, ip: ip, want: "rl:plugin:1000/h.b1000:app:workspace:w1"},
		{name: "no workspace", options: "{per: workspace, rate: 1000/h}", route: "app", id: gateway.Identity{UserID: "u1"}, ip: ip, want: "rl:plugin:1000/h.b1000:app:ip:192.0.2.1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := gatewaytest.ProvisionPlugin(t, Info(), tc.options, &gateway.Host{Limiter: brokenLimiter{}}).(*Plugin)
			if got := p.key(tc.route, tc.id, tc.ip); got != tc.want {
				t.Errorf("key = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestProvisionNeedsALimiter(t *testing.T) {
	p, err := gatewaytest.NewPlugin(Info(), "rate: 10/m")
	if err != nil {
		t.Fatal(err)
	}
	err = p.Provision(t.Context(), (&gateway.Host{}).For("plugin", "ratelimit", "ratelimit"))
	if err == nil || !strings.Contains(err.Error(), "no rate limiter") {
		t.Errorf("Provision without a limiter = %v, want an error", err)
	}
}
