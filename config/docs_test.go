package config

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestConfigurationDocDefaults holds docs/configuration.md's "every key,
// with its default" block equal to the effective config of minimal.yaml
// (testdata/minimal.golden), so the reference cannot drift from the code.
func TestConfigurationDocDefaults(t *testing.T) {
	doc, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(doc), "<!-- effective-defaults -->\n```yaml\n")
	if !ok {
		t.Fatal("docs/configuration.md has no effective-defaults block")
	}
	block, _, ok := strings.Cut(after, "```")
	if !ok {
		t.Fatal("the effective-defaults block is not closed")
	}
	golden, err := os.ReadFile("testdata/minimal.golden")
	if err != nil {
		t.Fatal(err)
	}
	_, want, _ := strings.Cut(string(golden), "\n") // the "# effective config" line
	if diff := cmp.Diff(strings.TrimSpace(want), strings.TrimSpace(block)); diff != "" {
		t.Errorf("docs/configuration.md differs from testdata/minimal.golden (-golden +doc):\n%s", diff)
	}
}

// docs/pages.md's ui: example loads, and the refusal it quotes is the one
// Validate gives.
func TestPagesDocUIExample(t *testing.T) {
	doc, err := os.ReadFile("../docs/pages.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(doc), "## Branding\n\n```yaml\n")
	if !ok {
		t.Fatal("docs/pages.md has no ui: example under Branding")
	}
	block, rest, _ := strings.Cut(after, "```")
	cfg, err := Parse([]byte("secret: "+strings.Repeat("s", 40)+"\nroutes: [{name: app, upstream: \"http://127.0.0.1:3000\"}]\n"+block), nil)
	if err != nil {
		t.Fatalf("the example does not load: %v", err)
	}
	if cfg.UI.ProductName != "Acme" || cfg.UI.PrimaryColor != "#0b6e4f" {
		t.Errorf("the example loaded as %+v", cfg.UI)
	}
	_, quoted, ok := strings.Cut(rest, "`ui.primary_color: ")
	if !ok {
		t.Fatal("docs/pages.md quotes no primary_color refusal")
	}
	quoted, _, _ = strings.Cut(quoted, "`")
	bad := *Default()
	bad.UI.PrimaryColor = "#7fb3ff"
	var e Errors
	bad.UI.validate(&e)
	if err := e.err(); err == nil || !strings.Contains(err.Error(), quoted) {
		t.Errorf("Validate says %v, the doc quotes %q", err, quoted)
	}
}
