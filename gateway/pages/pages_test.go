package pages

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"

	"gatehouse/gateway"
)

func testApp(t *testing.T) (*fiber.App, *Pages) {
	t.Helper()
	p := New(Options{ProductName: "Acme", AuthPrefix: "/auth", PublicURL: "https://id.example.com"})
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
		}
		return gateway.InvalidCredentials()
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
