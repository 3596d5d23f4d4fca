// Package browsertest drives a real headless Chromium from Go tests, so a
// test of a hosted page is a person clicking through it: open a page, fill
// fields by their name, click buttons by their text, wait for the next
// page. It adds the checks SPEC §7 asks of every page: axe-core finds no
// serious or critical violation, nothing scrolls sideways at 390 px, and
// full-page screenshots land in one folder per run.
//
// One browser process serves a test package (Shared starts it on first
// use; Main closes it); every Tab is a fresh browser context with its own
// cookies. Host names under gatehouse.test resolve to 127.0.0.1, so a test
// can put the sign-in pages and the app on two origins:
//
//	func TestMain(m *testing.M) { os.Exit(browsertest.Main(m)) }
//
//	tab := browsertest.Shared(t).NewTab(t)
//	tab.Open(base + "/auth/sign-in?rd=/app")
//	tab.Fill("email", "ada@example.com")
//	tab.Fill("password", "Correct-Horse-9")
//	tab.Click("Sign in")
//	tab.WaitURL(base + "/app")
//	tab.Inspect("sign-in") // axe light and dark, 390 px, screenshots
//
// Debian's chromium and axe-core (npm, tools/browser) are installed by
// scripts/test.sh. Without a browser the tests skip, or fail when
// CI=true or GATEHOUSE_REQUIRE_SERVERS=1.
package browsertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestDomain is the domain whose host names (auth.gatehouse.test,
// app.gatehouse.test, …) the shared browser resolves to 127.0.0.1.
const TestDomain = "gatehouse.test"

// Options start a browser.
type Options struct {
	// ExecPath is the browser binary; "" finds Debian's chromium.
	ExecPath string
	// HostRules is Chromium's --host-resolver-rules, e.g.
	// "MAP *.gatehouse.test 127.0.0.1"; "" maps nothing.
	HostRules string
}

// Browser is one running headless Chromium.
type Browser struct {
	ctx     context.Context // the browser's first tab; new tabs derive from it
	cancel  func()
	dataDir string
}

// Start launches a browser with a fresh profile. The flags keep Chromium
// off the network on its own (no background connections, QUIC,
// component updates or sync), which a closed network would refuse anyway.
func Start(o Options) (*Browser, error) {
	path := o.ExecPath
	if path == "" {
		path = ExecPath()
	}
	if path == "" {
		return nil, errNoBrowser
	}
	dir, err := os.MkdirTemp("", "gatehouse-chromium-")
	if err != nil {
		return nil, err
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(dir),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-features", "Translate,MediaRouter,OptimizationHints"),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("use-mock-keychain", true),
		chromedp.WindowSize(1280, 900),
	}
	if o.HostRules != "" {
		opts = append(opts, chromedp.Flag("host-resolver-rules", o.HostRules))
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, bcancel := chromedp.NewContext(actx)
	if err := chromedp.Do(bctx); err != nil { // starts the browser
		bcancel()
		acancel()
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("start %s: %w", path, err)
	}
	b := &Browser{ctx: bctx, dataDir: dir}
	b.cancel = func() {
		bcancel()
		acancel()
		_ = os.RemoveAll(dir)
	}
	return b, nil
}

// Close ends the browser and removes its profile.
func (b *Browser) Close() { b.cancel() }

var errNoBrowser = errors.New("no Chromium found (set GATEHOUSE_CHROMIUM, or install Debian's chromium: scripts/test.sh does)")

// ExecPath is the browser the tests use: $GATEHOUSE_CHROMIUM, else the
// first of chromium, chromium-browser on PATH; "" when there is none.
func ExecPath() string {
	if p := os.Getenv("GATEHOUSE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// Required reports whether a missing browser (or axe-core) fails the
// tests instead of skipping them: CI=true or GATEHOUSE_REQUIRE_SERVERS=1,
// as for Postgres and Redis.
func Required() bool {
	return os.Getenv("CI") == "true" || os.Getenv("GATEHOUSE_REQUIRE_SERVERS") == "1"
}

var shared struct {
	sync.Mutex
	b   *Browser
	err error
}

// Shared is the test package's browser, started on first use with
// *.gatehouse.test mapped to 127.0.0.1. It skips the test under -short
// (make test-unit) and, unless Required, when no browser is installed.
func Shared(t testing.TB) *Browser {
	t.Helper()
	if testing.Short() {
		t.Skip("browser test: make test runs it, make test-unit (-short) does not")
	}
	shared.Lock()
	defer shared.Unlock()
	if shared.b == nil && shared.err == nil {
		shared.b, shared.err = Start(Options{HostRules: "MAP *." + TestDomain + " 127.0.0.1"})
	}
	if shared.err != nil {
		if Required() {
			t.Fatalf("browsertest: %v", shared.err)
		}
		t.Skipf("browsertest: %v", shared.err)
	}
	return shared.b
}

// Main runs the package's tests, then closes the shared browser (and
// removes its profile). Use it from TestMain.
func Main(m *testing.M) int {
	code := m.Run()
	shared.Lock()
	if shared.b != nil {
		shared.b.Close()
		shared.b = nil
	}
	shared.Unlock()
	return code
}

// RepoRoot is the folder of the nearest go.mod above the working
// directory (a test's working directory is its package folder).
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		up := filepath.Dir(dir)
		if up == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = up
	}
}

// sanitize makes a test or page name a file name.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, s)
}
