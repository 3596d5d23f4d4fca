// Package pages renders Gatehouse's hosted pages (sign-in, sign-up,
// verification, password reset, onboarding, workspaces, two-step
// verification, account): server-rendered HTML that needs no JavaScript.
// Their forms post form-encoded bodies to the JSON API's own handlers;
// Form turns a handler's success into a 303 to the next page and its
// error into the page again with the message. Features own their
// handlers; this package owns the templates, their headers and the
// page URLs.
package pages

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

//go:embed templates/*.html
var templateFS embed.FS

var templates = template.Must(template.ParseFS(templateFS, "templates/*.html"))

// Data is what every page template sees.
type Data struct {
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
	Workspaces []Workspace
	Active     string
}

// Workspace is one entry of the workspace picker.
type Workspace struct {
	ID, Name, Role string
	IsOwner        bool
}

// hosted are the pages and their titles. Pages with own set have a
// handler of their own in a feature (they need the caller); the others
// are plain forms served by Plain.
var hosted = []struct {
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

// Title is a page's title ("" for an unknown page).
func Title(name string) string {
	for _, p := range hosted {
		if p.name == name {
			return p.title
		}
	}
	return ""
}

// Options say where the pages live and what they are called.
type Options struct {
	ProductName string
	AuthPrefix  string // server.auth_prefix
	PublicURL   string // server.public_url, without a trailing slash
}

// Pages renders the hosted pages.
type Pages struct {
	o Options
}

// New returns the pages of o.
func New(o Options) *Pages { return &Pages{o: o} }

// Mount serves the plain pages (those without a handler of their own).
func (p *Pages) Mount(r fiber.Router) {
	for _, h := range hosted {
		if !h.own {
			r.Get("/"+h.name, p.plain(h.name))
		}
	}
}

// Render answers the page name with d.
func (p *Pages) Render(c *fiber.Ctx, status int, name string, d Data) error {
	d.Product, d.Prefix, d.Title = p.o.ProductName, p.o.AuthPrefix, Title(name)
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, name+".html", d); err != nil {
		return gateway.Internal(err)
	}
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	c.Set("Cache-Control", "no-store")
	c.Set("X-Frame-Options", "DENY")
	c.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	return c.Status(status).Send(buf.Bytes())
}

// RenderOwn renders a self-service page (mfa, account) whose data embeds
// Data (base points at it), with Render's headers; such pages may show
// data: images (the TOTP QR code) and send no referrer (the mfa page's
// URL may hold a token).
func (p *Pages) RenderOwn(c *fiber.Ctx, status int, name string, data any, base *Data) error {
	base.Product, base.Prefix = p.o.ProductName, p.o.AuthPrefix
	if t := Title(name); t != "" {
		base.Title = t
	}
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, name+".html", data); err != nil {
		return gateway.Internal(err)
	}
	c.Response().ResetBody()
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	c.Set("Cache-Control", "no-store")
	c.Set("X-Frame-Options", "DENY")
	c.Set("Referrer-Policy", "no-referrer")
	c.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'")
	return c.Status(status).Send(buf.Bytes())
}

// Form wraps a JSON handler for the hosted pages: for a form post,
// success redirects (303) to next(c) and an error below 500 re-renders
// page with its message. Other requests go to h unchanged.
func (p *Pages) Form(page string, next func(c *fiber.Ctx) string, h fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if !httpx.IsForm(c) {
			return h(c)
		}
		d := Data{Email: c.FormValue("email"), RD: c.FormValue("rd"), Code: c.FormValue("code")}
		if err := h(c); err != nil {
			var ge *gateway.Error
			if !errors.As(err, &ge) || ge.Status >= 500 {
				return err
			}
			d.Error = Message(ge)
			c.Response().ResetBody()
			return p.Render(c, ge.Status, page, d)
		}
		if c.Response().StatusCode() >= 400 {
			return nil
		}
		c.Response().ResetBody()
		return c.Redirect(next(c), fiber.StatusSeeOther)
	}
}

// Message is the human message for an error on a page.
func Message(e *gateway.Error) string {
	if len(e.Fields) > 0 {
		var parts []string
		for k, v := range e.Fields {
			parts = append(parts, k+": "+v)
		}
		return strings.Join(parts, "; ")
	}
	return e.Message
}

// plain serves a page from its query: email, rd, and a known notice or
// error code (never text from the query).
func (p *Pages) plain(name string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		d := Data{Email: c.Query("email"), RD: c.Query("rd")}
		switch c.Query("notice") {
		case "reset":
			d.Notice = "Your password was changed. Sign in with the new one."
		case "sent":
			d.Notice = "If the address has an account, a code is on its way."
		}
		d.Error = knownErrors[c.Query("error")]
		return p.Render(c, fiber.StatusOK, name, d)
	}
}

// knownErrors are the messages a redirect may ask a page to show.
var knownErrors = map[string]string{
	"account_exists": "An account with this email exists. Sign in to it, then link the provider from your account.",
	"email_required": "The provider did not share an email address.",
	"provider_error": "The sign-in provider refused or failed. Try again.",
}

// KnownError reports an error code a page can show (as ?error=code).
func KnownError(code string) bool {
	_, ok := knownErrors[code]
	return ok
}

// URL is the absolute URL of a page with query q.
func (p *Pages) URL(page string, q url.Values) string {
	u := p.o.PublicURL + p.o.AuthPrefix + "/" + page
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}
