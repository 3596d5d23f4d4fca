package browsertest

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// DefaultTimeout bounds every action of a tab: a missing element or a
// page that never comes fails the test after it, with what the tab shows.
const DefaultTimeout = 15 * time.Second

// navStart is how long Click waits for a navigation to begin before it
// takes the click for one that stays on the page.
const navStart = 2 * time.Second

// Widths a test looks at: a laptop and a phone (SPEC §7: nothing wider
// than 390 CSS px).
const (
	Desktop = 1280
	Phone   = 390
)

// Tab is one browser tab in a browser context of its own (own cookies,
// storage and cache), bound to the test that opened it. Its actions fail
// that test on error; none waits longer than Timeout.
type Tab struct {
	t       testing.TB
	ctx     context.Context
	cancel  func()
	Timeout time.Duration
	width   int
	dark    bool
	noJS    bool
}

// TabOption sets up a tab.
type TabOption func(*Tab)

// NoJavaScript turns script execution off in the tab's pages (the checks'
// own evaluations still run: they come from DevTools, not the page).
func NoJavaScript() TabOption { return func(tb *Tab) { tb.noJS = true } }

// Dark makes the tab prefer the dark colour scheme.
func Dark() TabOption { return func(tb *Tab) { tb.dark = true } }

// Width sets the tab's viewport width in CSS px (default Desktop).
func Width(px int) TabOption { return func(tb *Tab) { tb.width = px } }

// NewTab opens a tab in a fresh browser context; it closes when t ends.
func (b *Browser) NewTab(t testing.TB, opts ...TabOption) *Tab {
	t.Helper()
	tb := &Tab{t: t, Timeout: DefaultTimeout, width: Desktop}
	for _, o := range opts {
		o(tb)
	}
	tb.ctx, tb.cancel = chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(tb.cancel)
	// The first run opens the tab and binds it to the context it gets:
	// the tab's own, never one with a timeout.
	if err := chromedp.Do(tb.ctx); err != nil {
		t.Fatalf("browsertest: open a tab: %v", err)
	}
	tb.do("set up the tab", chromedp.Func(func(ctx context.Context, tt *chromedp.Target) error {
		if tb.noJS {
			if err := scripts(ctx, tt, false); err != nil {
				return err
			}
		}
		if err := tb.emulate(ctx, tt); err != nil {
			return err
		}
		return nil
	}))
	return tb
}

// scripts turns the page's script execution on or off.
func scripts(ctx context.Context, tt *chromedp.Target, on bool) error {
	_, err := cdp.Call(ctx, tt, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: !on})
	return err
}

// emulate applies the tab's width and colour scheme.
func (tb *Tab) emulate(ctx context.Context, tt *chromedp.Target) error {
	height := int64(900)
	if tb.width < 600 {
		height = 844
	}
	if _, err := chromedp.EmulateViewport(int64(tb.width), height)(ctx, tt); err != nil {
		return err
	}
	scheme := "light"
	if tb.dark {
		scheme = "dark"
	}
	_, err := cdp.Call(ctx, tt, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
	})
	return err
}

// SetWidth changes the viewport width (CSS px) of the page shown.
func (tb *Tab) SetWidth(px int) {
	tb.t.Helper()
	tb.width = px
	tb.do(fmt.Sprintf("SetWidth(%d)", px), chromedp.Func(tb.emulate))
}

// SetDark switches the preferred colour scheme of the page shown.
func (tb *Tab) SetDark(on bool) {
	tb.t.Helper()
	tb.dark = on
	tb.do(fmt.Sprintf("SetDark(%v)", on), chromedp.Func(tb.emulate))
}

// JavaScript reports whether the tab's pages run scripts.
func (tb *Tab) JavaScript() bool { return !tb.noJS }

// Open loads rawURL and waits for it (and its redirects) to load.
func (tb *Tab) Open(rawURL string) {
	tb.t.Helper()
	tb.do(fmt.Sprintf("Open(%q)", rawURL), chromedp.Navigate(rawURL))
}

// Fill types value into a field, after clearing it, as a person would.
// field is a form field's name attribute (email, password, code, …) or a
// CSS selector.
func (tb *Tab) Fill(field, value string) {
	tb.t.Helper()
	sel := chromedp.CSS(fieldSelector(field))
	tb.do(fmt.Sprintf("Fill(%q)", field),
		chromedp.Focus(sel),
		chromedp.KeyEvent("a", chromedp.KeyModifiers(kb.ModifierCtrl)),
		chromedp.KeyEvent(kb.Delete),
		chromedp.SendKeys(sel, value),
	)
}

