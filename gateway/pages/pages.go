// Package pages renders Gatehouse's hosted pages (sign-in, sign-up,
// verification, password reset, sign-in by code, sign-out, onboarding,
// workspaces, two-step verification, account): server-rendered HTML that
// needs no JavaScript, branded by ui: and in the visitor's language.
//
// Their forms post form-encoded bodies to the JSON API's own handlers;
// Form turns a handler's success into a 303 to the next page and its
// error into the page again with the message, tied to its field, and the
// input kept (passwords excepted). Features own their handlers; this
// package owns the templates (built in, or replaced from
// ui.templates_dir), their headers (CSP, no framing), the language and
// the page URLs.
package pages

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"gatehouse/config"
	"gatehouse/gateway"
	"gatehouse/gateway/httpx"
	"gatehouse/gateway/lang"
)

// LangCookie remembers the language picked with ?lang=.
const LangCookie = "gatehouse_lang"

// Provider is a sign-in button: "Continue with <Label>", linking to
// {auth_prefix}/oauth/<Method>.
type Provider struct {
	Method, Label string
}

// Invite is the workspace an invite link joins.
type Invite struct {
	Code, Workspace string
}

// Options say where the pages live, what they look like and where their
// forms may lead.
type Options struct {
	UI         config.UI
	AuthPrefix string // server.auth_prefix
	PublicURL  string // server.public_url, without a trailing slash
	// RouteHosts (explicit route hosts) and TrustedOrigins
	// (server.trusted_origins) are, with public_url, where a form's 303
	// may lead: the rd targets.
	RouteHosts, TrustedOrigins []string
	// FormTargets are further CSP sources a form's redirects may reach:
	// the OpenID Connect clients' redirect origins ("https://app.example"
	// or an own scheme "com.example.app:").
	FormTargets []string
	// Secure marks the language cookie Secure.
	Secure bool
	// OtherTemplates are further file names ui.templates_dir may hold
	// (the emails'); the pages leave them alone.
	OtherTemplates []string
}

// Hooks are what the pages ask the features: who is signed in, how one
// can sign in, what an invite joins. Each may be nil.
type Hooks struct {
	// Caller is the signed-in visitor's email, "" for none.
	Caller func(c *fiber.Ctx) string
	// Invite looks up an invite code ("" when unknown or used up).
	Invite func(c *fiber.Ctx, code string) (workspace string)
}

// Pages renders the hosted pages.
type Pages struct {
	o         Options
	t         *template.Template
	cat       *lang.Catalog
	csp       string
	home      string
	hooks     Hooks
	providers []Provider
	password  bool
	emailCode bool
	passkey   bool
}

// New loads the templates (the built-in ones, then those of
// ui.templates_dir) and the languages. A template file with an unknown
// name or one that does not parse is an error naming the file.
func New(o Options) (*Pages, error) {
	if o.UI.ProductName == "" {
		o.UI = config.Default().UI
	}
	t, err := loadTemplates(o.UI.TemplatesDir, o.OtherTemplates)
	if err != nil {
		return nil, err
	}
	cat, err := lang.New(o.UI.Languages, o.UI.DefaultLanguage)
	if err != nil {
		return nil, err
	}
	p := &Pages{o: o, t: t, cat: cat, home: o.UI.HomeURL, password: true}
	if p.home == "" {
		p.home = o.PublicURL + "/"
	}
	p.csp = contentSecurityPolicy(o)
	return p, nil
}

// MustNew is New for options known to be good (tests, defaults).
func MustNew(o Options) *Pages {
	p, err := New(o)
	if err != nil {
		panic(err)
	}
	return p
}

// SetHooks installs the features' answers.
func (p *Pages) SetHooks(h Hooks) {
	if h.Caller != nil {
		p.hooks.Caller = h.Caller
	}
	if h.Invite != nil {
		p.hooks.Invite = h.Invite
	}
}

// SetSignIn says how people can sign in: the provider buttons, email +
// password, email codes.
func (p *Pages) SetSignIn(providers []Provider, password, emailCode bool) {
	p.providers, p.password, p.emailCode = providers, password, emailCode
}

// SetPasskeys says whether passkeys are on: the pages then offer them
// (the controls stay hidden until the script shows them).
func (p *Pages) SetPasskeys(on bool) { p.passkey = on }

