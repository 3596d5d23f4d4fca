package config

import (
	"os"
	"strings"
	"testing"
)

// Every gateway.yaml example of docs/oidc-provider.md (a ```yaml block
// that starts with oidc_provider:) loads and validates on top of a minimal
// config, so that the recipes cannot drift from the code.
func TestOIDCProviderDocExamples(t *testing.T) {
	doc, err := os.ReadFile("../docs/oidc-provider.md")
	if err != nil {
		t.Fatal(err)
	}
	// Any ${VAR} a snippet uses (client secrets) is set, to a value long
	// enough for client_secret.
	env := func(string) (string, bool) { return strings.Repeat("0123456789abcdef", 2), true }
	minimal := "secret: " + strings.Repeat("s", 40) + "\nroutes: [{name: app, upstream: \"http://127.0.0.1:3000\"}]\n"

	rest, n := string(doc), 0
	for {
		_, after, ok := strings.Cut(rest, "```yaml\n")
		if !ok {
			break
		}
		block, tail, ok := strings.Cut(after, "```")
		if !ok {
			t.Fatal("a ```yaml block is not closed")
		}
		rest = tail
		if !strings.HasPrefix(block, "oidc_provider:") {
			continue
		}
		n++
		cfg, err := Parse([]byte(minimal+block), env)
		if err != nil {
			t.Errorf("example %d does not load: %v\n%s", n, err, block)
			continue
		}
		p := cfg.OIDCProvider
		if !p.Enabled || len(p.Clients) == 0 {
			t.Errorf("example %d: enabled %v with %d clients, want enabled with at least one\n%s", n, p.Enabled, len(p.Clients), block)
		}
	}
	if n < 5 {
		t.Errorf("docs/oidc-provider.md has %d oidc_provider: examples, want at least 5", n)
	}
}
