package auth_test

import (
	"net/url"
	"strings"
	"testing"

	"gatehouse/config"
	"gatehouse/gateway/auth/authtest"
)

// FuzzSafeRedirect: SafeRedirect returns "/" or the rd it was given
// (trimmed), never anything with a control character or a backslash
// (it goes into Location as is), and what it returns, resolved against
// public_url as a browser resolves a Location, lands on public_url's
// origin or a trusted origin: never on another host, never with user info,
// never with a scheme other than http or https.
func FuzzSafeRedirect(f *testing.F) {
	e := authtest.New(f, func(cfg *config.Config) {
		cfg.Server.TrustedOrigins = []string{"https://app.example.com"}
	})
	allowed := map[string]bool{"http://gatehouse.test": true, "https://app.example.com": true}
	base, _ := url.Parse("http://gatehouse.test/auth/sign-in")
	for _, s := range []string{
		"", "/", "/app?x=1", "//evil.example/x", "/\\evil.example", "/a\r\nSet-Cookie: x=1",
		"http://gatehouse.test/x", "https://app.example.com/y", "https://evil.example/",
		"https://app.example.com@evil.example/", "javascript:alert(1)", "/a\x00b", " /x ",
		"HTTPS://APP.EXAMPLE.COM/z", "http://gatehouse.test:80/x", "/%2f%2fevil.example", "///evil",
		"http:evil.example", "https://app.example.com./x", "/\t/evil.example", "http://[::1]/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rd string) {
		got := e.Core.SafeRedirect(rd)
		if got != "/" && got != strings.TrimSpace(rd) {
			t.Fatalf("SafeRedirect(%q) = %q: neither / nor rd", rd, got)
		}
		if strings.IndexFunc(got, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\\' }) >= 0 {
			t.Fatalf("SafeRedirect(%q) = %q: a control character or backslash", rd, got)
		}
		ref, err := url.Parse(got)
		if err != nil {
			t.Fatalf("SafeRedirect(%q) = %q, which does not parse: %v", rd, got, err)
		}
		u := base.ResolveReference(ref)
		if u.User != nil {
			t.Fatalf("SafeRedirect(%q) = %q: user info", rd, got)
		}
		if origin := strings.ToLower(u.Scheme + "://" + u.Host); !allowed[origin] {
			t.Fatalf("SafeRedirect(%q) = %q: lands on %s", rd, got, origin)
		}
	})
}
