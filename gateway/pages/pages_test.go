package pages

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"

	"gatehouse/config"
	"gatehouse/gateway"
)

func testApp(t *testing.T) (*fiber.App, *Pages) {
	t.Helper()
	ui := config.Default().UI
	ui.ProductName = "Acme"
	p := MustNew(Options{UI: ui, AuthPrefix: "/auth", PublicURL: "https://id.example.com",
		RouteHosts: []string{"app.example.com"}, TrustedOrigins: []string{"https://portal.example.org"}})
	app := fiber.New()
	p.Mount(app.Group("/auth"))
	return app, p
}

func do(t *testing.T, app *fiber.App, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := app.Test(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestPlainPages(t *testing.T) {
	app, _ := testApp(t)
	tests := []struct {
		name     string
		target   string
		want     []string
		wantNot  []string
		wantCode int
	}{
		{name: "sign-in", target: "/auth/sign-in", want: []string{"Sign in", "Acme"}, wantCode: 200},
		{name: "known error", target: "/auth/sign-in?error=email_required", want: []string{"did not share an email"}, wantCode: 200},
		{name: "unknown error text is never shown", target: "/auth/sign-in?error=%3Cscript%3E", wantNot: []string{"<script>"}, wantCode: 200},
		{name: "notice", target: "/auth/reset-password?notice=sent", want: []string{"a code is on its way"}, wantCode: 200},
		{name: "own pages are not plain", target: "/auth/account", wantCode: 404},
		{name: "verification page", target: "/auth/verify-email?email=ann%40example.com", want: []string{"ann@example.com", `action="/auth/verify-email"`, "Send a new code"}, wantCode: 200},
		{name: "sign-out page without a session", target: "/auth/sign-out", want: []string{"You are signed out", `href="/auth/sign-in"`}, wantCode: 200},
		{name: "code sign-in asks for the email first", target: "/auth/sign-in/code", want: []string{`action="/auth/login/code"`, `name="email"`}, wantNot: []string{`name="code"`}, wantCode: 200},
		{name: "code sign-in's second step", target: "/auth/sign-in/code?email=ann%40example.com&rd=%2Fx", want: []string{`action="/auth/login/code/verify"`, `name="code"`, `value="/x"`}, wantCode: 200},
		{name: "an unknown invite says so", target: "/auth/sign-up?invite=nope", want: []string{"not valid any more"}, wantCode: 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(t, app, httptest.NewRequest("GET", tc.target, nil))
			if resp.StatusCode != tc.wantCode {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.wantCode)
			}
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("body lacks %q", w)
				}
			}
			for _, w := range tc.wantNot {
				if strings.Contains(body, w) {
					t.Errorf("body has %q", w)
				}
			}
			if tc.wantCode == 200 {
				if got := resp.Header.Get("Cache-Control"); got != "no-store" {
					t.Errorf("Cache-Control %q", got)
				}
				if got := resp.Header.Get("Content-Security-Policy"); !strings.Contains(got, "frame-ancestors 'none'") {
					t.Errorf("CSP %q", got)
				}
				if got := resp.Header.Get("Referrer-Policy"); got == "no-referrer" {
					t.Error("Referrer-Policy no-referrer makes Chromium post Origin: null")
				}
			}
		})
	}
}

