package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
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
		{name: "keys rotate", args: []string{"keys", "rotate"}, want: ""},
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