// Value is the current value of a field (name attribute or CSS selector).
func (tb *Tab) Value(field string) string {
	tb.t.Helper()
	var v string
	tb.do(fmt.Sprintf("Value(%q)", field), chromedp.Func(func(ctx context.Context, tt *chromedp.Target) error {
		var err error
		v, err = chromedp.Value(chromedp.CSS(fieldSelector(field)))(ctx, tt)
		return err
	}))
	return v
}

// Click clicks a button or link by its visible text ("Sign in"), or the
// first element a CSS selector matches, and when that starts a
// navigation (a form post, a link) waits until the next page has loaded.
func (tb *Tab) Click(target string) {
	tb.t.Helper()
	what := fmt.Sprintf("Click(%q)", target)
	var click chromedp.Action[chromedp.Void]
	if isCSS(target) {
		click = chromedp.Click(chromedp.CSS(target))
	} else {
		click = chromedp.Click(chromedp.Search(textXPath(target)))
	}
	tb.do(what, chromedp.Func(func(ctx context.Context, tt *chromedp.Target) error {
		tree, err := cdp.Call(ctx, tt, page.GetFrameTree, cdp.Empty{})
		if err != nil {
			return err
		}
		main := tree.FrameTree.Frame.ID
		sctx, scancel := context.WithTimeout(ctx, navStart)
		defer scancel()
		started := chromedp.Events(sctx, page.FrameStartedLoading)
		stopped := chromedp.Events(ctx, page.FrameStoppedLoading)
		if _, err := click(ctx, tt); err != nil {
			return err
		}
		navigating := false
		for ev, err := range started {
			if err != nil {
				break // none began: the click stayed on the page
			}
			if ev.FrameID == main {
				navigating = true
				break
			}
		}
		if !navigating {
			return nil
		}
		for ev, err := range stopped {
			if err != nil {
				return fmt.Errorf("the page after the click did not load: %w", err)
			}
			if ev.FrameID == main {
				return nil
			}
		}
		return nil
	}))
}

// URL is the address of the page shown.
func (tb *Tab) URL() string {
	tb.t.Helper()
	u, err := tb.location(tb.ctx)
	if err != nil {
		tb.fail("URL()", err)
	}
	return u
}

// location reads the current history entry (works with scripts off).
func (tb *Tab) location(ctx context.Context) (string, error) {
	h, err := chromedp.Run(ctx, chromedp.NavigationEntries())
	if err != nil {
		return "", err
	}
	if h.CurrentIndex < 0 || int(h.CurrentIndex) >= len(h.Entries) {
		return "", fmt.Errorf("no current history entry")
	}
	return h.Entries[h.CurrentIndex].URL, nil
}

// WaitURL waits until the page's address starts with prefix.
func (tb *Tab) WaitURL(prefix string) {
	tb.t.Helper()
	tb.WaitURLFunc(fmt.Sprintf("an address starting with %q", prefix), func(u *url.URL) bool {
		return strings.HasPrefix(u.String(), prefix)
	})
}

