package config

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"
)

var update = flag.Bool("update", false, "rewrite config/testdata/*.golden")

// goldenEnv is the environment the testdata files are loaded with.
var goldenEnv = env{
	"GATEHOUSE_SECRET": testSecret,
	"DOMAIN":           "example.com",
	"PGPASSWORD":       "pg-password",
	"REDIS_PASSWORD":   "redis-password",
	"SMTP_PASSWORD":    "smtp-password",
	"GOOGLE_SECRET":    "google-secret",
	"GITHUB_SECRET":    "github-secret",
	"OIDC_SECRET":      "oidc-secret",
	"WEBHOOK_SECRET":   whsec,
}

// TestGolden parses each testdata/*.yaml and compares the effective
// config (secrets redacted), or the problems as `config check` would
// print them, with the .golden file beside it. Refresh with
// `go test ./config -update`.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			got := render(t, src)
			golden := strings.TrimSuffix(file, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./config -update)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("%s (-want +got):\n%s", golden, diff)
			}
			for _, secret := range goldenEnv {
				if secret != "example.com" && strings.Contains(got, secret) {
					t.Errorf("%s shows a secret", golden)
				}
			}
		})
	}
}

// render is the effective config as YAML, or one "gateway.yaml:LINE: path:
// message" line per problem.
func render(t *testing.T, src []byte) string {
	t.Helper()
	cfg, err := Parse(src, goldenEnv.lookup)
	if err == nil {
		out, err := yaml.Marshal(cfg)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		return "# effective config\n" + string(out)
	}
	var b strings.Builder
	b.WriteString("# problems\n")
	for _, p := range problems(t, err) {
		fmt.Fprintf(&b, "gateway.yaml:%d: %s\n", p.Line, p)
	}
	return b.String()
}

func problems(t *testing.T, err error) []Problem {
	t.Helper()
	errs, ok := err.(*Errors)
	if !ok {
		t.Fatalf("error %T (%v) is not an *Errors", err, err)
	}
	return errs.Problems
}
