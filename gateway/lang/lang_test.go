package lang

import (
	"path"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// Every message of the English catalogue exists in every built-in
// language, with the same plural forms where English has them, and no
// language has ids English lacks.
func TestEveryMessageInEveryLanguage(t *testing.T) {
	en := catalogue(t, "en")
	if len(en) < 50 {
		t.Fatalf("English catalogue has %d messages", len(en))
	}
	for _, l := range Builtin[1:] {
		other := catalogue(t, l)
		for id, v := range en {
			w, ok := other[id]
			if !ok {
				t.Errorf("%s: no message %q", l, id)
				continue
			}
			if _, plural := v.(map[string]any); plural {
				if _, ok := w.(map[string]any); !ok {
					t.Errorf("%s: %q is not plural", l, id)
				}
			}
		}
		for id := range other {
			if _, ok := en[id]; !ok {
				t.Errorf("%s: %q is not an English message id", l, id)
			}
		}
	}
}

// catalogue is every message of language l, from all its files; an id
// in two files is an error.
func catalogue(t *testing.T, l string) map[string]any {
	t.Helper()
	all := map[string]any{}
	for _, f := range catalogueFiles(l) {
		raw, err := locales.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := yaml.Unmarshal(raw, &m); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for id, v := range m {
			if _, dup := all[id]; dup {
				t.Errorf("%s: %q is defined twice", f, id)
			}
			all[id] = v
		}
	}
	return all
}

// Each area's catalogue exists in every built-in language.
func TestAreasInEveryLanguage(t *testing.T) {
	areas := func(l string) []string {
		var out []string
		for _, f := range catalogueFiles(l)[1:] {
			out = append(out, strings.TrimSuffix(path.Base(f), "."+l+".yaml"))
		}
		return out
	}
	en := areas("en")
	for _, l := range Builtin[1:] {
		if got := areas(l); !slices.Equal(got, en) {
			t.Errorf("%s has areas %v, English %v", l, got, en)
		}
	}
}

func TestNegotiate(t *testing.T) {
	c, err := New(Builtin, "en")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ query, cookie, accept, want string }{
		{"", "", "", "en"},
		{"de", "fr", "es", "de"},
		{"xx", "fr", "es", "fr"},
		{"", "", "es-MX,es;q=0.9,en;q=0.5", "es"},
		{"", "", "fr-CA", "fr"},
		{"", "", "ja", "en"},
		{"", "zz", "de-AT;q=0.8, ja", "de"},
	} {
		if got := c.Negotiate(tc.query, tc.cookie, tc.accept); got != tc.want {
			t.Errorf("Negotiate(%q, %q, %q) = %q, want %q", tc.query, tc.cookie, tc.accept, got, tc.want)
		}
	}
}

func TestTranslateAndPlural(t *testing.T) {
	c, err := New(Builtin, "en")
	if err != nil {
		t.Fatal(err)
	}
	en := c.In("en")
	if got := en.T("error.invalid_code.remaining", "Count", 3); got != "That code is not right. 3 tries left." {
		t.Errorf("plural other: %q", got)
	}
	if got := en.T("error.invalid_code.remaining", "Count", 1); !strings.Contains(got, "1 try left") {
		t.Errorf("plural one: %q", got)
	}
	if got := en.T("action.continue_with", "Provider", "GitHub"); got != "Continue with GitHub" {
		t.Errorf("argument: %q", got)
	}
	if got := en.T("no.such.id"); got != "no.such.id" {
		t.Errorf("unknown id: %q", got)
	}
	if c.In("de").T("action.sign_in") == en.T("action.sign_in") {
		t.Error("German sign-in button is the English one")
	}
	if _, err := New([]string{"en", "ja"}, "en"); err == nil {
		t.Error("a language without messages was accepted")
	}
	if _, err := New([]string{"en"}, "de"); err == nil {
		t.Error("a default outside the languages was accepted")
	}
}
