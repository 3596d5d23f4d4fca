package main

import (
	"bytes"
	"flag"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/api.md from docs/openapi.yaml")

// TestAPIDocIsRendered fails when docs/api.md is not what apidoc renders
// from docs/openapi.yaml (go test ./tools/apidoc -update, or
// go run ./tools/apidoc, refreshes it).
func TestAPIDocIsRendered(t *testing.T) {
	const in, out = "../../docs/openapi.yaml", "../../docs/api.md"
	want, err := RenderFile(in)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(out, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("%v (go run ./tools/apidoc writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("docs/api.md is not what docs/openapi.yaml renders: run go run ./tools/apidoc (or go test ./tools/apidoc -update) and commit it")
	}
}

func TestAnchor(t *testing.T) {
	for in, want := range map[string]string{"sign-in": "sign-in", "2FA": "2fa", "Objects": "objects", "forward-auth": "forward-auth"} {
		if got := anchor(in); got != want {
			t.Errorf("anchor(%q) = %q, want %q", in, got, want)
		}
	}
}
