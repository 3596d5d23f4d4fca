package config

import (
	"errors"
	"io/fs"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// testSecret is 32 bytes, the shortest secret Validate accepts.
const testSecret = "0123456789abcdef0123456789abcdef"

// cmpConfig compares Configs: secrets by value, URLs and CIDRs by text,
// nil and empty lists alike.
var cmpConfig = cmp.Options{
	cmp.Comparer(func(a, b Secret) bool { return a.Value() == b.Value() }),
	cmp.Comparer(func(a, b URL) bool { return a.String() == b.String() }),
	cmp.Comparer(func(a, b CIDR) bool { return a == b }),
	cmpopts.EquateEmpty(),
}

// problemStrings is err's problems as "path: message" lines; it fails the
// test when err is not an *Errors.
func problemStrings(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var errs *Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error %T (%v) is not an *Errors", err, err)
	}
	out := make([]string, len(errs.Problems))
	for i, p := range errs.Problems {
		out[i] = p.String()
	}
	return out
}

func TestParseMinimalKeepsDefaults(t *testing.T) {
	src := `
secret: ` + testSecret + `
session: { idle_timeout: 1h }   # only this key of session
routes:
  - name: app
    upstream: http://127.0.0.1:3000
`
	got, err := Parse([]byte(src), nil)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := Default()
	want.Secret = NewSecret(testSecret)
	want.Session.IdleTimeout = Duration(time.Hour)
	want.Routes = []Route{{
		Name:     "app",
		Path:     "/",
		Upstream: URL{&url.URL{Scheme: "http", Host: "127.0.0.1:3000"}},
		Auth:     AuthRequired,
		Timeout:  Duration(30 * time.Second),
	}}
	if diff := cmp.Diff(want, got, cmpConfig); diff != "" {
		t.Errorf("Parse (-want +got):\n%s", diff)
	}
}

func TestDefaultIsFresh(t *testing.T) {
	a := Default()
	a.Accounts.Roles[0] = "changed"
	a.Server.TrustedProxies[0] = MustCIDR("10.0.0.0/8")
	b := Default()
	if diff := cmp.Diff([]string{"user"}, b.Accounts.Roles); diff != "" {
		t.Errorf("Default shares Accounts.Roles (-want +got):\n%s", diff)
	}
	if got := b.Server.TrustedProxies[0].String(); got != "127.0.0.0/8" {
		t.Errorf("Default shares Server.TrustedProxies: %s", got)
	}
}

func TestSpecExample(t *testing.T) {
	cfg, err := Load(filepath.Join("testdata", "spec_example.yaml"))
	if err != nil {
		t.Fatalf("Load(spec_example.yaml): %v", err)
	}
	if got, want := len(cfg.Routes), 1; got != want {
		t.Fatalf("routes = %d, want %d", got, want)
	}
	// The SPEC block spells out the defaults: it must equal them.
	want := Default()
	want.Secret = cfg.Secret
	want.Routes = cfg.Routes
	// Provider sections stay raw: each provider decodes its own, with its
	// own defaults (gatewaytest.RunProviderContract, providers/*).
	if got := slices.Sorted(maps.Keys(cfg.Providers)); !slices.Equal(got, []string{"email_code", "github", "google", "oidc", "password"}) {
		t.Errorf("providers = %v, want the five of SPEC §2", got)
	}
	want.Providers = cfg.Providers
	if diff := cmp.Diff(want, cfg, cmpConfig); diff != "" {
		t.Errorf("spec example differs from Default (-want +got):\n%s", diff)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load(missing) = %v, want fs.ErrNotExist", err)
	}
}