// WaitURLFunc waits until ok holds for the page's address; want says
// what ok looks for, for the failure message.
func (tb *Tab) WaitURLFunc(want string, ok func(u *url.URL) bool) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, tb.Timeout)
	defer cancel()
	last := ""
	for {
		loc, err := tb.location(ctx)
		if err == nil {
			last = loc
			if u, perr := url.Parse(loc); perr == nil && ok(u) {
				return
			}
		}
		select {
		case <-ctx.Done():
			tb.fail("WaitURL", fmt.Errorf("want %s, the tab stays at %s", want, last))
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Text is the visible text of the first element selector (CSS) matches.
func (tb *Tab) Text(selector string) string {
	tb.t.Helper()
	var s string
	tb.do(fmt.Sprintf("Text(%q)", selector), chromedp.Func(func(ctx context.Context, tt *chromedp.Target) error {
		var err error
		s, err = chromedp.Text(chromedp.CSS(selector))(ctx, tt)
		return err
	}))
	return strings.TrimSpace(s)
}

// HasText reports whether the page shows s (in its visible text) now.
func (tb *Tab) HasText(s string) bool {
	tb.t.Helper()
	return strings.Contains(tb.PageText(), s)
}

// WaitText waits until the page shows s.
func (tb *Tab) WaitText(s string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, tb.Timeout)
	defer cancel()
	for {
		if text, err := tb.pageText(ctx); err == nil && strings.Contains(text, s) {
			return
		}
		select {
		case <-ctx.Done():
			tb.fail(fmt.Sprintf("WaitText(%q)", s), fmt.Errorf("the text does not appear"))
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// WaitFor waits until an element matching the CSS selector is visible.
func (tb *Tab) WaitFor(selector string) {
	tb.t.Helper()
	tb.do(fmt.Sprintf("WaitFor(%q)", selector), chromedp.WaitVisible(chromedp.CSS(selector)))
}

// Has reports whether an element matches the CSS selector now.
func (tb *Tab) Has(selector string) bool {
	tb.t.Helper()
	n := 0
	tb.do(fmt.Sprintf("Has(%q)", selector), chromedp.Func(func(ctx context.Context, tt *chromedp.Target) error {
		var err error
		n, err = chromedp.Evaluate[int](fmt.Sprintf("document.querySelectorAll(%s).length", jsString(selector)))(ctx, tt)
		return err
	}))
	return n > 0
}

// Attr is the attribute name of the first element selector matches, and
// whether it has one.
func (tb *Tab) Attr(selector, name string) (string, bool) {
	tb.t.Helper()
	var r chromedp.AttributeResult
	tb.do(fmt.Sprintf("Attr(%q, %q)", selector, name), chromedp.Func(func(ctx context.Context, tt *chromedp.Target) error {
		var err error
		r, err = chromedp.AttributeValue(chromedp.CSS(selector), name)(ctx, tt)
		return err
	}))
	return r.Value, r.Exists
}

// PageText is the page's visible text.
func (tb *Tab) PageText() string {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, tb.Timeout)
	defer cancel()
	s, err := tb.pageText(ctx)
	if err != nil {
		tb.fail("PageText()", err)
	}
	return s
}

func (tb *Tab) pageText(ctx context.Context) (string, error) {
	return chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
}

// Eval evaluates a JavaScript expression in the page (from DevTools, so
// it runs with the page's scripts off too) and decodes its value into T.
func Eval[T any](tb *Tab, expr string) T {
	tb.t.Helper()
	var v T
	tb.do("Eval", chromedp.Func(func(ctx context.Context, tt *chromedp.Target) error {
		var err error
		v, err = chromedp.Evaluate[T](expr)(ctx, tt)
		return err
	}))
	return v
}

// do runs steps within Timeout, failing the test with what the tab shows.
// Do runs DevTools actions in the tab (what names them in a failure),
// e.g. a virtual WebAuthn authenticator for passkey tests.
func (tb *Tab) Do(what string, steps ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	tb.do(what, steps...)
}

func (tb *Tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, tb.Timeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		tb.fail(what, err)
	}
}

// fail ends the test with the action, the error, the address and the
// start of the page's text.
func (tb *Tab) fail(what string, err error) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 3*time.Second)
	defer cancel()
	loc, lerr := tb.location(ctx)
	if lerr != nil {
		loc = "(unknown: " + lerr.Error() + ")"
	}
	text, terr := tb.pageText(ctx)
	if terr != nil {
		text = "(unreadable: " + terr.Error() + ")"
	}
	tb.t.Fatalf("browsertest: %s: %v\n  at: %s\n  page text: %s", what, err, loc, excerpt(text, 600))
}

func excerpt(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n] + "…"
	}
	if s == "" {
		return "(empty)"
	}
	return s
}

var plainName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_\-]*$`)

// fieldSelector is the CSS selector of a field given by name or selector.
func fieldSelector(field string) string {
	if plainName.MatchString(field) {
		return fmt.Sprintf("[name=%q]", field)
	}
	return field
}

// isCSS tells a CSS selector from a button's text: selectors start with
// #, ., [ or hold one of [=>:.
func isCSS(s string) bool {
	return strings.HasPrefix(s, "#") || strings.HasPrefix(s, ".") || strings.HasPrefix(s, "[") ||
		strings.ContainsAny(s, "[]=>:")
}

// textXPath finds a button, submit input or link by its visible text.
func textXPath(text string) string {
	q := xpathString(text)
	return fmt.Sprintf(`//button[normalize-space(.)=%[1]s] | //input[(@type="submit" or @type="button") and normalize-space(@value)=%[1]s] | //a[normalize-space(.)=%[1]s]`, q)
}

func xpathString(s string) string {
	if !strings.Contains(s, `"`) {
		return `"` + s + `"`
	}
	return `'` + strings.ReplaceAll(s, `'`, ``) + `'`
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`, "\u2028", `\u2028`, "\u2029", `\u2029`)
	return `"` + r.Replace(s) + `"`
}
