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
