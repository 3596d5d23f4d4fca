package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestToolsWithProviders runs the CLI's tools on a config with every kind
// of provider section (as a production gateway.yaml has): they validate
// the providers but provision none, so an OIDC issuer that cannot be
// reached does not stop them.
func TestToolsWithProviders(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "gateway.yaml")
	yaml := fmt.Sprintf(`secret: 0123456789abcdef0123456789abcdef
database: { driver: sqlite, dsn: "file:%s" }
accounts:
  password: { argon2: { memory_kib: 8192, iterations: 1, parallelism: 1 } }
providers:
  password: { enabled: true }
  email_code: { enabled: true }
  google: { client_id: abc, client_secret: s }
  github: { client_id: abc, client_secret: s }
  oidc:
    - { name: corp, issuer: "http://127.0.0.1:1/unreachable", client_id: gh, client_secret: s }
oidc_provider:
  enabled: true
  clients:
    - { client_id: wiki, client_secret: 0123456789abcdef, redirect_uris: ["https://wiki.example.com/cb"] }
routes:
  - name: app
    upstream: http://127.0.0.1:3000
`, filepath.Join(dir, "gh.db"))
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "user create", args: []string{"user", "create", "--email", "Root@Example.com", "--password", "long-enough-1"}, want: "(root@example.com, role admin)"},
		{name: "keys rotate", args: []string{"keys", "rotate"}, want: "created RS256 signing key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errw bytes.Buffer
			root := newRoot(&out, &errw)
			root.SetArgs(append(tc.args, "--config", cfgPath))
			if err := root.ExecuteContext(context.Background()); err != nil {
				t.Fatalf("%s: %v\n%s", strings.Join(tc.args, " "), err, errw.String())
			}
			if !strings.Contains(out.String(), tc.want) {
				t.Errorf("output %q, want %q", out.String(), tc.want)
			}
		})
	}
}

// The CLI speaks to a person: user create reads GATEHOUSE_USER_PASSWORD
// and names the refused field; migrate down asks for --yes.
func TestToolsForPeople(t *testing.T) {
	cfgPath := writeToolConfig(t, "")
	run := func(args ...string) (string, error) {
		var out, errw bytes.Buffer
		root := newRoot(&out, &errw)
		root.SetArgs(append(args, "--config", cfgPath))
		err := root.ExecuteContext(context.Background())
		return out.String(), err
	}
	t.Setenv("GATEHOUSE_USER_PASSWORD", "long-enough-1")
	if out, err := run("user", "create", "--email", "env@example.com"); err != nil || !strings.Contains(out, "env@example.com") {
		t.Fatalf("user create with GATEHOUSE_USER_PASSWORD: %q %v", out, err)
	}
	if _, err := run("user", "create", "--email", "not-an-email"); err == nil || !strings.Contains(err.Error(), "--email: not a valid email address") {
		t.Errorf("a bad email: %v", err)
	}
	t.Setenv("GATEHOUSE_USER_PASSWORD", "")
	if _, err := run("user", "create", "--email", "nopw@example.com"); err == nil || !strings.Contains(err.Error(), "GATEHOUSE_USER_PASSWORD") {
		t.Errorf("no password: %v", err)
	}
	var out, errw bytes.Buffer
	root := newRoot(&out, &errw)
	root.SetIn(strings.NewReader("long-enough-3\n"))
	root.SetArgs([]string{"user", "create", "--email", "stdin@example.com", "--config", cfgPath})
	if err := root.ExecuteContext(context.Background()); err != nil || !strings.Contains(out.String(), "stdin@example.com") {
		t.Errorf("password on standard input: %q %v", out.String(), err)
	}
	// Down to the first migration, which needs --yes.
	for {
		out, err := run("migrate", "down")
		if err != nil {
			if !strings.Contains(err.Error(), "--yes") {
				t.Fatalf("migrate down: %v", err)
			}
			break
		}
		if !strings.Contains(out, "rolled back") || strings.Contains(out, "00001") {
			t.Fatalf("migrate down: %q", out)
		}
	}
	if out, err := run("migrate", "status"); err != nil || !strings.Contains(out, "00001_initial.sql") || !strings.Contains(out, "applied") {
		t.Fatalf("the first migration went away without --yes: %q %v", out, err)
	}
	if out, err := run("migrate", "down", "--yes"); err != nil || !strings.Contains(out, "00001_initial") {
		t.Fatalf("migrate down --yes: %q %v", out, err)
	}
}

// version names the build: the version, and the commit when the binary
// was built from a git checkout (make build stamps it).
func TestVersionLine(t *testing.T) {
	var out bytes.Buffer
	root := newRoot(&out, &out)
	root.SetArgs([]string{"version"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); !strings.HasPrefix(got, "gatehouse ") || !strings.Contains(got, runtime.Version()) {
		t.Errorf("version printed %q", got)
	}
}

// The demo secret of the shipped gateway.yaml serves only on loopback.
func TestDemoSecretOnlyOnLoopback(t *testing.T) {
	for host, ok := range map[string]bool{"127.0.0.1": true, "localhost": true, "::1": true, "auth.example.com": false, "10.0.0.5": false} {
		if loopback(host) != ok {
			t.Errorf("loopback(%q) = %v", host, !ok)
		}
	}
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "gateway.yaml")
	yaml := fmt.Sprintf(`server: { public_url: "https://auth.example.com" }
secret: %s-0123456789abcdef
database: { driver: sqlite, dsn: "file:%s" }
routes: [ { name: app, upstream: "http://127.0.0.1:3000" } ]
`, demoSecretMark, filepath.Join(dir, "demo.db"))
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	root := newRoot(&out, &out)
	root.SetArgs([]string{"serve", "--config", cfgPath})
	err := root.ExecuteContext(context.Background())
	if err == nil || !strings.Contains(err.Error(), "demo secret") {
		t.Fatalf("serve with the demo secret on a public host: %v", err)
	}
}

// writeToolConfig writes a small gateway.yaml on a fresh SQLite database,
// with extra (top-level YAML, e.g. a server section) after the secret,
// and returns its path.
func writeToolConfig(t *testing.T, extra string) string {
	t.Helper()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "gateway.yaml")
	yaml := fmt.Sprintf(`secret: 0123456789abcdef0123456789abcdef
%sdatabase: { driver: sqlite, dsn: "file:%s" }
accounts:
  password: { argon2: { memory_kib: 8192, iterations: 1, parallelism: 1 } }
routes:
  - name: app
    upstream: http://127.0.0.1:3000
`, extra, filepath.Join(dir, "gatehouse.db"))
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfgPath
}
