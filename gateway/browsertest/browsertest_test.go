package browsertest

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

const head = `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Test page</title>
<style>body{font:16px system-ui;margin:1rem;background:#fff;color:#111}
a{color:#1a4fb8}@media (prefers-color-scheme: dark){body{background:#111;color:#eee}a{color:#9cc1ff}}</style></head><body><main>`

// site is a small site with the shapes the harness must handle.
func site(t *testing.T) string {
	mux := http.NewServeMux()
	page := func(w http.ResponseWriter, body string) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; form-action 'self'")
		fmt.Fprint(w, head+body+"</main></body></html>")
	}
	mux.HandleFunc("GET /form", func(w http.ResponseWriter, r *http.Request) {
		page(w, `<h1>Sign in</h1><p id="js">no script</p>
<script>document.getElementById('js').textContent = 'script ran'</script>
<form method="post" action="/form"><label for="email">Email</label>
<input id="email" name="email" type="email" value="pre@example.com">
<label for="password">Password</label><input id="password" name="password" type="password">
<input type="hidden" name="rd" value="/done?x=1&amp;y=2"><button type="submit">Sign in</button></form>
<p><a href="/done">Elsewhere</a></p><button type="button" id="stay">Stay here</button>`)
	})
	mux.HandleFunc("POST /form", func(w http.ResponseWriter, r *http.Request) {
		if r.FormValue("password") != "right" {
			w.WriteHeader(http.StatusUnauthorized)
			page(w, `<h1>Sign in</h1><p role="alert">Wrong password for `+htmlEscape(r.FormValue("email"))+`</p>`)
			return
		}
		http.Redirect(w, r, r.FormValue("rd"), http.StatusSeeOther)
	})
	mux.HandleFunc("GET /done", func(w http.ResponseWriter, r *http.Request) {
		c, _ := r.Cookie("seen")
		http.SetCookie(w, &http.Cookie{Name: "seen", Value: "1", Path: "/"})
		page(w, fmt.Sprintf(`<h1>Done</h1><p id="q">%s</p><p id="host">%s</p><p id="cookie">%v</p>`,
			htmlEscape(r.URL.RawQuery), htmlEscape(r.Host), c != nil))
	})
	mux.HandleFunc("GET /inaccessible", func(w http.ResponseWriter, r *http.Request) {
		page(w, `<h1>Bad</h1><input name="nolabel"><p style="color:#bbb;background:#fff">faint text</p>`)
	})
	mux.HandleFunc("GET /dark-contrast", func(w http.ResponseWriter, r *http.Request) {
		// Readable in light mode only: dark mode keeps the dark text.
		page(w, `<style>@media (prefers-color-scheme: dark){p.x{color:#222}}</style><h1>Scheme</h1><p class="x">only light is readable</p>`)
	})
	mux.HandleFunc("GET /wide", func(w http.ResponseWriter, r *http.Request) {
		page(w, `<h1>Wide</h1><div id="banner" style="width:600px">a fixed-width banner</div>`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}

// recorder is a testing.TB whose Fatal ends only the goroutine running
// the action, so a test can see a check fail.
type recorder struct {
	testing.TB
	mu     sync.Mutex
	failed []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(f string, a ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = append(r.failed, fmt.Sprintf(f, a...))
}
func (r *recorder) Fatalf(f string, a ...any) { r.Errorf(f, a...); runtime.Goexit() }
func (r *recorder) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.failed) > 0
}

// failure runs f with a recorder and returns what it failed with.
func failure(t *testing.T, f func(r *recorder)) string {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() { defer close(done); f(r) }()
	<-done
	return strings.Join(r.failed, "\n")
}

func TestHarnessFormFlow(t *testing.T) {
	base := site(t)
	tab := Shared(t).NewTab(t)
	tab.Open(base + "/form")
	if got := tab.Text("#js"); got != "script ran" {
		t.Fatalf("scripts on: #js = %q", got)
	}
	if got := tab.Value("email"); got != "pre@example.com" {
		t.Fatalf("email = %q", got)
	}
	tab.Fill("email", "ada@example.com")
	tab.Fill("email", "ada@example.org") // a typed value is replaced too
	tab.Fill("password", "wrong")
	tab.Click("Sign in")
	if !tab.HasText("Wrong password for ada@example.org") {
		t.Fatalf("error page: %s", tab.PageText())
	}
	tab.Open(base + "/form")
	tab.Fill("password", "right")
	tab.Click("Sign in")
	tab.WaitURL(base + "/done?x=1&y=2")
	if got := tab.Text("#q"); got != "x=1&y=2" {
		t.Fatalf("query at the target = %q", got)
	}
	tab.Open(base + "/form")
	tab.WaitFor(`form:has([name="password"]) [type="submit"]`)
	tab.Click("Stay here") // no navigation: returns after navStart
	if !strings.HasSuffix(tab.URL(), "/form") {
		t.Fatalf("url = %s", tab.URL())
	}
	tab.Click("Elsewhere")
	tab.WaitURLFunc("the done page", func(u *url.URL) bool { return u.Path == "/done" })
}

func TestHarnessJavaScriptOff(t *testing.T) {
	base := site(t)
	tab := Shared(t).NewTab(t, NoJavaScript())
	tab.Open(base + "/form")
	if got := tab.Text("#js"); got != "no script" {
		t.Fatalf("scripts off: #js = %q", got)
	}
	tab.Fill("password", "right")
	tab.Click("Sign in")
	tab.WaitURL(base + "/done")
	if got := tab.Text("h1"); got != "Done" {
		t.Fatalf("h1 = %q", got)
	}
	tab.Axe(t) // axe-core runs from DevTools with the page's scripts off
	tab.Open(base + "/form")
	if got := tab.Text("#js"); got != "no script" {
		t.Fatalf("scripts back on after the check: #js = %q", got)
	}
}

func TestHarnessTabsHaveOwnCookies(t *testing.T) {
	base := site(t)
	b := Shared(t)
	a := b.NewTab(t)
	a.Open(base + "/done")
	a.Open(base + "/done")
	if a.Text("#cookie") != "true" {
		t.Fatal("the cookie did not stick in its tab")
	}
	other := b.NewTab(t)
	other.Open(base + "/done")
	if other.Text("#cookie") != "false" {
		t.Fatal("a new tab sees another tab's cookie")
	}
}

func TestHarnessHostNames(t *testing.T) {
	base := site(t)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(base, "http://"))
	tab := Shared(t).NewTab(t)
	tab.Open("http://app." + TestDomain + ":" + port + "/done")
	if got := tab.Text("#host"); got != "app."+TestDomain+":"+port {
		t.Fatalf("host = %q", got)
	}
}

