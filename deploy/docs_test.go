package deploy_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDocsStandAlone: the repository documents itself. No README, doc,
// example or shipped config points at a file outside it (../shared) or at
// the working contract's section numbers, which a clone does not have.
func TestDocsStandAlone(t *testing.T) {
	files := []string{"../README.md", "../CHANGELOG.md", "../SECURITY.md", "../gateway.yaml", "../docker-compose.yaml"}
	for _, dir := range []string{"../docs", "../deploy", "../examples"} {
		_ = filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() {
				if e != nil && e.Name() == "node_modules" {
					return filepath.SkipDir
				}
				return err
			}
			switch filepath.Ext(p) {
			case ".md", ".yaml", ".yml", ".tpl", ".txt", ".mjs", ".json":
				if !strings.HasSuffix(p, "_test.go") {
					files = append(files, p)
				}
			}
			return nil
		})
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, "../shared") || strings.Contains(line, "SPEC §") || strings.Contains(line, "SPEC.md") {
				t.Errorf("%s:%d points outside the repository: %s", f, i+1, strings.TrimSpace(line))
			}
		}
	}
	if len(files) < 20 {
		t.Fatalf("read only %d files", len(files))
	}
}