// Catalog is the pages' languages.
func (p *Pages) Catalog() *lang.Catalog { return p.cat }

// contentSecurityPolicy allows nothing but the pages' own styles and
// script, data: images (the TOTP QR code) and the configured logo, and
// lets forms lead to every allowed rd target.
func contentSecurityPolicy(o Options) string {
	img := []string{"'self'", "data:"}
	for _, u := range []string{o.UI.LogoURL, o.UI.FaviconURL} {
		if src := originOf(u); src != "" {
			img = append(img, src)
		}
	}
	forms := append([]string{"'self'"}, formTargets(o)...)
	for _, t := range o.FormTargets {
		if t != "" && !strings.ContainsAny(t, " ;,'*") && !slices.Contains(forms, t) {
			forms = append(forms, t)
		}
	}
	return "default-src 'none'; style-src 'self' 'unsafe-inline'; script-src 'self'; img-src " + strings.Join(img, " ") +
		"; connect-src 'self'; form-action " + strings.Join(forms, " ") + "; frame-ancestors 'none'; base-uri 'none'"
}

// formTargets are the rd targets as CSP sources: public_url's origin,
// each trusted origin, and each route host on any port (SafeRedirect
// accepts a route host whatever its port and scheme).
func formTargets(o Options) []string {
	var out []string
	if src := originOf(o.PublicURL); src != "" {
		out = append(out, src)
	}
	for _, t := range o.TrustedOrigins {
		if src := originOf(t); src != "" {
			out = append(out, src)
		}
	}
	for _, h := range o.RouteHosts {
		if h == "" || strings.ContainsAny(h, " ;,'*") {
			continue
		}
		host := h
		if hh, _, err := net.SplitHostPort(h); err == nil {
			host = hh
		}
		out = append(out, "http://"+host+":*", "https://"+host+":*")
	}
	return out
}

func originOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// Data is what every page template sees. Render fills the first group;
// handlers fill the rest.
type Data struct {
	Product, Logo, Favicon, Home, Prefix, Title, Lang, Color string
	// L is the page's language: {{.L.T "message.id"}}.
	L         *lang.Localizer
	Languages []string
	// Account is the signed-in visitor's email ("" for none).
	Account string
	// Providers, Password and EmailCode are the ways to sign in.
	Providers           []Provider
	Password, EmailCode bool
	// Passkey reports passkeys on.
	Passkey bool
	// Path is the page's own path (for the language links); a handler
	// may set it (a page whose path holds an id), else Render does.
	Path string
	// Keep are query parameters the page's language links keep besides
	// rd and email (the consent page's request id).
	Keep url.Values
	// Console is the admin console's section the page belongs to
	// (users, activity, log, codes; "" for the other pages): the wide
	// layout and the console's section links.
	Console string

	// Failure is the error the page shows: a sentence at the top, and
	// each field's problem beside its field.
	Failure *gateway.Error
	// Error and Notice are message ids (or, for Error, sentences made
	// by Render from Failure).
	Error, Notice string
	FieldErrors   map[string]string

	// The visitor's input, kept after an error (never passwords).
	Email, Username, Name, RD, Code string
	Invite                          *Invite
	Roles                           []string
	// Workspaces and Active fill the workspace picker.
	Workspaces []Workspace
	Active     string
}

// Workspace is one entry of the workspace picker.
type Workspace struct {
	ID, Name, Role string
	IsOwner        bool
}

// Invalid is the attributes that tie an input to its error: aria-invalid
// and aria-describedby (empty when the field is fine).
func (d Data) Invalid(field string) template.HTMLAttr {
	if d.FieldErrors[field] == "" {
		return ""
	}
	return template.HTMLAttr(fmt.Sprintf(`aria-invalid="true" aria-describedby="%s-error"`, template.HTMLEscapeString(field)))
}

// FieldError is a field's problem as a paragraph the input points at.
func (d Data) FieldError(field string) template.HTML {
	msg := d.FieldErrors[field]
	if msg == "" {
		return ""
	}
	return template.HTML(fmt.Sprintf(`<p class="field-error" id="%s-error">%s</p>`, template.HTMLEscapeString(field), template.HTMLEscapeString(msg)))
}

