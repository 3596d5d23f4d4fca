package app_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"gatehouse/gateway/gatewaytest"
)

// reactAdminDir holds the pinned react-admin packages (package.json and
// package-lock.json) and check.mjs, from this package's directory.
const reactAdminDir = "../../../tools/reactadmin"

// providerBlock is the data provider's code block in docs/admin.md.
var providerBlock = regexp.MustCompile("(?s)```js\n(import simpleRestProvider.*?export const gatehouseDataProvider.*?)```")

// TestReactAdminDataProvider runs react-admin's ra-data-simple-rest,
// wrapped by the very code block of docs/admin.md, against a real
// Gatehouse: every data provider call, each answer checked by ra-core's
// validateResponseFormat (tools/reactadmin/check.mjs). The packages are
// installed with npm ci once per package-lock.json, under the user's cache
// directory. Without node and npm the test is skipped, unless CI or
// GATEHOUSE_REQUIRE_SERVERS asks for every server.
func TestReactAdminDataProvider(t *testing.T) {
	node, npm := lookTool(t, "node"), lookTool(t, "npm")
	doc, err := os.ReadFile("../../../docs/admin.md")
	if err != nil {
		t.Fatal(err)
	}
	m := providerBlock.FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/admin.md has no data provider block")
	}
	dir := installReactAdmin(t, npm)
	if err := os.WriteFile(filepath.Join(dir, "provider.mjs"), m[1], 0o644); err != nil {
		t.Fatal(err)
	}
	check, err := os.ReadFile(filepath.Join(reactAdminDir, "check.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "check.mjs"), check, 0o644); err != nil {
		t.Fatal(err)
	}

	backends(t, func(t *testing.T, backend string) {
		s := newStack(t, backend, nil)
		email := uniqueEmail("ra-admin")
		s.signUp(s.client(), email)
		r := s.client().post("/auth/login", map[string]any{"email": email, "password": pw, "session": "token"})
		expect(t, r, 200, "")
		cmd := exec.Command(node, "check.mjs")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GATEHOUSE_ADMIN_URL="+s.Base+"/auth/admin", "GATEHOUSE_TOKEN="+r.str("access_token"),
			"RA_VALIDATE="+filepath.Join(dir, "node_modules/ra-core/dist/dataProvider/validateResponseFormat.js"))
		out, err := cmd.CombinedOutput()
		if err != nil || !bytes.HasPrefix(bytes.TrimSpace(out), []byte("ok ")) {
			t.Fatalf("node check.mjs: %v\n%s", err, out)
		}
		t.Logf("%s", bytes.TrimSpace(out))
	})
}

// lookTool finds a program on PATH, or skips (fails when servers are
// required).
func lookTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if gatewaytest.RequireServers() {
			t.Fatalf("%s not found: %v", name, err)
		}
		t.Skipf("%s not found: %v", name, err)
	}
	return p
}

// installReactAdmin installs the pinned packages with npm ci into a
// directory of the user's cache named by the lock file's hash, once; it
// returns that directory.
func installReactAdmin(t *testing.T, npm string) string {
	t.Helper()
	lock, err := os.ReadFile(filepath.Join(reactAdminDir, "package-lock.json"))
	if err != nil {
		t.Fatal(err)
	}
	pkg, err := os.ReadFile(filepath.Join(reactAdminDir, "package.json"))
	if err != nil {
		t.Fatal(err)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	sum := sha256.Sum256(append(pkg, lock...))
	dir := filepath.Join(cache, "gatehouse", "reactadmin-"+hex.EncodeToString(sum[:8]))
	done := filepath.Join(dir, ".installed")
	if _, err := os.Stat(done); err == nil {
		return dir
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"package.json": pkg, "package-lock.json": lock} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	began := time.Now()
	cmd := exec.Command(npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		msg := "npm ci: " + err.Error() + "\n" + strings.TrimSpace(string(out))
		if gatewaytest.RequireServers() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if err := os.WriteFile(done, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("installed react-admin packages in %s (%v)", dir, time.Since(began).Round(time.Millisecond))
	return dir
}