func TestLoadUsesProcessEnv(t *testing.T) {
	t.Setenv("GATEHOUSE_TEST_SECRET", testSecret)
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(path, []byte("secret: ${GATEHOUSE_TEST_SECRET}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if cfg.Secret.Value() != testSecret {
		t.Errorf("secret not taken from the environment")
	}
}

func TestUnknownKeys(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{
			name: "top level",
			src:  "secret: " + testSecret + "\nserverr: {}\n",
			want: []string{`serverr: unknown key (did you mean "server"?)`},
		},
		{
			name: "server.x",
			src:  "secret: " + testSecret + "\nserver:\n  listne: 127.0.0.1:8080\n  colour: blue\n",
			want: []string{
				`server.listne: unknown key (did you mean "listen"?)`,
				`server.colour: unknown key`,
			},
		},
		{
			name: "routes[1].x",
			src: "secret: " + testSecret + `
routes:
  - name: a
    upstream: http://a
  - name: b
    path: /b
    upstream: http://b
    auht: public
`,
			want: []string{`routes[1].auht: unknown key (did you mean "auth"?)`},
		},
		{
			name: "deep",
			src:  "secret: " + testSecret + "\naccounts: { password: { argon2: { memory: 1 } } }\n",
			want: []string{`accounts.password.argon2.memory: unknown key`},
		},
		{
			name: "route plugin entry, but not its options",
			src: "secret: " + testSecret + `
routes:
  - name: a
    upstream: http://a
    plugins:
      - name: ratelimit
        options: { anything: goes }
      - name: cors
        option: {}
`,
			want: []string{`routes[0].plugins[1].option: unknown key (did you mean "options"?)`},
		},
		{
			name: "the Path field is not a key",
			src:  "secret: " + testSecret + "\nplugins: [{ name: x, path: y }]\n",
			want: []string{`plugins[0].path: unknown key`},
		},
		{
			name: "duplicate key",
			src:  "secret: " + testSecret + "\nserver:\n  listen: a:1\n  listen: b:2\n",
			want: []string{`server.listen: duplicate key (first on line 3)`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.src), nil)
			if diff := cmp.Diff(tc.want, problemStrings(t, err)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValueErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{
			name: "duration",
			src:  "session: { idle_timeout: abc }",
			want: []string{`session.idle_timeout: want a duration such as 15m, got "abc"`},
		},
		{
			name: "duration without unit",
			src:  "tokens: { access_ttl: 30 }",
			want: []string{`tokens.access_ttl: want a duration such as 15m, got "30"`},
		},
		{
			name: "url",
			src: `routes:
  - { name: a, path: /a, upstream: http://a }
  - { name: b, path: /b, upstream: http://b }
  - { name: c, path: /c, upstream: "ftp://x" }`,
			want: []string{`routes[2].upstream: not an absolute http(s) URL: "ftp://x"`},
		},
		{
			name: "size",
			src:  "server: { body_limit: 1 lots }",
			want: []string{`server.body_limit: want a size such as 1MiB, got "1 lots"`},
		},
		{
			name: "rate",
			src:  "rate_limits: { login: ten/m }",
			want: []string{`rate_limits.login: want N/period such as 10/m, got "ten/m"`},
		},
		{
			name: "cidr",
			src:  "server: { trusted_proxies: [10.0.0.0/8, nope] }",
			want: []string{`server.trusted_proxies[1]: not a CIDR or address: "nope"`},
		},
		{
			name: "integer",
			src:  "mail: { smtp: { port: abc } }",
			want: []string{`mail.smtp.port: want a whole number, got "abc"`},
		},
		{
			name: "small integer out of range",
			src:  "accounts: { password: { argon2: { parallelism: 300 } } }",
			want: []string{`accounts.password.argon2.parallelism: want a whole number from 0 to 255, got "300"`},
		},
		{
			name: "bool",
			src:  "database: { auto_migrate: sometimes }",
			want: []string{`database.auto_migrate: want true or false, got "sometimes"`},
		},
		{
			name: "mapping where a list is wanted",
			src:  "accounts: { roles: { user: true } }",
			want: []string{`accounts.roles: want a list, got a mapping`},
		},
		{
			name: "scalar where a mapping is wanted",
			src:  "server: localhost",
			want: []string{`server: want a mapping, got "localhost"`},
		},
		{
			name: "list where a scalar is wanted",
			src:  "secret: [a, b]",
			want: []string{`secret: want a string, got a list`},
		},
		{
			name: "mapping where a duration is wanted",
			src:  "session: { idle_timeout: { h: 1 } }",
			want: []string{`session.idle_timeout: want a duration such as 15m, got a mapping`},
		},
		{
			name: "bad list item keeps later indices",
			src: `routes:
  - just-a-string
  - { name: b, path: /b, upstream: "http://b", auth: maybe }`,
			want: []string{
				`routes[0]: want a mapping, got "just-a-string"`,
				`routes[1].auth: must be required, optional or public, got "maybe"`,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.src + "\n"
			if !hasSecret.MatchString(src) {
				src = "secret: " + testSecret + "\n" + src
			}
			_, err := Parse([]byte(src), nil)
			if diff := cmp.Diff(tc.want, problemStrings(t, err)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSyntaxAndDocumentErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{name: "empty file", src: "", want: []string{"secret: required"}},
		{name: "comments only", src: "# nothing\n", want: []string{"secret: required"}},
		{name: "null document", src: "~\n", want: []string{"secret: required"}},
		{name: "bad indentation", src: "server:\n  listen: a\n    x: b\n", want: []string{"line 3: mapping values are not allowed in this context"}},
		{name: "top level list", src: "- a\n", want: []string{`line 1: want a mapping of keys at the top level, got a list`}},
		{name: "two documents", src: "secret: x\n---\nsecret: y\n", want: []string{"line 2: want one YAML document, found another"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.src), nil)
			if diff := cmp.Diff(tc.want, problemStrings(t, err)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAllProblemsAtOnce(t *testing.T) {
	src := `server:
  listne: 127.0.0.1:8080
  public_url: ftp://x
session:
  idle_timeout: abc
  cookie_secure: maybe
accounts:
  default_role: boss
routes:
  - name: a
    upstream: http://a
    bogus: 1
  - upstream: ftp://x
webhooks:
  - url: https://hooks.example.com
    events: [user.exploded]
`
	_, err := Parse([]byte(src), nil)
	// In file order, decoding and validation problems mixed; a key left
	// out has no line and comes first. Validation problems carry the line
	// of their key or of the nearest enclosing one.
	want := []Problem{
		{Path: "secret", Message: "required"},
		{Path: "server.listne", Line: 2, Message: `unknown key (did you mean "listen"?)`},
		{Path: "server.public_url", Line: 3, Message: `not an absolute http(s) URL: "ftp://x"`},
		{Path: "session.idle_timeout", Line: 5, Message: `want a duration such as 15m, got "abc"`},
		{Path: "session.cookie_secure", Line: 6, Message: `must be auto, true or false, got "maybe"`},
		{Path: "accounts.default_role", Line: 8, Message: `"boss" is not one of accounts.roles [user]`},
		{Path: "routes[0].bogus", Line: 12, Message: `unknown key`},
		{Path: "routes[1].upstream", Line: 13, Message: `not an absolute http(s) URL: "ftp://x"`},
		{Path: "routes[1].name", Line: 13, Message: "required"},
		{Path: "routes[1].path", Line: 13, Message: `same host and path as routes[0] (host "", path "/")`},
		{Path: "webhooks[0].secret", Line: 15, Message: "required"},
		{Path: "webhooks[0].events[0]", Line: 16, Message: `unknown event "user.exploded" (events are user.created, user.verified, user.login, user.updated, user.deleted, workspace.member_added, workspace.member_removed)`},
	}
	var errs *Errors
	if !errors.As(err, &errs) {
		t.Fatalf("Parse error = %v, want *Errors", err)
	}
	if diff := cmp.Diff(want, errs.Problems); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(err.Error(), "secret: required\nserver.listne: unknown key (did you mean \"listen\"?)\nserver.public_url: not an absolute") {
		t.Errorf("Error() does not join path: message lines:\n%s", err)
	}
}

func TestNormalize(t *testing.T) {
	src := `secret: ` + testSecret + `
server:
  auth_prefix: /gate/
  trusted_origins: ["https://App.Example.com/", "http://localhost:3000"]
session: { cookie_domain: .Example.com }
plugins:
  - name: request_id
  - name: access_log
routes:
  - name: root
    upstream: http://a
  - name: app
    host: App.Example.COM
    path: /app/
    upstream: http://b
    auth: optional
    timeout: 5s
    plugins:
      - name: ratelimit
        id: app-rl
        options: { rate: 10/m }
  - name: all-subdomains
    host: "*.Example.com"
    path: /x//
    upstream: http://c
`
	cfg, err := Parse([]byte(src), nil)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	type routeView struct {
		Name, Host, Path, Auth string
		Timeout                Duration
		PluginPaths            []string
	}
	var gotRoutes []routeView
	for _, r := range cfg.Routes {
		v := routeView{Name: r.Name, Host: r.Host, Path: r.Path, Auth: r.Auth, Timeout: r.Timeout}
		for _, p := range r.Plugins {
			v.PluginPaths = append(v.PluginPaths, p.Path)
		}
		gotRoutes = append(gotRoutes, v)
	}
	wantRoutes := []routeView{
		{Name: "root", Path: "/", Auth: AuthRequired, Timeout: Duration(30 * time.Second)},
		{Name: "app", Host: "app.example.com", Path: "/app", Auth: AuthOptional, Timeout: Duration(5 * time.Second),
			PluginPaths: []string{"routes[1].plugins[0]"}},
		{Name: "all-subdomains", Host: "*.example.com", Path: "/x", Auth: AuthRequired, Timeout: Duration(30 * time.Second)},
	}
	if diff := cmp.Diff(wantRoutes, gotRoutes); diff != "" {
		t.Errorf("routes (-want +got):\n%s", diff)
	}
	var globalPaths []string
	for _, p := range cfg.Plugins {
		globalPaths = append(globalPaths, p.Path)
	}
	if diff := cmp.Diff([]string{"plugins[0]", "plugins[1]"}, globalPaths); diff != "" {
		t.Errorf("global plugin paths (-want +got):\n%s", diff)
	}
	if got := cfg.Routes[1].Plugins[0].Options.Content[1].Value; got != "10/m" {
		t.Errorf("plugin options not kept as a node: rate = %q", got)
	}
	if got := cfg.Server.AuthPrefix; got != "/gate" {
		t.Errorf("auth_prefix = %q, want /gate", got)
	}
	if diff := cmp.Diff([]string{"https://app.example.com", "http://localhost:3000"}, cfg.Server.TrustedOrigins); diff != "" {
		t.Errorf("trusted_origins (-want +got):\n%s", diff)
	}
	if got := cfg.Session.CookieDomain; got != ".example.com" {
		t.Errorf("cookie_domain = %q", got)
	}
}

func TestAnchorsAndMerges(t *testing.T) {
	src := `secret: ` + testSecret + `
x-route: &base { upstream: "http://a", timeout: 10s }
routes:
  - <<: *base
    name: one
    path: /one
  - <<: *base
    name: two
    path: /two
    timeout: 20s
`
	// x-route is not a key of the schema: anchors must live in real keys.
	_, err := Parse([]byte(src), nil)
	if diff := cmp.Diff([]string{"x-route: unknown key"}, problemStrings(t, err)); diff != "" {
		t.Fatalf("problems (-want +got):\n%s", diff)
	}
	src = `secret: ` + testSecret + `
routes:
  - &base
    name: one
    path: /one
    upstream: "http://a"
    timeout: 10s
  - <<: *base
    name: two
    path: /two
    timeout: 20s
`
	cfg, err := Parse([]byte(src), nil)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got := cfg.Routes[1].Upstream.String(); got != "http://a" {
		t.Errorf("merged upstream = %q", got)
	}
	if got := cfg.Routes[1].Timeout; got != Duration(20*time.Second) {
		t.Errorf("overridden timeout = %v", got)
	}
}

func TestSecretsStayOutOfMessages(t *testing.T) {
	src := `secret: ` + testSecret + `
redis: { url: "http://user:hunter2@redis:6379" }
webhooks:
  - url: https://h.example.com
    events: [user.created]
    secret: whsec_hunter2!!
`
	_, err := Parse([]byte(src), nil)
	want := []string{
		"redis.url: want a redis:// or rediss:// URL with a host",
		`webhooks[0].secret: must be "whsec_" followed by base64`,
	}
	if diff := cmp.Diff(want, problemStrings(t, err)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("a secret leaked into the message: %s", err)
	}
}

func TestAllRoles(t *testing.T) {
	tests := []struct {
		name  string
		roles []string
		want  []string
	}{
		{name: "none", want: []string{"admin"}},
		{name: "default", roles: []string{"user"}, want: []string{"admin", "user"}},
		{name: "admin listed", roles: []string{"editor", "admin", "viewer"}, want: []string{"admin", "editor", "viewer"}},
		{name: "duplicates", roles: []string{"a", "b", "a"}, want: []string{"admin", "a", "b"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Accounts{Roles: tc.roles}.AllRoles()
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("AllRoles (-want +got):\n%s", diff)
			}
		})
	}
}

// A YAML mistake is reported on the line to fix, not on the line of the
// block yaml.v3 names; a problem caused by an unset ${VAR} names it.
func TestProblemsPointAtTheCause(t *testing.T) {
	_, err := Parse([]byte("server:\n  listen: \"127.0.0.1:8080\"\n   public_url: x\n"), nil)
	if err == nil || !strings.Contains(err.Error(), "line 3:") {
		t.Errorf("bad indentation on line 3: %v", err)
	}
	env := func(k string) (string, bool) { return "", false }
	_, err = Parse([]byte("secret: ${NOPE_SECRET}\n"), env)
	if err == nil || !strings.Contains(err.Error(), "secret: required (NOPE_SECRET not set in the environment)") {
		t.Errorf("unset variable: %v", err)
	}
	_, err = Parse([]byte("secret: ${NOPE_SECRET:-}\n"), env)
	if err == nil || strings.Contains(err.Error(), "NOPE_SECRET") {
		t.Errorf("a variable with a default is not blamed: %v", err)
	}
}