// LangLink is this page in language l, keeping rd, email and invite.
func (d Data) LangLink(l string) template.URL {
	q := d.carried()
	for k, v := range d.Keep {
		q[k] = v
	}
	q.Set("lang", l)
	if d.Email != "" {
		q.Set("email", d.Email)
	}
	return template.URL(d.Path + "?" + q.Encode())
}

// Query is rd (and invite) as a query string for links between pages.
func (d Data) Query() template.URL {
	if q := d.carried(); len(q) > 0 {
		return template.URL("?" + q.Encode())
	}
	return ""
}

// carried is what links between pages keep: rd and the invite.
func (d Data) carried() url.Values {
	q := url.Values{}
	if d.RD != "" {
		q.Set("rd", d.RD)
	}
	if d.Invite != nil {
		q.Set("invite", d.Invite.Code)
	}
	return q
}

// hosted are the pages. Pages with own set have a handler of their own in
// a feature (they need the caller); the others are plain forms served by
// plain.
var hosted = []struct {
	name string
	own  bool
}{
	{"sign-in", false},
	{"sign-in-code", true},
	{"sign-up", true},
	{"verify-email", false},
	{"forgot-password", false},
	{"reset-password", false},
	{"sign-out", true},
	{"onboarding", true},
	{"workspaces", true},
	{"mfa", true},
	{"account", true},
	// The admin console (gateway/adminapi).
	{"admin-users", true},
	{"admin-user", true},
	{"admin-activity", true},
	{"admin-log", true},
	{"admin-codes", true},
	{"admin-forbidden", true},
	// The OpenID Connect provider (gateway/oidcprovider).
	{"oidc-consent", true},
	{"oidc-device", true},
	{"oidc-error", true},
}

// paths are the paths of the pages whose path is not their name.
var paths = map[string]string{
	"sign-in-code":    "sign-in/code",
	"oidc-consent":    "consent",
	"oidc-device":     "device",
	"admin-users":     "admin",
	"admin-user":      "admin",
	"admin-activity":  "admin/activity",
	"admin-log":       "admin/log",
	"admin-codes":     "admin/codes",
	"admin-forbidden": "admin",
}

// Mount serves the plain pages (those without a handler of their own),
// the sign-in-by-code, sign-up and sign-out pages, and the pages' script.
func (p *Pages) Mount(r fiber.Router) {
	for _, h := range hosted {
		if !h.own {
			r.Get("/"+h.name, p.plain(h.name))
		}
	}
	r.Get("/sign-in/code", p.signInCode)
	r.Get("/sign-up", p.signUp)
	r.Get("/sign-out", p.signOut)
	r.Get("/assets/pages.js", p.script)
}

// Render answers the page name with d.
func (p *Pages) Render(c *fiber.Ctx, status int, name string, d Data) error {
	return p.RenderOwn(c, status, name, &d, &d)
}

// RenderOwn renders a page whose data embeds Data (base points at it),
// with the pages' headers.
func (p *Pages) RenderOwn(c *fiber.Ctx, status int, name string, data any, base *Data) error {
	p.fill(c, name, base)
	var buf bytes.Buffer
	if err := p.t.ExecuteTemplate(&buf, name+".html", data); err != nil {
		return gateway.Internal(err)
	}
	c.Response().ResetBody()
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	c.Set("Cache-Control", "no-store")
	c.Set("X-Frame-Options", "DENY")
	// Never no-referrer: Chromium would send Origin: null on the pages'
	// own form posts. same-origin keeps URLs (the mfa page's token)
	// from other sites.
	c.Set("Referrer-Policy", "same-origin")
	c.Set("Content-Security-Policy", p.csp)
	c.Set("Content-Language", base.Lang)
	return c.Status(status).Send(buf.Bytes())
}

// fill sets what Render owns: branding, language, the visitor, and the
// sentences of Failure, Error and Notice.
func (p *Pages) fill(c *fiber.Ctx, name string, d *Data) {
	ui := p.o.UI
	d.Product, d.Logo, d.Favicon, d.Home, d.Color = ui.ProductName, ui.LogoURL, ui.FaviconURL, p.home, ui.PrimaryColor
	d.Prefix, d.Languages = p.o.AuthPrefix, p.cat.Offered()
	if d.Path == "" {
		path, ok := paths[name]
		if !ok {
			path = name
		}
		d.Path = p.o.AuthPrefix + "/" + path
	}
	d.Lang = p.Language(c)
	d.L = p.cat.In(d.Lang)
	d.Title = d.L.T("title."+name, "Product", ui.ProductName)
	d.Providers, d.Password, d.EmailCode, d.Passkey = p.providers, p.password, p.emailCode, p.passkey
	if p.hooks.Caller != nil && d.Account == "" {
		d.Account = p.hooks.Caller(c)
	}
	if d.Failure != nil {
		d.Error, d.FieldErrors = p.describe(d.L, d.Failure)
	} else if d.Error != "" {
		d.Error = d.L.T(d.Error)
	}
	if d.Notice != "" {
		d.Notice = d.L.T(d.Notice, "Product", ui.ProductName)
	}
}