func TestHarnessAxeFindsViolations(t *testing.T) {
	if _, err := axeScript(); err != nil && !Required() {
		t.Skip(err)
	}
	base := site(t)
	tab := Shared(t).NewTab(t)
	tab.Open(base + "/form")
	tab.Axe(t) // an accessible page passes
	tab.Open(base + "/inaccessible")
	got := failure(t, func(r *recorder) { tab.Axe(r) })
	for _, want := range []string{"label (critical)", "color-contrast (serious)", `<input name="nolabel">`} {
		if !strings.Contains(got, want) {
			t.Errorf("axe report lacks %q:\n%s", want, got)
		}
	}
	tab.Open(base + "/dark-contrast")
	tab.Axe(t)
	tab.SetDark(true)
	if !Eval[bool](tab, `matchMedia('(prefers-color-scheme: dark)').matches`) {
		t.Fatal("dark mode is not emulated")
	}
	if got := failure(t, func(r *recorder) { tab.Axe(r) }); !strings.Contains(got, "color-contrast") {
		t.Errorf("dark mode contrast not found: %q", got)
	}
}

func TestHarnessHorizontalScroll(t *testing.T) {
	base := site(t)
	tab := Shared(t).NewTab(t, Width(Phone))
	tab.Open(base + "/form")
	tab.NoHorizontalScroll(t)
	tab.Open(base + "/wide")
	got := failure(t, func(r *recorder) { tab.NoHorizontalScroll(r) })
	if !strings.Contains(got, "scrolls sideways at 390 px") || !strings.Contains(got, "div#banner") {
		t.Fatalf("overflow report: %q", got)
	}
	tab.SetWidth(Desktop)
	tab.NoHorizontalScroll(t)
}

func TestHarnessScreenshotAndInspect(t *testing.T) {
	base := site(t)
	tab := Shared(t).NewTab(t)
	tab.Open(base + "/form")
	p := tab.Screenshot("form")
	b, err := os.ReadFile(p)
	if err != nil || len(b) < 8 || string(b[1:4]) != "PNG" {
		t.Fatalf("screenshot %s: %v", p, err)
	}
	tab.Inspect(t, "form")
	for _, name := range []string{"form-1280-light.png", "form-390-light.png", "form-1280-dark.png", "form-390-dark.png"} {
		if _, err := os.Stat(strings.TrimSuffix(p, "form-1280-light.png") + name); err != nil {
			t.Error(err)
		}
	}
	if tab.width != Desktop || tab.dark {
		t.Fatalf("Inspect left the tab at %d px, dark %v", tab.width, tab.dark)
	}
}

func TestHarnessMissingElementFailsFast(t *testing.T) {
	base := site(t)
	tab := Shared(t).NewTab(t)
	tab.Open(base + "/form")
	tab.Timeout = time.Second
	start := time.Now()
	got := failure(t, func(r *recorder) {
		tab.t = r
		tab.Click("No such button")
	})
	tab.t = t
	if time.Since(start) > 10*time.Second {
		t.Fatalf("took %v", time.Since(start))
	}
	for _, want := range []string{`Click("No such button")`, "at: " + base + "/form", "page text: Sign in"} {
		if !strings.Contains(got, want) {
			t.Errorf("failure message lacks %q:\n%s", want, got)
		}
	}
	got = failure(t, func(r *recorder) {
		tab.t = r
		tab.WaitFor("#absent")
	})
	tab.t = t
	if !strings.Contains(got, `WaitFor("#absent")`) {
		t.Errorf("WaitFor failure: %s", got)
	}
	got = failure(t, func(r *recorder) {
		tab.t = r
		tab.WaitURL(base + "/never")
	})
	tab.t = t
	if !strings.Contains(got, "the tab stays at "+base+"/form") {
		t.Errorf("WaitURL failure: %s", got)
	}
}
