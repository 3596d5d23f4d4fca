package auth

import (
	"bytes"
	"embed"
	"errors"
	"html/template"
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"

	"gatehouse/gateway"
	"gatehouse/gateway/httpx"
)

// The hosted pages: server-rendered, no JavaScript needed. Their forms post
// form-encoded bodies to the JSON API's own handlers; for a form post the
// handler's success becomes a 303 to the next page and its error re-renders
// the page with the message.

//go:embed pages/*.html
var pageFS embed.FS

var pages = template.Must(template.ParseFS(pageFS, "pages/*.html"))

// pageData is what every page template sees.
type pageData struct {
	Product string
	Prefix  string
	Title   string
	Error   string
	Notice  string
	Email   string
	RD      string
	Code    string
	Roles   []string
	// Workspaces and Active fill the workspace picker.
	Workspaces []WorkspaceJSON
	Active     string
}

// hostedPages are the pages and their titles.
// Pages with own is true have a handler of their own (they need the
// caller); the others are plain forms served by pageHandler.
var hostedPages = []struct {
	name, title string
	own         bool
}{
	{"sign-in", "Sign in", false},
	{"sign-up", "Create an account", false},
	{"verify", "Verify your email", false},
	{"forgot-password", "Reset your password", false},
	{"reset-password", "Choose a new password", false},
	{"onboarding", "Welcome", true},
	{"workspaces", "Workspaces", true},
	{"mfa", "Two-step verification", true},
	{"account", "Your account", true},
}

func pageTitle(name string) string {
	for _, p := range hostedPages {
		if p.name == name {
			return p.title
		}
	}
	return ""
}

func (s *Service) renderPage(c *fiber.Ctx, status int, name string, d pageData) error {
	d.Product, d.Prefix, d.Title = s.o.ProductName, s.o.AuthPrefix, pageTitle(name)
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name+".html", d); err != nil {
		return gateway.Internal(err)
	}
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	c.Set("Cache-Control", "no-store")
	c.Set("X-Frame-Options", "DENY")
	c.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	return c.Status(status).Send(buf.Bytes())
}

// form wraps a JSON handler for the hosted pages: for a form post, success
// redirects (303) to next(c) and an error re-renders page with its message.
func (s *Service) form(page string, next func(c *fiber.Ctx) string, h fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if !httpx.IsForm(c) {
			return h(c)
		}
		d := pageData{Email: c.FormValue("email"), RD: c.FormValue("rd"), Code: c.FormValue("code")}
		if err := h(c); err != nil {
			var ge *gateway.Error
			if !errors.As(err, &ge) || ge.Status >= 500 {
				return err
			}
			d.Error = formMessage(ge)
			c.Response().ResetBody()
			return s.renderPage(c, ge.Status, page, d)
		}
		if c.Response().StatusCode() >= 400 {
			return nil
		}
		c.Response().ResetBody()
		return c.Redirect(next(c), fiber.StatusSeeOther)
	}
}

// formMessage is the human message for an error on a page.
func formMessage(e *gateway.Error) string {
	if len(e.Fields) > 0 {
		var parts []string
		for k, v := range e.Fields {
			parts = append(parts, k+": "+v)
		}
		return strings.Join(parts, "; ")
	}
	return e.Message
}

func (s *Service) pageHandler(name string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		d := pageData{Email: c.Query("email"), RD: c.Query("rd")}
		switch c.Query("notice") {
		case "reset":
			d.Notice = "Your password was changed. Sign in with the new one."
		case "sent":
			d.Notice = "If the address has an account, a code is on its way."
		}
		d.Error = pageErrors[c.Query("error")] // only known codes: no text injection
		return s.renderPage(c, fiber.StatusOK, name, d)
	}
}

// pageErrors are the messages a redirect may ask a page to show.
var pageErrors = map[string]string{
	"account_exists": "An account with this email exists. Sign in to it, then link the provider from your account.",
	"email_required": "The provider did not share an email address.",
	"provider_error": "The sign-in provider refused or failed. Try again.",
}

// afterSignIn is where a signed-in browser goes: a safe rd, else "/".
func (s *Service) afterSignIn(c *fiber.Ctx) string {
	return s.safeRedirect(c.FormValue("rd"))
}

func (s *Service) pageURL(page string, q url.Values) string {
	u := s.public + s.o.AuthPrefix + "/" + page
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}
