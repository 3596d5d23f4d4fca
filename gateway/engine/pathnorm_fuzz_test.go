package engine

import (
	"strings"
	"testing"
)

// FuzzNormalisePath: a path NormalisePath accepts comes back starting
// with "/", without "." or ".." segments, repeated slashes, a backslash,
// an encoded slash or backslash, or a control byte (raw or encoded), and
// normalising it again changes nothing (what is matched is what is
// forwarded, and the upstream's own normalisation has nothing left to do).
func FuzzNormalisePath(f *testing.F) {
	for _, s := range []string{
		"/", "", "app", "/app/x", "//app///x", "/app/a/../b/./c", "/app/%2e%2e/other",
		"/%61pp/%7Ex", "/app/a%20b", "/app/a%2Fb", "/a%5cb", "/a\\b", "/a%00", "/a\x00b",
		"/a%zz", "/a%", "/a%2", "/.%2e/x", "/%2e", "/..", "/../../etc/passwd", "/a/.", "/a/..",
		"/admin;x", "/ADMIN", "/admin.", "/a%252e%252e/", "/%%34%31", "/a/%2E%2E%2f", "/\x7f",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		p, err := NormalisePath(raw)
		if err != nil {
			if p != "" {
				t.Errorf("NormalisePath(%q) = %q with error %v", raw, p, err)
			}
			return
		}
		if !strings.HasPrefix(p, "/") {
			t.Fatalf("NormalisePath(%q) = %q: no leading slash", raw, p)
		}
		if strings.Contains(p, "//") || strings.ContainsRune(p, '\\') {
			t.Errorf("NormalisePath(%q) = %q: repeated slash or backslash", raw, p)
		}
		for _, seg := range strings.Split(p, "/") {
			if seg == "." || seg == ".." {
				t.Errorf("NormalisePath(%q) = %q: dot segment", raw, p)
			}
		}
		for i := 0; i < len(p); i++ {
			if isControl(p[i]) {
				t.Errorf("NormalisePath(%q) = %q: control byte %#x", raw, p, p[i])
			}
		}
		up := strings.ToUpper(p)
		for _, enc := range []string{"%2F", "%5C", "%00", "%7F", "%0D", "%0A"} {
			if strings.Contains(up, enc) {
				t.Errorf("NormalisePath(%q) = %q: contains %s", raw, p, enc)
			}
		}
		again, err := NormalisePath(p)
		if err != nil || again != p {
			t.Errorf("NormalisePath(%q) = %q, but NormalisePath(%q) = %q, %v", raw, p, p, again, err)
		}
	})
}