func TestForm(t *testing.T) {
	app, p := testApp(t)
	app.Post("/auth/login", p.Form("sign-in", func(c *fiber.Ctx) string { return p.URL("account", nil) }, func(c *fiber.Ctx) error {
		switch c.FormValue("password") {
		case "right":
			return c.JSON(fiber.Map{"ok": true})
		case "boom":
			return gateway.Internal(io.ErrUnexpectedEOF)
		case "field":
			return gateway.ValidationFailed(map[string]string{"email": "not a valid email address"})
		}
		e := gateway.InvalidCredentials()
		left := 2
		e.AttemptsRemaining = &left
		return e
	}))
	tests := []struct {
		name         string
		contentType  string
		body         string
		wantCode     int
		wantLocation string
		wantBody     string
	}{
		{name: "form success is a 303", contentType: fiber.MIMEApplicationForm, body: "password=right", wantCode: 303, wantLocation: "https://id.example.com/auth/account"},
		{name: "form error re-renders the page with the email kept", contentType: fiber.MIMEApplicationForm, body: "email=ann%40example.com&password=wrong", wantCode: 401, wantBody: "ann@example.com"},
		{name: "the error is a sentence with the tries left", contentType: fiber.MIMEApplicationForm, body: "email=ann%40example.com&password=wrong", wantCode: 401, wantBody: "do not match. 2 tries left"},
		{name: "a field's problem is tied to it", contentType: fiber.MIMEApplicationForm, body: "email=nope&password=field", wantCode: 400, wantBody: `aria-invalid="true" aria-describedby="email-error"`},
		{name: "a password is never shown again", contentType: fiber.MIMEApplicationForm, body: "email=a%40b.c&password=s3cret-Value", wantCode: 401, wantBody: `name="password" type="password" autocomplete="current-password" required >`},
		{name: "a 5xx is not rendered", contentType: fiber.MIMEApplicationForm, body: "password=boom", wantCode: 500},
		{name: "json goes to the handler", contentType: fiber.MIMEApplicationJSON, body: `{}`, wantCode: 401, wantBody: "invalid_credentials"},
	}
	app2 := fiber.New(fiber.Config{ErrorHandler: func(c *fiber.Ctx, err error) error {
		if ge, ok := err.(*gateway.Error); ok {
			return c.Status(ge.Status).JSON(ge.Body())
		}
		return c.SendStatus(500)
	}})
	app2.Mount("/", app)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("POST", "/auth/login", strings.NewReader(tc.body))
			req.Header.Set("Content-Type", tc.contentType)
			resp, body := do(t, app2, req)
			if resp.StatusCode != tc.wantCode {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.wantCode, body)
			}
			if got := resp.Header.Get("Location"); got != tc.wantLocation {
				t.Errorf("Location %q, want %q", got, tc.wantLocation)
			}
			if !strings.Contains(body, tc.wantBody) {
				t.Errorf("body lacks %q: %s", tc.wantBody, body)
			}
		})
	}
}

func TestFormSecretsNotEchoed(t *testing.T) {
	app, p := testApp(t)
	app.Post("/auth/login", p.Form("sign-in", nil, func(c *fiber.Ctx) error { return gateway.InvalidCredentials() }))
	req := httptest.NewRequest("POST", "/auth/login", strings.NewReader("email=a%40b.c&password=s3cret-Value"))
	req.Header.Set("Content-Type", fiber.MIMEApplicationForm)
	_, body := do(t, app, req)
	if strings.Contains(body, "s3cret-Value") {
		t.Fatal("the page shows the password again")
	}
}

// The CSP lets a form's 303 reach every rd target: public_url, trusted
// origins and route hosts on any port.
func TestFormActionAllowsRDTargets(t *testing.T) {
	app, _ := testApp(t)
	resp, _ := do(t, app, httptest.NewRequest("GET", "/auth/sign-in", nil))
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"form-action 'self' https://id.example.com", "https://portal.example.org", "https://app.example.com:*", "http://app.example.com:*"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP lacks %q: %s", want, csp)
		}
	}
}

func TestBranding(t *testing.T) {
	ui := config.Default().UI
	ui.ProductName, ui.LogoURL, ui.PrimaryColor, ui.HomeURL = "Acme ID", "https://cdn.acme.test/logo.svg", "#0b6e4f", "https://acme.test/home"
	p := MustNew(Options{UI: ui, AuthPrefix: "/auth", PublicURL: "https://id.acme.test"})
	app := fiber.New()
	p.Mount(app.Group("/auth"))
	resp, body := do(t, app, httptest.NewRequest("GET", "/auth/sign-in", nil))
	for _, want := range []string{"<title>Sign in · Acme ID</title>", `<img src="https://cdn.acme.test/logo.svg" alt="Acme ID">`, "--primary:#0b6e4f", `href="https://acme.test/home"`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "img-src 'self' data: https://cdn.acme.test") {
		t.Errorf("CSP does not allow the logo: %s", csp)
	}
}

