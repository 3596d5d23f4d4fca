package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"gatehouse/cmd/gatehouse/app"
	"gatehouse/config"
	"gatehouse/gateway"
	"gatehouse/gateway/db/dbtest"
	"gatehouse/gateway/gatewaytest"
	"gatehouse/gateway/mail/mailtest"
	"gatehouse/plugins/identityheaders"
	"gatehouse/plugins/jwtassertion"
	"gatehouse/providers/emailcode"
	"gatehouse/providers/password"
)

// stack is a running Gatehouse on a real listener, with an SMTP sink and an
// echo upstream.
type stack struct {
	t    *testing.T
	App  *app.App
	Base string
	Sink *mailtest.Sink
	mu   sync.Mutex
	seen map[string]int // mails already read per address
}

// echo is what the upstream saw.
type echo struct {
	Path   string      `json:"path"`
	Query  string      `json:"query"`
	Header http.Header `json:"header"`
}

func startUpstream(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(echo{Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header})
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// backends runs f on the embedded default and on Postgres + Redis.
func backends(t *testing.T, f func(t *testing.T, backend string)) {
	for _, b := range []string{"embedded", "real"} {
		t.Run(b, func(t *testing.T) { f(t, b) })
	}
}

// stackConfig is what stackOptions tune in newStack beyond the config.
type stackConfig struct {
	registry *gateway.Registry // nil: testRegistry(t, nil)
}

// testRegistry is a registry as cmd/gatehouse builds one, with only the
// modules a test needs: the password and email_code providers (on by
// default, as in production), then providers and plugins.
func testRegistry(t testing.TB, plugins []gateway.PluginInfo, providers ...gateway.ProviderInfo) *gateway.Registry {
	t.Helper()
	all := append([]gateway.ProviderInfo{password.Info(), emailcode.Info()}, providers...)
	// The plugins the engine turns on by default, as cmd/gatehouse has them.
	plugins = append([]gateway.PluginInfo{identityheaders.Info(), jwtassertion.Info()}, plugins...)
	reg, err := gateway.NewRegistry(plugins, all)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// optionsNode is a provider section or plugin options given as YAML.
func optionsNode(t testing.TB, snippet string) yaml.Node {
	t.Helper()
	n, err := gatewaytest.OptionsNode(snippet)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// stackOption tunes newStack.
type stackOption func(*stackConfig)

// withRegistry builds the app with reg (compiled-in providers and plugins).
func withRegistry(reg *gateway.Registry) stackOption {
	return func(sc *stackConfig) { sc.registry = reg }
}

func newStack(t *testing.T, backend string, mutate func(*config.Config), opts ...stackOption) *stack {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end: make test runs it, make test-unit (-short) does not")
	}
	var sc stackConfig
	for _, o := range opts {
		o(&sc)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	sink := mailtest.StartSink(t)
	up := startUpstream(t)
	cfg := config.Default()
	cfg.Secret = config.NewSecret("test-secret-" + strings.Repeat("x", 40) + fmt.Sprint(time.Now().UnixNano()))
	cfg.Server.PublicURL, _ = config.ParseURL(base)
	cfg.Server.Listen = ln.Addr().String()
	cfg.Server.TrustedOrigins = []string{"https://trusted.example"}
	cfg.Database.Driver, cfg.Database.DSN = "sqlite", config.NewSecret("file:"+filepath.Join(t.TempDir(), "gh.db"))
	if backend == "real" {
		cfg.Database.Driver, cfg.Database.DSN = "postgres", config.NewSecret(dbtest.PostgresDSN(t))
		cfg.Redis.URL = config.NewSecret(gatewaytest.RedisURL(t))
	}
	cfg.Mail.Driver = "smtp"
	cfg.Mail.SMTP = config.SMTP{Host: sink.Host, Port: sink.Port, TLS: "none"}
	cfg.Accounts.Password.Argon2 = config.Argon2{Memory: 8 * 1024, Iterations: 1, Parallelism: 1}
	cfg.Accounts.Codes.ResendCooldown = 0
	cfg.RateLimits = config.RateLimits{Login: config.Rate{N: 1000, Period: time.Minute}, Codes: config.Rate{N: 1000, Period: time.Minute},
		Register: config.Rate{N: 1000, Period: time.Minute}, CheckEmail: config.Rate{N: 1000, Period: time.Minute}}
	u, _ := config.ParseURL(up)
	route := func(name, path, auth string, roles ...string) config.Route {
		return config.Route{Name: name, Path: path, Upstream: u, Auth: auth, Roles: roles, Timeout: config.Duration(5 * time.Second)}
	}
	cfg.Routes = []config.Route{
		route("app", "/app", "required"), route("opt", "/opt", "optional"),
		route("admin", "/adminonly", "required", "admin"), route("pub", "/pub", "public"),
	}
	if mutate != nil {
		mutate(cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	if sc.registry == nil {
		sc.registry = testRegistry(t, nil)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.Build(ctx, cfg, sc.registry, slog.New(slog.DiscardHandler), withPasswords(t, cfg, app.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	go func() { _ = a.Server.Serve(ln) }()
	t.Cleanup(func() {
		_ = a.Server.Shutdown(context.Background())
		cancel()
		a.Close()
	})
	return &stack{t: t, App: a, Base: base, Sink: sink, seen: map[string]int{}}
}

// client is a browser-like client with a cookie jar; it does not follow redirects.
type client struct {
	t    *testing.T
	s    *stack
	http *http.Client
}

func (s *stack) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: s.t, s: s, http: &http.Client{Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type resp struct {
	Status int
	Header http.Header
	Body   []byte
	JSON   map[string]any
}

func (r *resp) str(path string) string {
	var v any = r.JSON
	for _, p := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[p]
	}
	s, _ := v.(string)
	if b, ok := v.(bool); ok {
		return fmt.Sprint(b)
	}
	if f, ok := v.(float64); ok {
		return fmt.Sprint(f)
	}
	return s
}

func (c *client) do(method, path string, body any, hdr ...string) *resp {
	c.t.Helper()
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case rawJSON:
		rd, ct = strings.NewReader(string(b)), "application/json"
	case url.Values:
		rd, ct = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	default:
		j, _ := json.Marshal(b)
		rd, ct = strings.NewReader(string(j)), "application/json"
	}
	req, err := http.NewRequest(method, c.s.Base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	checkOpenAPI(c.t, req, res, b) // openapi_test.go
	r := &resp{Status: res.StatusCode, Header: res.Header, Body: b}
	_ = json.Unmarshal(b, &r.JSON)
	return r
}

func (c *client) post(path string, body any, hdr ...string) *resp {
	return c.do("POST", path, body, hdr...)
}
func (c *client) get(path string, hdr ...string) *resp { return c.do("GET", path, nil, hdr...) }

func expect(t *testing.T, r *resp, status int, code string) {
	t.Helper()
	if r.Status != status || (code != "" && r.str("code") != code) {
		t.Fatalf("got %d %s, want %d %s", r.Status, r.Body, status, code)
	}
}

// nextCode waits for the next mail to email and returns its code.
func (s *stack) nextCode(email string) string {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var mine []mailtest.Received
		for _, m := range s.Sink.Messages() {
			for _, to := range m.To {
				if strings.EqualFold(to, email) {
					mine = append(mine, m)
				}
			}
		}
		s.mu.Lock()
		n := s.seen[email]
		if len(mine) > n {
			s.seen[email] = n + 1
			s.mu.Unlock()
			code := mine[n].MustParse(s.t).Code()
			if code == "" {
				s.t.Fatalf("mail to %s has no code", email)
			}
			return code
		}
		s.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("no mail to %s within 10s", email)
	return ""
}

// noMail checks nothing more arrived for email within d.
func (s *stack) noMail(email string, d time.Duration) {
	s.t.Helper()
	time.Sleep(d)
	n := 0
	for _, m := range s.Sink.Messages() {
		for _, to := range m.To {
			if strings.EqualFold(to, email) {
				n++
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if n > s.seen[email] {
		s.t.Fatalf("an unexpected mail to %s arrived", email)
	}
}

var emailSeq struct {
	sync.Mutex
	n int
}

func uniqueEmail(prefix string) string {
	emailSeq.Lock()
	defer emailSeq.Unlock()
	emailSeq.n++
	return strings.ToLower(fmt.Sprintf("%s-%d-%d@example.com", prefix, time.Now().UnixNano()%1e9, emailSeq.n))
}

const pw = "Correct-Horse-9"

// signUp registers and verifies an account; c ends up signed in.
func (s *stack) signUp(c *client, email string) string {
	s.t.Helper()
	expect(s.t, c.post("/auth/register", map[string]any{"email": email, "password": pw}), 201, "")
	code := s.nextCode(email)
	r := c.post("/auth/verify-email", map[string]any{"email": email, "code": code})
	expect(s.t, r, 200, "")
	return r.str("user.id")
}

func (c *client) echo(path string, hdr ...string) (int, echo) {
	c.t.Helper()
	r := c.get(path, hdr...)
	var e echo
	_ = json.Unmarshal(r.Body, &e)
	return r.Status, e
}

// withPasswords completes o with the password provider's hashing for cfg,
// as cmd/gatehouse does.
func withPasswords(t testing.TB, cfg *config.Config, o app.Options) app.Options {
	t.Helper()
	if o.Passwords == nil {
		pw, err := password.FromConfig(cfg.Accounts.Password)
		if err != nil {
			t.Fatal(err)
		}
		o.Passwords = pw
	}
	return o
}
