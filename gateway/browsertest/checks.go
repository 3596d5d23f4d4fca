package browsertest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
)

// AxePath is axe-core's script inside the repository, installed by
// scripts/test.sh (npm ci --prefix tools/browser).
const AxePath = "tools/browser/node_modules/axe-core/axe.min.js"

// Violation is one axe-core rule a page breaks.
type Violation struct {
	ID     string     `json:"id"`
	Impact string     `json:"impact"`
	Help   string     `json:"help"`
	Nodes  []AxeNodes `json:"nodes"`
}

// AxeNodes is an element a rule fails on.
type AxeNodes struct {
	Target  string `json:"target"`
	HTML    string `json:"html"`
	Summary string `json:"summary"`
}

// Serious reports whether a violation fails the check (SPEC §7: no
// serious or critical violation).
func (v Violation) Serious() bool { return v.Impact == "serious" || v.Impact == "critical" }

func (v Violation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s): %s", v.ID, v.Impact, v.Help)
	for _, n := range v.Nodes {
		fmt.Fprintf(&b, "\n      %s %s", n.Target, n.HTML)
		if n.Summary != "" {
			fmt.Fprintf(&b, " — %s", strings.Join(strings.Fields(n.Summary), " "))
		}
	}
	return b.String()
}

var axeSource struct {
	once sync.Once
	src  string
	err  error
}

// axeScript is axe-core's source, read once.
func axeScript() (string, error) {
	axeSource.once.Do(func() {
		root, err := RepoRoot()
		if err != nil {
			axeSource.err = err
			return
		}
		b, err := os.ReadFile(filepath.Join(root, AxePath))
		if err != nil {
			axeSource.err = fmt.Errorf("axe-core is not installed (npm ci --prefix tools/browser; scripts/test.sh does): %w", err)
			return
		}
		axeSource.src = string(b)
	})
	return axeSource.src, axeSource.err
}

const axeRun = `(async () => {
  const r = await axe.run(document, {resultTypes: ['violations']});
  return r.violations.map(v => ({id: v.id, impact: v.impact || '', help: v.help,
    nodes: v.nodes.map(n => ({target: [].concat(n.target).join(' '), html: (n.html || '').slice(0, 160), summary: n.failureSummary || ''}))}));
})()`

// AxeViolations runs axe-core in the page shown and returns every
// violation it finds.
func (tb *Tab) AxeViolations() ([]Violation, error) {
	src, err := axeScript()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(tb.ctx, 2*tb.Timeout)
	defer cancel()
	var vs []Violation
	err = chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tt *chromedp.Target) error {
		if tb.noJS {
			// axe-core needs timers, which a page without scripts does
			// not run: allow them for the check only. The page's own
			// scripts ran (or not) when it loaded; nothing reruns them.
			if err := scripts(ctx, tt, true); err != nil {
				return err
			}
			defer func() { _ = scripts(context.WithoutCancel(ctx), tt, false) }()
		}
		if _, err := chromedp.Evaluate[chromedp.Void](`if (!window.axe) {`+src+"\n}")(ctx, tt); err != nil {
			return err
		}
		var err error
		vs, err = chromedp.Evaluate[[]Violation](axeRun, chromedp.EvalAwaitPromise)(ctx, tt)
		return err
	}))
	return vs, err
}

// Axe fails t on any serious or critical axe-core violation of the page
// shown, listing each rule with its impact and elements. Without
// axe-core installed it fails when Required, else it only logs.
func (tb *Tab) Axe(t testing.TB) {
	t.Helper()
	vs, err := tb.AxeViolations()
	if err != nil {
		if _, serr := axeScript(); serr != nil && !Required() {
			t.Logf("browsertest: no accessibility check: %v", serr)
			return
		}
		t.Fatalf("browsertest: axe-core at %s: %v", tb.URL(), err)
	}
	var bad []string
	for _, v := range vs {
		if v.Serious() {
			bad = append(bad, "  "+v.String())
		}
	}
	if len(bad) > 0 {
		t.Errorf("browsertest: axe-core finds %d serious or critical violation(s) at %s (%s, %d px):\n%s",
			len(bad), tb.URL(), tb.scheme(), tb.width, strings.Join(bad, "\n"))
	}
}

