package gateway_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestCoreImportsNoModule holds the rule that only the composition root
// (cmd/gatehouse) imports modules: no package of the core (gateway/...,
// config) may depend, even indirectly, on a provider or a plugin. Test
// files may (they build registries with the modules they exercise).
func TestCoreImportsNoModule(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list over the module")
	}
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", "gatehouse/gateway/...", "gatehouse/config/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	var bad []string
	for _, p := range strings.Fields(string(out)) {
		if strings.HasPrefix(p, "gatehouse/providers/") || strings.HasPrefix(p, "gatehouse/plugins/") {
			bad = append(bad, p)
		}
	}
	if len(bad) > 0 {
		t.Errorf("the core depends on modules: %s", strings.Join(bad, ", "))
	}
	if !strings.Contains(string(out), "gatehouse/gateway/auth") {
		t.Errorf("go list did not list the core:\n%s", out)
	}
}
