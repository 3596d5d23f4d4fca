package main

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"gatehouse/config"
)

// composeFile is the part of docker-compose.yaml the tests read.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image       string                       `yaml:"image"`
	Build       composeBuild                 `yaml:"build"`
	Environment map[string]string            `yaml:"environment"`
	Volumes     []string                     `yaml:"volumes"`
	Ports       []string                     `yaml:"ports"`
	DependsOn   map[string]map[string]string `yaml:"depends_on"`
	Healthcheck *struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
	ReadOnly bool `yaml:"read_only"`
}

// composeBuild is "build: DIR" or "build: {context, dockerfile}".
type composeBuild struct {
	Context    string `yaml:"context"`
	Dockerfile string `yaml:"dockerfile"`
}

func (b *composeBuild) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		b.Context = n.Value
		return nil
	}
	type plain composeBuild
	return n.Decode((*plain)(b))
}

// composeVar is a compose interpolation: ${VAR}, ${VAR:-default},
// ${VAR-default}, ${VAR:?error}, ${VAR?error}; $$ is a "$".
var composeVar = regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}`)

// interpolate does what docker compose does to the file's text with the
// variables of env (the shell's, or an .env file's), or reports the
// ${VAR:?error} messages of the required variables that are missing.
func interpolate(text string, env map[string]string) (string, error) {
	var missing []string
	out := composeVar.ReplaceAllStringFunc(text, func(m string) string {
		if m == "$$" {
			return "$"
		}
		sm := composeVar.FindStringSubmatch(m)
		name, op, arg := sm[1], sm[2], sm[3]
		v, set := env[name]
		empty := !set || (strings.HasPrefix(op, ":") && v == "")
		switch {
		case op == "":
			return v
		case strings.HasSuffix(op, "-") && empty:
			return arg
		case strings.HasSuffix(op, "?") && empty:
			missing = append(missing, name+": "+arg)
			return ""
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("required variables: %s", strings.Join(missing, "; "))
	}
	return out, nil
}

// loadCompose reads the repository's docker-compose.yaml with env.
func loadCompose(t *testing.T, env map[string]string) composeFile {
	t.Helper()
	raw, err := os.ReadFile("../../docker-compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text, err := interpolate(string(raw), env)
	if err != nil {
		t.Fatal(err)
	}
	var f composeFile
	dec := yaml.NewDecoder(strings.NewReader(text))
	dec.KnownFields(false)
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("docker-compose.yaml: %v", err)
	}
	return f
}

// portOf is the port of a host:port.
func portOf(t *testing.T, hostport string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(hostport)
	if err != nil {
		t.Fatalf("%q: %v", hostport, err)
	}
	return port
}

// docker-compose.yaml runs Gatehouse from ./Dockerfile with its config
// deploy/compose/gateway.yaml in front of the example upstream, with
// PostgreSQL and Redis: the services and their images, what each
// publishes (Gatehouse's two ports, nothing else), the healthchecks
// Gatehouse waits for, that every file it builds from or mounts exists,
// and that the services agree with one another (the DSN's host, user,
// password and database are the postgres service's, the Redis URL names
// the redis service, the route reaches the app where it listens, and
// the app checks the iss, aud and JWKS Gatehouse really uses).
func TestComposeFile(t *testing.T) {
	env := map[string]string{"GATEHOUSE_SECRET": strings.Repeat("c", 64)}
	f := loadCompose(t, env)

	names := make([]string, 0, len(f.Services))
	for n := range f.Services {
		names = append(names, n)
	}
	slices.Sort(names)
	if want := []string{"app", "gatehouse", "postgres", "redis"}; !slices.Equal(names, want) {
		t.Fatalf("services %v, want %v", names, want)
	}
	gh, app, pg, rd := f.Services["gatehouse"], f.Services["app"], f.Services["postgres"], f.Services["redis"]

	// Images and builds: every Dockerfile named exists.
	if gh.Build.Context != "." {
		t.Errorf("gatehouse build %+v, want the repository root", gh.Build)
	}
	if app.Build.Context != "." || app.Build.Dockerfile != "examples/upstream-go/Dockerfile" {
		t.Errorf("app build %+v, want context . and examples/upstream-go/Dockerfile", app.Build)
	}
	for _, s := range []composeService{gh, app} {
		df := orDefault(s.Build.Dockerfile, "Dockerfile")
		if _, err := os.Stat(filepath.Join("../..", s.Build.Context, df)); err != nil {
			t.Errorf("build %+v: %v", s.Build, err)
		}
	}
	if !strings.HasPrefix(pg.Image, "postgres:") || !strings.HasPrefix(rd.Image, "redis:") {
		t.Errorf("images %q and %q, want the official postgres and redis images", pg.Image, rd.Image)
	}

	// Only Gatehouse is published: the gateway and its metrics.
	if want := []string{"8080:8080", "9090:9090"}; !slices.Equal(gh.Ports, want) {
		t.Errorf("gatehouse ports %v, want %v", gh.Ports, want)
	}
	for _, n := range []string{"app", "postgres", "redis"} {
		if p := f.Services[n].Ports; len(p) > 0 {
			t.Errorf("%s publishes %v: only Gatehouse should be reachable from outside", n, p)
		}
	}

	// Healthchecks, and Gatehouse waits for them; the app starts after it.
	if pg.Healthcheck == nil || !strings.Contains(strings.Join(pg.Healthcheck.Test, " "), "pg_isready") {
		t.Errorf("postgres healthcheck %+v, want pg_isready", pg.Healthcheck)
	}
	if rd.Healthcheck == nil || !strings.Contains(strings.Join(rd.Healthcheck.Test, " "), "redis-cli ping") {
		t.Errorf("redis healthcheck %+v, want redis-cli ping", rd.Healthcheck)
	}
	for _, dep := range []string{"postgres", "redis"} {
		if c := gh.DependsOn[dep]["condition"]; c != "service_healthy" {
			t.Errorf("gatehouse depends_on %s: condition %q, want service_healthy", dep, c)
		}
	}
	// Gatehouse's own check is its binary (the image has no shell or
	// curl), by the path the Dockerfile installs it at; the app waits for it.
	if gh.Healthcheck == nil || !slices.Equal(gh.Healthcheck.Test, []string{"CMD", "/usr/local/bin/gatehouse", "health"}) {
		t.Errorf("gatehouse healthcheck %+v, want the binary's health command", gh.Healthcheck)
	}
	if df, err := os.ReadFile("../../Dockerfile"); err != nil || !strings.Contains(string(df), "/out/gatehouse /usr/local/bin/gatehouse") {
		t.Errorf("the Dockerfile does not install /usr/local/bin/gatehouse (%v)", err)
	}
	if c := app.DependsOn["gatehouse"]["condition"]; c != "service_healthy" {
		t.Errorf("app depends_on gatehouse: condition %q, want service_healthy", c)
	}
	if !gh.ReadOnly || !app.ReadOnly {
		t.Errorf("read_only: gatehouse %v, app %v; want both", gh.ReadOnly, app.ReadOnly)
	}

	// Mounts: bind mounts exist in the repository, named volumes are declared.
	var configMount string
	for _, n := range names {
		for _, v := range f.Services[n].Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, ".") || strings.HasPrefix(src, "/") {
				if _, err := os.Stat(filepath.Join("../..", src)); err != nil {
					t.Errorf("%s mounts %s: %v", n, src, err)
				}
			} else if _, ok := f.Volumes[src]; !ok {
				t.Errorf("%s mounts the volume %q, which volumes: does not declare", n, src)
			}
			if n == "gatehouse" && strings.HasSuffix(src, "gateway.yaml") {
				configMount = v
			}
		}
	}
	// The config is mounted where the image reads it (GATEHOUSE_CONFIG).
	df, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	if configMount != "./deploy/compose/gateway.yaml:/app/gateway.yaml:ro" || !strings.Contains(string(df), "ENV GATEHOUSE_CONFIG=/app/gateway.yaml") {
		t.Errorf("gatehouse mounts its config as %q, want ./deploy/compose/gateway.yaml:/app/gateway.yaml:ro (the Dockerfile's GATEHOUSE_CONFIG)", configMount)
	}

	// The config loads, validates and builds its plugins and providers
	// with the environment compose gives the container.
	cfg := composeConfig(t, gh.Environment)
	if cfg.Server.Listen != "0.0.0.0:8080" || cfg.Metrics.Listen != "0.0.0.0:9090" {
		t.Errorf("listen %q, metrics %q: want every interface, on the published ports", cfg.Server.Listen, cfg.Metrics.Listen)
	}
	if cfg.Secret.Value() != env["GATEHOUSE_SECRET"] {
		t.Error("secret is not GATEHOUSE_SECRET")
	}
	if cfg.Demo.Listen != "" {
		t.Errorf("demo.listen %q: compose routes to the example app instead", cfg.Demo.Listen)
	}

	// Postgres: the DSN is the postgres service's user, password, database.
	if cfg.Database.Driver != config.DriverPostgres {
		t.Fatalf("database.driver %q, want postgres", cfg.Database.Driver)
	}
	dsn, err := url.Parse(cfg.Database.DSN.Value())
	if err != nil {
		t.Fatal(err)
	}
	pass, _ := dsn.User.Password()
	if dsn.Hostname() != "postgres" || dsn.Port() != "5432" || dsn.User.Username() != pg.Environment["POSTGRES_USER"] ||
		pass == "" || pass != pg.Environment["POSTGRES_PASSWORD"] || strings.TrimPrefix(dsn.Path, "/") != pg.Environment["POSTGRES_DB"] {
		t.Errorf("database.dsn %s does not match the postgres service (user %q, database %q, its POSTGRES_PASSWORD)",
			dsn.Redacted(), pg.Environment["POSTGRES_USER"], pg.Environment["POSTGRES_DB"])
	}

	// Redis: the shared store, on the redis service.
	ru, err := url.Parse(cfg.Redis.URL.Value())
	if err != nil || !cfg.Redis.Enabled() || ru.Hostname() != "redis" {
		t.Errorf("redis.url %q: want redis://redis:6379/…", cfg.Redis.URL.Value())
	}

	// The route reaches the app where it listens, and the app checks what
	// Gatehouse signs: iss = public_url, aud = the route's name, and the
	// keys at auth_prefix/.well-known/jwks.json on Gatehouse's listener.
	if len(cfg.Routes) != 1 {
		t.Fatalf("routes %d, want the one to the app", len(cfg.Routes))
	}
	r := cfg.Routes[0]
	if r.Upstream.Hostname() != "app" || r.Upstream.Port() != portOf(t, app.Environment["LISTEN"]) {
		t.Errorf("route upstream %s, but the app listens on %s", r.Upstream, app.Environment["LISTEN"])
	}
	if app.Environment["ROUTE"] != r.Name {
		t.Errorf("app ROUTE %q, route name %q", app.Environment["ROUTE"], r.Name)
	}
	if app.Environment["GATEHOUSE_ISSUER"] != cfg.Server.PublicURL.String() {
		t.Errorf("app GATEHOUSE_ISSUER %q, public_url %s", app.Environment["GATEHOUSE_ISSUER"], cfg.Server.PublicURL)
	}
	want := "http://gatehouse:" + portOf(t, cfg.Server.Listen) + cfg.Server.AuthPrefix + "/.well-known/jwks.json"
	if app.Environment["JWKS_URL"] != want {
		t.Errorf("app JWKS_URL %q, want %q", app.Environment["JWKS_URL"], want)
	}

	// If docker compose is installed (it needs no daemon for this), it
	// agrees that the file is valid.
	if err := exec.Command("docker", "compose", "version").Run(); err == nil {
		cmd := exec.Command("docker", "compose", "-f", "docker-compose.yaml", "config", "--quiet")
		cmd.Dir = "../.."
		cmd.Env = append(os.Environ(), "GATEHOUSE_SECRET="+env["GATEHOUSE_SECRET"])
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("docker compose config: %v\n%s", err, out)
		}
	} else {
		t.Log("docker compose is not installed: only the Go checks ran")
	}
}

// orDefault is a, or b when a is empty.
func orDefault(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// composeConfig loads deploy/compose/gateway.yaml with exactly the
// environment compose gives the gatehouse container, and checks its
// plugins and providers as `gatehouse serve` does before it starts.
func composeConfig(t *testing.T, env map[string]string) *config.Config {
	t.Helper()
	raw, err := os.ReadFile("../../deploy/compose/gateway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(raw, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatalf("deploy/compose/gateway.yaml with the compose environment: %v", err)
	}
	reg, err := newRegistry()
	if err != nil {
		t.Fatal(err)
	}
	if problems, err := checkModules(cfg, reg); err != nil || len(problems) > 0 {
		t.Fatalf("deploy/compose/gateway.yaml: plugins and providers: %v %v", problems, err)
	}
	return cfg
}

// Compose refuses to start without GATEHOUSE_SECRET (there is no default
// to fall back on), and so would Gatehouse, naming the variable; the
// defaults the file gives the other variables are what the test above
// used.
func TestComposeRequiresSecret(t *testing.T) {
	raw, err := os.ReadFile("../../docker-compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := interpolate(string(raw), nil); err == nil || !strings.Contains(err.Error(), "GATEHOUSE_SECRET") {
		t.Errorf("docker-compose.yaml without GATEHOUSE_SECRET: %v, want it required", err)
	}
	if _, err := interpolate(string(raw), map[string]string{"GATEHOUSE_SECRET": ""}); err == nil {
		t.Error("docker-compose.yaml takes an empty GATEHOUSE_SECRET")
	}
	cfgRaw, err := os.ReadFile("../../deploy/compose/gateway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := config.Parse(cfgRaw, func(string) (string, bool) { return "", false }); err == nil ||
		!strings.Contains(err.Error(), "GATEHOUSE_SECRET not set") {
		t.Errorf("deploy/compose/gateway.yaml without GATEHOUSE_SECRET: %v", err)
	}
	// The interpolation itself, on the forms the file uses.
	got, err := interpolate("a=${A:-x} b=${B-y} c=${C} d=$${D} e=${E:?need E}", map[string]string{"B": "", "C": "3", "E": "5"})
	if err != nil || got != "a=x b= c=3 d=${D} e=5" {
		t.Errorf("interpolate: %q, %v", got, err)
	}
}