// Overflow is the widths of the page shown: the document's scroll width
// and its client width, and the elements reaching past the right edge.
type Overflow struct {
	ScrollWidth int      `json:"scroll"`
	ClientWidth int      `json:"client"`
	Wide        []string `json:"wide"`
}

const overflowJS = `(() => {
  const d = document.documentElement, cw = d.clientWidth, wide = [];
  for (const el of document.body ? document.body.querySelectorAll('*') : []) {
    const r = el.getBoundingClientRect();
    if (r.right > cw + 0.5 && wide.length < 5) {
      wide.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
        (typeof el.className === 'string' && el.className ? '.' + el.className.trim().split(/\s+/).join('.') : '') +
        ' (right edge ' + Math.round(r.right) + ')');
    }
  }
  return {scroll: d.scrollWidth, client: cw, wide};
})()`

// Overflow measures the page shown at the tab's width.
func (tb *Tab) Overflow() (Overflow, error) {
	ctx, cancel := context.WithTimeout(tb.ctx, tb.Timeout)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[Overflow](overflowJS))
}

// NoHorizontalScroll fails t when the page shown scrolls sideways at the
// tab's current width (document scrollWidth above clientWidth).
func (tb *Tab) NoHorizontalScroll(t testing.TB) {
	t.Helper()
	o, err := tb.Overflow()
	if err != nil {
		t.Fatalf("browsertest: measure %s: %v", tb.URL(), err)
	}
	if o.ScrollWidth > o.ClientWidth {
		t.Errorf("browsertest: %s scrolls sideways at %d px: scrollWidth %d > clientWidth %d; too wide: %s",
			tb.URL(), tb.width, o.ScrollWidth, o.ClientWidth, strings.Join(o.Wide, ", "))
	}
}

var shots struct {
	sync.Mutex
	dir string
}

// ShotsDir is the run's screenshot folder: $GATEHOUSE_SCREENSHOTS, else
// a new temporary folder; the first call prints it.
func ShotsDir() (string, error) {
	shots.Lock()
	defer shots.Unlock()
	if shots.dir != "" {
		return shots.dir, nil
	}
	dir := os.Getenv("GATEHOUSE_SCREENSHOTS")
	var err error
	if dir != "" {
		err = os.MkdirAll(dir, 0o755)
	} else {
		dir, err = os.MkdirTemp("", "gatehouse-screenshots-")
	}
	if err != nil {
		return "", err
	}
	shots.dir = dir
	fmt.Printf("browsertest: screenshots in %s\n", dir)
	return dir, nil
}

// Screenshot saves a full-page PNG of the page shown as
// <ShotsDir>/<test>/<name>-<width>-<scheme>.png and returns its path.
func (tb *Tab) Screenshot(name string) string {
	tb.t.Helper()
	dir, err := ShotsDir()
	if err != nil {
		tb.t.Fatalf("browsertest: screenshot folder: %v", err)
	}
	dir = filepath.Join(dir, sanitize(tb.t.Name()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.t.Fatalf("browsertest: %v", err)
	}
	ctx, cancel := context.WithTimeout(tb.ctx, tb.Timeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		tb.fail(fmt.Sprintf("Screenshot(%q)", name), err)
	}
	path := filepath.Join(dir, fmt.Sprintf("%s-%d-%s.png", sanitize(name), tb.width, tb.scheme()))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		tb.t.Fatalf("browsertest: %v", err)
	}
	tb.t.Logf("browsertest: screenshot %s", path)
	return path
}

func (tb *Tab) scheme() string {
	if tb.dark {
		return "dark"
	}
	return "light"
}

// Inspect runs the checks SPEC §7 asks of every page on the page shown:
// axe-core in the light and the dark scheme, no sideways scrolling at
// Phone width, and screenshots at Desktop and Phone width in both
// schemes, named name. The tab's width and scheme are restored after.
func (tb *Tab) Inspect(t testing.TB, name string) {
	t.Helper()
	width, dark := tb.width, tb.dark
	defer func() {
		if tb.width != width || tb.dark != dark {
			tb.width, tb.dark = width, dark
			tb.do("restore the viewport", chromedp.Func(tb.emulate))
		}
	}()
	for _, d := range []bool{false, true} {
		tb.SetDark(d)
		tb.SetWidth(Desktop)
		tb.Axe(t)
		tb.Screenshot(name)
		tb.SetWidth(Phone)
		tb.NoHorizontalScroll(t)
		tb.Screenshot(name)
	}
}