func TestLanguage(t *testing.T) {
	app, _ := testApp(t)
	resp, body := do(t, app, httptest.NewRequest("GET", "/auth/sign-in?lang=de", nil))
	if !strings.Contains(body, `<html lang="de">`) || !strings.Contains(body, "Passwort") {
		t.Fatalf("?lang=de gave no German page: %.300s", body)
	}
	var cookie string
	for _, c := range resp.Cookies() {
		if c.Name == LangCookie {
			cookie = c.Value
		}
	}
	if cookie != "de" {
		t.Fatalf("language cookie %q", cookie)
	}
	req := httptest.NewRequest("GET", "/auth/sign-in", nil)
	req.Header.Set("Cookie", LangCookie+"=de")
	req.Header.Set("Accept-Language", "fr")
	if _, body := do(t, app, req); !strings.Contains(body, `<html lang="de">`) {
		t.Error("the cookie does not win over Accept-Language")
	}
	req = httptest.NewRequest("GET", "/auth/sign-in", nil)
	req.Header.Set("Accept-Language", "es-MX,es;q=0.9")
	if _, body := do(t, app, req); !strings.Contains(body, `<html lang="es">`) {
		t.Error("Accept-Language es-MX did not pick es")
	}
	if _, body := do(t, app, httptest.NewRequest("GET", "/auth/sign-in?lang=xx", nil)); !strings.Contains(body, `<html lang="en">`) {
		t.Error("an unknown ?lang= did not fall back to the default")
	}
}

func TestTemplatesDir(t *testing.T) {
	ui := config.Default().UI
	ui.TemplatesDir = t.TempDir()
	write := func(name, src string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(ui.TemplatesDir, name), []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("sign-in.html", `{{template "head" .}}<p>Our own sign-in for {{.Product}}</p>{{template "foot" .}}`)
	write("verify_email.txt", "mail templates are the mailer's")
	p, err := New(Options{UI: ui, AuthPrefix: "/auth", PublicURL: "https://id.example.com", OtherTemplates: []string{"verify_email.txt"}})
	if err != nil {
		t.Fatal(err)
	}
	app := fiber.New()
	p.Mount(app.Group("/auth"))
	if _, body := do(t, app, httptest.NewRequest("GET", "/auth/sign-in", nil)); !strings.Contains(body, "Our own sign-in for Gatehouse") {
		t.Errorf("override not used: %.200s", body)
	}
	write("layout.html", `{{define "head"}}<main>{{end}}{{define "foot"}}</main>{{end}}`)
	if _, err := New(Options{UI: ui, AuthPrefix: "/auth", PublicURL: "https://x", OtherTemplates: []string{"verify_email.txt"}}); err != nil {
		t.Errorf("a layout override was refused: %v", err)
	}
	write("sign-inn.html", "typo")
	_, err = New(Options{UI: ui, AuthPrefix: "/auth", PublicURL: "https://x", OtherTemplates: []string{"verify_email.txt"}})
	if err == nil || !strings.Contains(err.Error(), "sign-inn.html") {
		t.Errorf("unknown name: %v", err)
	}
	os.Remove(filepath.Join(ui.TemplatesDir, "sign-inn.html"))
	write("sign-up.html", "{{if}")
	_, err = New(Options{UI: ui, AuthPrefix: "/auth", PublicURL: "https://x", OtherTemplates: []string{"verify_email.txt"}})
	if err == nil || !strings.Contains(err.Error(), filepath.Join(ui.TemplatesDir, "sign-up.html")) {
		t.Errorf("parse error: %v", err)
	}
}