// Language is the request's language: ?lang= (remembered in a cookie),
// else the cookie, else Accept-Language, else the default.
func (p *Pages) Language(c *fiber.Ctx) string {
	q := c.Query("lang")
	l := p.cat.Negotiate(q, c.Cookies(LangCookie), c.Get(fiber.HeaderAcceptLanguage))
	if q != "" && q == l {
		c.Cookie(&fiber.Cookie{Name: LangCookie, Value: l, Path: "/", MaxAge: int((365 * 24 * time.Hour).Seconds()),
			HTTPOnly: true, Secure: p.o.Secure, SameSite: fiber.CookieSameSiteLaxMode})
	}
	return l
}

// describe turns an error into a sentence for the top of the page and
// one per field.
func (p *Pages) describe(l *lang.Localizer, e *gateway.Error) (string, map[string]string) {
	var fields map[string]string
	if len(e.Fields) > 0 {
		fields = make(map[string]string, len(e.Fields))
		for f, problem := range e.Fields {
			fields[f] = problemSentence(l, problem)
		}
	}
	id := "error." + e.Code
	switch {
	case e.AttemptsRemaining != nil && p.cat.Has(id+".remaining"):
		return l.T(id+".remaining", "Count", *e.AttemptsRemaining), fields
	case e.RetryAfter > 0 && p.cat.Has(id+".retry"):
		return l.T(id+".retry", "Count", int((e.RetryAfter+time.Minute-1)/time.Minute)), fields
	case p.cat.Has(id):
		return l.T(id), fields
	}
	return sentence(e.Message), fields
}

// problemSentence is a field's problem in the page's language: a known
// problem has a message id; others are shown as sentences.
func problemSentence(l *lang.Localizer, problem string) string {
	if id, ok := problemIDs[problem]; ok {
		return l.T(id)
	}
	if n, ok := strings.CutPrefix(problem, "must be at least "); ok {
		if k, ok := strings.CutSuffix(n, " characters"); ok {
			var count int
			if _, err := fmt.Sscan(k, &count); err == nil {
				return l.T("problem.too_short", "Count", count)
			}
		}
	}
	return sentence(problem)
}

// problemIDs are the problems the handlers report, by message id.
var problemIDs = map[string]string{
	"required":                  "problem.required",
	"not a valid email address": "problem.email",
	"must not be your email address or username": "problem.password_personal",
	"not acceptable":             "problem.password_weak",
	"is taken":                   "problem.taken",
	"this is already your email": "problem.same_email",
	"run setup first":            "problem.setup_first",
	// Shared with the admin console (gateway/adminapi; messages in admin.*.yaml).
	"3 to 255 letters, digits, _ or -":     "problem.username_format",
	"at most 255 characters":               "problem.too_long",
	"not one of accounts.roles (or admin)": "problem.admin.role",
	"does not match the email":             "problem.admin.confirm",
	"want a date such as 2026-01-31":       "problem.admin.date",
}

// sentence capitalises s and ends it with a full stop.
func sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return s
	}
	s = strings.ToUpper(s[:1]) + s[1:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// Form wraps a JSON handler for the hosted pages: for a form post,
// success redirects (303) to next(c) and an error below 500 re-renders
// page with its message and the visitor's input. Other requests go to h
// unchanged.
//
// fill, when given, adds what the page shows beside the input (the
// workspace of an invite) before the page is rendered again.
func (p *Pages) Form(page string, next func(c *fiber.Ctx) string, h fiber.Handler, fill ...func(c *fiber.Ctx, d *Data)) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if !httpx.IsForm(c) {
			return h(c)
		}
		d := Input(c)
		if err := h(c); err != nil {
			var ge *gateway.Error
			if !errors.As(err, &ge) || ge.Status >= 500 {
				return err
			}
			d.Failure = ge
			for _, f := range fill {
				f(c, &d)
			}
			return p.Render(c, ge.Status, page, d)
		}
		if c.Response().StatusCode() >= 400 {
			return nil
		}
		to := next(c) // may read the answer
		c.Response().ResetBody()
		return c.Redirect(to, fiber.StatusSeeOther)
	}
}

