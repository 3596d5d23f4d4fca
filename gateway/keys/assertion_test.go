package keys

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestAssertionCache(t *testing.T) {
	clk := newFakeClock()
	o := testOptions(clk)
	k := load(t, openSQLite(t), o)
	const ttl = time.Minute
	c := NewAssertionCache(k, ttl, 0)
	a := Assertion{
		Issuer: "https://gh.example", Audience: "app", Subject: "u1", Email: "a@example.com",
		Role: "user", WorkspaceID: "w1", WorkspaceRole: "admin",
	}
	token := func(a Assertion) string {
		t.Helper()
		tok, err := c.Token(a)
		if err != nil {
			t.Fatalf("Token: %v", err)
		}
		return tok
	}

	first := token(a)
	parsed, err := k.Verify([]byte(first))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	got := map[string]any{}
	for _, name := range parsed.Keys() {
		var v any
		_ = parsed.Get(name, &v)
		if tm, ok := v.(time.Time); ok {
			v = tm.Unix()
		}
		got[name] = v
	}
	now := clk.Now().Unix()
	want := map[string]any{
		"iss": "https://gh.example", "aud": []string{"app"}, "sub": "u1", "email": "a@example.com",
		"role": "user", "wid": "w1", "wrole": "admin", "iat": now, "exp": now + 60,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("assertion claims (-want +got):\n%s", diff)
	}

	clk.Advance(ttl/2 - time.Second)
	if token(a) != first {
		t.Error("assertion not reused while more than half its ttl remains")
	}
	changed := a
	changed.Role = "admin"
	if token(changed) == first {
		t.Error("assertion reused for other claims")
	}
	clk.Advance(time.Second)
	second := token(a)
	if second == first {
		t.Error("assertion reused with half its ttl left")
	}

	// A new signing key makes a new assertion at once.
	if _, err := k.Rotate(t.Context()); err != nil {
		t.Fatal(err)
	}
	clk.Advance(o.ActivationDelay)
	third := token(a)
	if third == second || kidOf(t, []byte(third)) != k.SigningKeyID() {
		t.Errorf("after rotation got kid %s, want %s", kidOf(t, []byte(third)), k.SigningKeyID())
	}

	// Without a workspace, wid and wrole are left out.
	plain := a
	plain.WorkspaceID, plain.WorkspaceRole = "", ""
	p, err := k.Verify([]byte(token(plain)))
	if err != nil {
		t.Fatal(err)
	}
	if p.Has("wid") || p.Has("wrole") {
		t.Errorf("assertion without a workspace has claims %v", p.Keys())
	}
}

func TestAssertionCacheBounded(t *testing.T) {
	clk := newFakeClock()
	k := load(t, openSQLite(t), testOptions(clk))
	c := NewAssertionCache(k, time.Minute, 3)
	for i := range 10 {
		if _, err := c.Token(Assertion{Subject: string(rune('a' + i))}); err != nil {
			t.Fatal(err)
		}
		if n := len(c.m); n > 3 {
			t.Fatalf("cache holds %d entries, max 3", n)
		}
	}

	// A ttl under 2 s is never cached.
	short := NewAssertionCache(k, time.Second, 0)
	first, _ := short.Token(Assertion{Subject: "u"})
	clk.Advance(time.Second)
	if second, _ := short.Token(Assertion{Subject: "u"}); first == second || len(short.m) != 0 {
		t.Error("assertion with a 1s ttl was cached")
	}
}
