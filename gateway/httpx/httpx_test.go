package httpx

import (
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/google/go-cmp/cmp"

	"gatehouse/gateway"
)

type body struct {
	Email string `json:"email"`
	N     int    `json:"n"`
}

// run posts payload with contentType through h and returns what h wrote:
// the decoded body as JSON, or the error's fields.
func run(t *testing.T, h func(c *fiber.Ctx) (any, error), contentType, payload string) (any, map[string]string) {
	t.Helper()
	app := fiber.New()
	var got any
	var fields map[string]string
	app.Post("/", func(c *fiber.Ctx) error {
		v, err := h(c)
		var ge *gateway.Error
		if errors.As(err, &ge) {
			fields = ge.Fields
		} else if err != nil {
			t.Fatalf("error %v is not a *gateway.Error", err)
		}
		got = v
		return nil
	})
	req := httptest.NewRequest("POST", "/", strings.NewReader(payload))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := app.Test(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return got, fields
}

func TestBind(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
		payload     string
		want        body
		wantFields  map[string]string
	}{
		{name: "json", contentType: "application/json", payload: `{"email":"a@b.c","n":2}`, want: body{Email: "a@b.c", N: 2}},
		{name: "empty body", contentType: "application/json", payload: ``, want: body{}},
		{name: "form", contentType: "application/x-www-form-urlencoded", payload: `email=a%40b.c`, want: body{Email: "a@b.c"}},
		{name: "malformed", contentType: "application/json", payload: `{"email":`, wantFields: map[string]string{"body": "malformed JSON"}},
		{name: "wrong type", contentType: "application/json", payload: `{"n":"two"}`, wantFields: map[string]string{"n": "has the wrong type"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, fields := run(t, func(c *fiber.Ctx) (any, error) {
				var b body
				err := Bind(c, &b)
				return b, err
			}, tc.contentType, tc.payload)
			if diff := cmp.Diff(tc.wantFields, fields); diff != "" {
				t.Fatalf("fields (-want +got):\n%s", diff)
			}
			if tc.wantFields == nil {
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("body (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestBindStrict(t *testing.T) {
	tests := []struct {
		name       string
		payload    string
		wantFields map[string]string
	}{
		{name: "known keys", payload: `{"email":"a@b.c"}`},
		{name: "unknown keys, all named", payload: `{"email":"a","role":"admin","id":"x"}`, wantFields: map[string]string{
			"role": "unknown field; allowed: email, n", "id": "unknown field; allowed: email, n"}},
		{name: "not an object", payload: `[1]`, wantFields: map[string]string{"body": "malformed JSON"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, fields := run(t, func(c *fiber.Ctx) (any, error) {
				var b body
				return nil, BindStrict(c, &b, "email", "n")
			}, "application/json", tc.payload)
			if diff := cmp.Diff(tc.wantFields, fields); diff != "" {
				t.Errorf("fields (-want +got):\n%s", diff)
			}
		})
	}
}

func TestClientKinds(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
		accept      string
		wantForm    bool
		wantHTML    bool
	}{
		{name: "browser form", contentType: "application/x-www-form-urlencoded", accept: "text/html,*/*", wantForm: true, wantHTML: true},
		{name: "multipart", contentType: "multipart/form-data; boundary=x", wantForm: true},
		{name: "api", contentType: "application/json", accept: "application/json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			app := fiber.New()
			var form, html bool
			app.Post("/", func(c *fiber.Ctx) error { form, html = IsForm(c), AcceptsHTML(c); return nil })
			req := httptest.NewRequest("POST", "/", strings.NewReader(""))
			req.Header.Set("Content-Type", tc.contentType)
			req.Header.Set("Accept", tc.accept)
			if _, err := app.Test(req); err != nil {
				t.Fatal(err)
			}
			if form != tc.wantForm || html != tc.wantHTML {
				t.Errorf("IsForm, AcceptsHTML = %v, %v; want %v, %v", form, html, tc.wantForm, tc.wantHTML)
			}
		})
	}
}

func TestClip(t *testing.T) {
	tests := []struct {
		name string
		in   string
		n    int
		want string
	}{
		{name: "short", in: "ab", n: 3, want: "ab"},
		{name: "cut", in: "abcdef", n: 3, want: "abc"},
		{name: "a rune split by the cut", in: "aé", n: 2, want: "a"},
		{name: "a three-byte rune at the end", in: "ab€", n: 4, want: "ab"},
		{name: "invalid UTF-8", in: "a\xffb", n: 10, want: "a\uFFFDb"},
		{name: "NUL", in: "a\x00b", n: 10, want: "a\uFFFDb"},
		{name: "the replacement is cut whole", in: "ab\xff", n: 3, want: "ab"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Clip(tc.in, tc.n)
			if got != tc.want {
				t.Errorf("Clip(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
			}
			if !utf8.ValidString(got) || strings.IndexByte(got, 0) >= 0 || len(got) > tc.n {
				t.Errorf("Clip(%q, %d) = %q is not storable text of at most %d bytes", tc.in, tc.n, got, tc.n)
			}
		})
	}
}