// Input is the visitor's input of a form post, to show again (never a
// password).
func Input(c *fiber.Ctx) Data {
	return Data{Email: c.FormValue("email"), Username: c.FormValue("username"), Name: c.FormValue("name"),
		RD: c.FormValue("rd"), Code: c.FormValue("code")}
}

// plain serves a page from its query: email, rd, and a known notice or
// error code (never text from the query).
func (p *Pages) plain(name string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		d := Data{Email: c.Query("email"), RD: c.Query("rd"), Code: c.Query("code")}
		if _, ok := notices[c.Query("notice")]; ok {
			d.Notice = "notice." + c.Query("notice")
		}
		if KnownError(c.Query("error")) {
			d.Error = "error.page." + c.Query("error")
		}
		return p.Render(c, fiber.StatusOK, name, d)
	}
}

// notices are the notices a redirect may ask a page to show (?notice=).
var notices = map[string]bool{"reset": true, "sent": true, "signed_out": true, "verified": true}

// knownErrors are the errors a redirect may ask a page to show (?error=).
var knownErrors = map[string]bool{"account_exists": true, "email_required": true, "provider_error": true}

// KnownError reports an error code a page can show (as ?error=code).
func KnownError(code string) bool { return knownErrors[code] }

// signInCode is GET /sign-in/code: the email step, or with ?email= the
// code step.
func (p *Pages) signInCode(c *fiber.Ctx) error {
	d := Data{Email: c.Query("email"), RD: c.Query("rd")}
	if c.Query("notice") == "sent" {
		d.Notice = "notice.code_sent"
	}
	return p.Render(c, fiber.StatusOK, "sign-in-code", d)
}

// signUp is GET /sign-up; with ?invite=CODE it shows the workspace being
// joined (an unknown code is said so, and the form still registers).
func (p *Pages) signUp(c *fiber.Ctx) error {
	d := Data{Email: c.Query("email"), RD: c.Query("rd")}
	status := fiber.StatusOK
	if code := c.Query("invite"); code != "" {
		ws := ""
		if p.hooks.Invite != nil {
			ws = p.hooks.Invite(c, code)
		}
		if ws == "" {
			d.Error = "error.page.invite_invalid"
			status = fiber.StatusNotFound
		} else {
			d.Invite = &Invite{Code: code, Workspace: ws}
			if d.RD == "" {
				d.RD = p.URL("workspaces", nil) // where the new member sees it
			}
		}
	}
	return p.Render(c, status, "sign-up", d)
}

// signOut is GET /sign-out: the buttons (signing out is always a POST).
func (p *Pages) signOut(c *fiber.Ctx) error {
	d := Data{RD: c.Query("rd")}
	return p.Render(c, fiber.StatusOK, "sign-out", d)
}

// Home is the app's home: ui.home_url, else public_url.
func (p *Pages) Home() string { return p.home }

// URL is the absolute URL of a page with query q (empty values left out).
func (p *Pages) URL(page string, q url.Values) string {
	for k, v := range q {
		if len(v) == 0 || len(v) == 1 && v[0] == "" {
			delete(q, k)
		}
	}
	u := p.o.PublicURL + p.o.AuthPrefix + "/" + page
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

// SignInURL is the sign-in page that comes back to rd.
func (p *Pages) SignInURL(rd string) string {
	if rd == "" {
		return p.URL("sign-in", nil)
	}
	return p.URL("sign-in", url.Values{"rd": {rd}})
}

// script serves the pages' small script (copy buttons): the pages work
// without it.
func (p *Pages) script(c *fiber.Ctx) error {
	js, err := templateFS.ReadFile("templates/pages.js")
	if err != nil {
		return gateway.Internal(err)
	}
	c.Set(fiber.HeaderContentType, "text/javascript; charset=utf-8")
	c.Set("Cache-Control", "public, max-age=3600")
	c.Set("X-Content-Type-Options", "nosniff")
	return c.Send(js)
}
