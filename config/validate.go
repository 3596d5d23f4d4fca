package config

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// Validate checks c against the rules of SPEC §2 and reports every
// problem at once as an *Errors (nil when c is fine), each naming its
// dotted key, e.g. "routes[2].upstream: required". It is pure: it changes
// nothing and does no I/O, so `config check` needs no database or Redis.
// It expects the form Parse leaves (lower-case route hosts, route
// defaults applied) but accepts a trailing slash on paths.
func (c *Config) Validate() error {
	var e Errors
	c.validateServer(&e)
	switch n := len(c.Secret.Value()); {
	case n == 0:
		e.add("secret", "required")
	case n < 32:
		e.add("secret", "must be at least 32 bytes")
	}
	c.validateStores(&e)
	c.validateSession(&e)
	c.validateMail(&e)
	c.Accounts.validate(&e)
	c.RateLimits.validate(&e)
	c.validateHeaders(&e)
	c.validateRoutes(&e)
	validatePlugins(&e, "plugins", c.Plugins)
	c.validateWebhooks(&e)
	return e.err()
}

func (c *Config) validateServer(e *Errors) {
	s := c.Server
	if s.Listen == "" {
		e.add("server.listen", "required")
	} else if msg := checkHostPort(s.Listen, false, 0); msg != "" {
		e.add("server.listen", "%s", msg)
	}
	checkHTTPURL(e, "server.public_url", s.PublicURL, true)
	switch p := s.AuthPrefix; {
	case p == "":
		e.add("server.auth_prefix", "required")
	case !strings.HasPrefix(p, "/"):
		e.add("server.auth_prefix", "must start with \"/\", got %q", p)
	case trimSlash(p) == "/":
		e.add("server.auth_prefix", "must not be \"/\": Gatehouse's own endpoints need a prefix of their own")
	default:
		if msg := checkPath(p); msg != "" {
			e.add("server.auth_prefix", "%s", msg)
		}
	}
	for i, p := range s.TrustedProxies {
		if !p.IsValid() {
			e.add(fmt.Sprintf("server.trusted_proxies[%d]", i), "want a CIDR such as 10.0.0.0/8")
		}
	}
	for i, o := range s.TrustedOrigins {
		if !isOrigin(o) {
			e.add(fmt.Sprintf("server.trusted_origins[%d]", i),
				"want an origin such as https://app.example.com (scheme://host[:port], no path), got %q", o)
		}
	}
	if s.BodyLimit <= 0 {
		e.add("server.body_limit", "must be more than 0")
	}
	if s.ShutdownTimeout <= 0 {
		e.add("server.shutdown_timeout", "must be more than 0")
	}
	if s.ReadBufferSize < 4<<10 {
		e.add("server.read_buffer_size", "must be at least 4KiB")
	}
}

func (c *Config) validateStores(e *Errors) {
	d := c.Database
	if d.Driver != DriverSQLite && d.Driver != DriverPostgres {
		e.add("database.driver", "must be sqlite or postgres, got %q", d.Driver)
	}
	if d.DSN.Value() == "" {
		e.add("database.dsn", "required")
	}
	if d.MaxOpenConns < 0 {
		e.add("database.max_open_conns", "must be 0 (driver default) or more")
	}

	r := c.Redis
	if raw := r.URL.Value(); raw != "" {
		// The URL may hold a password: never quote it.
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
			e.add("redis.url", "want a redis:// or rediss:// URL with a host")
		}
		if len(r.Addrs) > 0 {
			e.add("redis", "set url or addrs, not both")
		}
	}
	for i, a := range r.Addrs {
		if msg := checkHostPort(a, true, 1); msg != "" {
			e.add(fmt.Sprintf("redis.addrs[%d]", i), "%s", msg)
		}
	}
	if r.MasterName != "" && len(r.Addrs) == 0 {
		e.add("redis.master_name", "needs redis.addrs (the Sentinel addresses)")
	}
	if r.DB < 0 {
		e.add("redis.db", "must be 0 or more")
	}

	if l := c.Metrics.Listen; l != "" {
		if msg := checkHostPort(l, false, 0); msg != "" {
			e.add("metrics.listen", "%s", msg)
		} else if sameListener(l, c.Server.Listen) {
			e.add("metrics.listen", "must differ from server.listen (%s)", c.Server.Listen)
		}
	}
	if l := c.Demo.Listen; l != "" {
		if msg := checkHostPort(l, false, 0); msg != "" {
			e.add("demo.listen", "%s", msg)
		} else if sameListener(l, c.Server.Listen) || (c.Metrics.Listen != "" && sameListener(l, c.Metrics.Listen)) {
			e.add("demo.listen", "must differ from server.listen and metrics.listen")
		}
	}
}

func (c *Config) validateSession(e *Errors) {
	s := c.Session
	if s.CookieName == "" {
		e.add("session.cookie_name", "required")
	} else if !isToken(s.CookieName) {
		e.add("session.cookie_name", "not a valid cookie name (letters, digits and !#$%%&'*+-.^_`|~): %q", s.CookieName)
	}
	if d := s.CookieDomain; d != "" && !isHostname(strings.TrimPrefix(d, ".")) {
		e.add("session.cookie_domain", "want a domain such as .example.com (no scheme, port or path), got %q", d)
	}
	switch s.CookieSecure {
	case CookieSecureAuto, "true", "false":
	default:
		e.add("session.cookie_secure", "must be auto, true or false, got %q", s.CookieSecure)
	}
	if s.IdleTimeout <= 0 {
		e.add("session.idle_timeout", "must be more than 0")
	}
	if s.MaxLifetime < s.IdleTimeout {
		e.add("session.max_lifetime", "must be at least session.idle_timeout (%s), got %s", s.IdleTimeout, s.MaxLifetime)
	}
	if c.Tokens.AccessTTL <= 0 {
		e.add("tokens.access_ttl", "must be more than 0")
	}
	if c.Tokens.RefreshTTL <= 0 {
		e.add("tokens.refresh_ttl", "must be more than 0")
	}
}

func (c *Config) validateMail(e *Errors) {
	m := c.Mail
	if m.Driver != MailLog && m.Driver != MailSMTP {
		e.add("mail.driver", "must be log or smtp, got %q", m.Driver)
	}
	if _, err := mail.ParseAddress(m.From); err != nil {
		e.add("mail.from", "want an address such as \"Gatehouse <no-reply@example.com>\", got %q", m.From)
	}
	if m.Driver == MailSMTP && m.SMTP.Host == "" {
		e.add("mail.smtp.host", "required when mail.driver is smtp")
	}
	if m.SMTP.Port < 1 || m.SMTP.Port > 65535 {
		e.add("mail.smtp.port", "must be from 1 to 65535, got %d", m.SMTP.Port)
	}
	switch m.SMTP.TLS {
	case TLSNone, TLSStartTLS, TLSImplicit:
	default:
		e.add("mail.smtp.tls", "must be none, starttls or tls, got %q", m.SMTP.TLS)
	}
}

func (a Accounts) validate(e *Errors) {
	seen := map[string]bool{}
	for i, r := range a.Roles {
		p := fmt.Sprintf("accounts.roles[%d]", i)
		switch {
		case r == "":
			e.add(p, "must not be empty")
		case !isName(r):
			e.add(p, "want lower-case letters, digits, _ and - only, got %q", r)
		case seen[r]:
			e.add(p, "duplicate role %q", r)
		}
		seen[r] = true
	}
	switch r := a.DefaultRole; {
	case r == "":
		if len(a.SelectableRoles) == 0 {
			e.add("accounts.selectable_roles", "required when accounts.default_role is \"\" (users pick one at onboarding)")
		}
	case r == RoleAdmin:
		e.add("accounts.default_role", "must not be admin: every new user would be an administrator")
	case !a.HasRole(r):
		e.add("accounts.default_role", "%q is not one of accounts.roles %v", r, a.Roles)
	}
	picked := map[string]bool{}
	for i, r := range a.SelectableRoles {
		p := fmt.Sprintf("accounts.selectable_roles[%d]", i)
		switch {
		case r == RoleAdmin:
			e.add(p, "admin cannot be picked by users")
		case !a.HasRole(r):
			e.add(p, "%q is not one of accounts.roles %v", r, a.Roles)
		case picked[r]:
			e.add(p, "duplicate role %q", r)
		}
		picked[r] = true
	}

	pw := a.Password
	if pw.MinLength < 6 {
		e.add("accounts.password.min_length", "must be at least 6, got %d", pw.MinLength)
	}
	if pw.MaxLength < pw.MinLength || pw.MaxLength > 4096 {
		e.add("accounts.password.max_length", "must be from min_length (%d) to 4096, got %d", pw.MinLength, pw.MaxLength)
	}
	ar := pw.Argon2
	if ar.Parallelism < 1 {
		e.add("accounts.password.argon2.parallelism", "must be at least 1")
	}
	if ar.Iterations < 1 {
		e.add("accounts.password.argon2.iterations", "must be at least 1")
	}
	if ar.Memory < 8*uint32(max(ar.Parallelism, 1)) || ar.Memory > 4<<20 {
		e.add("accounts.password.argon2.memory_kib", "must be from 8 × parallelism to 4194304 (4 GiB), got %d", ar.Memory)
	}

	if a.Lockout.MaxFailures <= 0 {
		e.add("accounts.lockout.max_failures", "must be more than 0")
	}
	if a.Lockout.Window <= 0 {
		e.add("accounts.lockout.window", "must be more than 0")
	}
	if a.Lockout.Duration <= 0 {
		e.add("accounts.lockout.duration", "must be more than 0")
	}

	if a.Codes.TTL <= 0 {
		e.add("accounts.codes.ttl", "must be more than 0")
	}
	if n := a.Codes.MaxAttempts; n < 1 || n > 20 {
		e.add("accounts.codes.max_attempts", "must be from 1 to 20, got %d", n)
	}
	if a.Codes.ResendCooldown < 0 {
		e.add("accounts.codes.resend_cooldown", "must be 0 or more")
	}
}

func (r RateLimits) validate(e *Errors) {
	for _, l := range []struct {
		key  string
		rate Rate
	}{{"login", r.Login}, {"codes", r.Codes}, {"register", r.Register}, {"check_email", r.CheckEmail}} {
		if !l.rate.IsZero() && (l.rate.N < 0 || l.rate.Period <= 0) {
			e.add("rate_limits."+l.key, "want N/period such as 10/m")
		}
	}
}

func (c *Config) validateHeaders(e *Errors) {
	h := c.Headers
	switch {
	case h.Prefix == "":
		e.add("headers.prefix", "required")
	case !strings.HasSuffix(h.Prefix, "-"):
		e.add("headers.prefix", "must end with \"-\", got %q", h.Prefix)
	case !isToken(h.Prefix):
		e.add("headers.prefix", "not a valid header name prefix: %q", h.Prefix)
	}
	if h.Assertion.Enabled && h.Assertion.TTL <= 0 {
		e.add("headers.assertion.ttl", "must be more than 0 when the assertion is enabled")
	}
}

func (c *Config) validateRoutes(e *Errors) {
	names := map[string]int{}
	places := map[string]int{}
	prefix := trimSlash(c.Server.AuthPrefix)
	for i, r := range c.Routes {
		at := fmt.Sprintf("routes[%d]", i)
		switch first, dup := names[r.Name]; {
		case r.Name == "":
			e.add(at+".name", "required")
		case !isRouteName(r.Name):
			e.add(at+".name", "want letters, digits, _ . and - only, got %q", r.Name)
		case dup:
			e.add(at+".name", "duplicate name %q (also routes[%d])", r.Name, first)
		default:
			names[r.Name] = i
		}
		if msg := checkRouteHost(r.Host); msg != "" {
			e.add(at+".host", "%s", msg)
		}
		path := trimSlash(r.Path)
		pathOK := false
		switch {
		case !strings.HasPrefix(r.Path, "/"):
			e.add(at+".path", "must start with \"/\", got %q", r.Path)
		case checkPath(r.Path) != "":
			e.add(at+".path", "%s", checkPath(r.Path))
		case prefix != "/" && (path == prefix || strings.HasPrefix(path, prefix+"/")):
			e.add(at+".path", "%q is inside server.auth_prefix %q, where Gatehouse's own endpoints live", r.Path, prefix)
		case path == "/healthz" || path == "/readyz":
			e.add(at+".path", "%q is answered by Gatehouse itself and never proxied", r.Path)
		default:
			pathOK = true
		}
		if pathOK {
			key := r.Host + " " + path
			if first, dup := places[key]; dup {
				e.add(at+".path", "same host and path as routes[%d] (host %q, path %q)", first, r.Host, path)
			} else {
				places[key] = i
			}
		}
		checkHTTPURL(e, at+".upstream", r.Upstream, true)
		switch r.Auth {
		case AuthRequired, AuthOptional, AuthPublic:
		default:
			e.add(at+".auth", "must be required, optional or public, got %q", r.Auth)
		}
		for j, role := range r.Roles {
			if !c.Accounts.HasRole(role) {
				e.add(fmt.Sprintf("%s.roles[%d]", at, j), "unknown role %q (roles are %v)", role, c.Accounts.AllRoles())
			}
		}
		if r.WorkspaceRole != "" && !contains(workspaceRoles, r.WorkspaceRole) {
			e.add(at+".workspace_role", "must be member, moderator, admin or \"\", got %q", r.WorkspaceRole)
		}
		if r.Auth == AuthPublic {
			if len(r.Roles) > 0 {
				e.add(at+".roles", "must be empty on a public route: they would never be checked")
			}
			if r.WorkspaceRole != "" {
				e.add(at+".workspace_role", "must be empty on a public route: it would never be checked")
			}
		}
		if r.Timeout <= 0 {
			e.add(at+".timeout", "must be more than 0")
		}
		if r.BodyLimit < 0 {
			e.add(at+".body_limit", "must be 0 (server.body_limit) or more")
		}
		validatePlugins(e, at+".plugins", r.Plugins)
	}
}

// validatePlugins checks what config owns of plugin entries: the name.
// Options are the registry's to check, once it has built the plugin.
func validatePlugins(e *Errors, at string, specs []PluginSpec) {
	for i, s := range specs {
		if s.Name == "" {
			e.add(fmt.Sprintf("%s[%d].name", at, i), "required")
		}
	}
}

func (c *Config) validateWebhooks(e *Errors) {
	for i, w := range c.Webhooks {
		at := fmt.Sprintf("webhooks[%d]", i)
		if w.URL == "" {
			e.add(at+".url", "required")
		} else if u, err := ParseURL(w.URL); err != nil {
			e.add(at+".url", "%s", err)
		} else if u.Fragment != "" {
			e.add(at+".url", "must not have a fragment")
		}
		if len(w.Events) == 0 {
			e.add(at+".events", "want at least one event")
		}
		seen := map[string]bool{}
		for j, ev := range w.Events {
			p := fmt.Sprintf("%s.events[%d]", at, j)
			switch {
			case !contains(webhookEvents, ev):
				e.add(p, "unknown event %q (events are %s)", ev, strings.Join(webhookEvents, ", "))
			case seen[ev]:
				e.add(p, "duplicate event %q", ev)
			}
			seen[ev] = true
		}
		// Never quote the secret.
		s := w.Secret.Value()
		rest, ok := strings.CutPrefix(s, "whsec_")
		switch {
		case s == "":
			e.add(at+".secret", "required")
		case !ok:
			e.add(at+".secret", "must start with \"whsec_\"")
		default:
			key, err := base64.StdEncoding.DecodeString(rest)
			if err != nil {
				key, err = base64.RawStdEncoding.DecodeString(rest)
			}
			switch {
			case err != nil:
				e.add(at+".secret", "must be \"whsec_\" followed by base64")
			case len(key) < 24:
				e.add(at+".secret", "must hold at least 24 bytes after \"whsec_\", has %d", len(key))
			}
		}
	}
}

// checkHTTPURL adds a problem unless u is an absolute http(s) URL without
// query or fragment (or empty, when not required).
func checkHTTPURL(e *Errors, at string, u URL, required bool) {
	switch {
	case u.IsZero():
		if required {
			e.add(at, "required")
		}
	case !isHTTPURL(u.URL):
		e.add(at, "not an absolute http(s) URL: %q", u.String())
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		e.add(at, "must not have a query or fragment: %q", u.String())
	}
}

// checkHostPort returns "" when addr is host:port with a numeric port of
// at least minPort, else what is wrong. needHost refuses ":8080".
func checkHostPort(addr string, needHost bool, minPort int) string {
	want := fmt.Sprintf("want host:port such as 127.0.0.1:8080, got %q", addr)
	host, port, err := net.SplitHostPort(addr)
	if err != nil || (needHost && host == "") || strings.ContainsAny(host, " /") {
		return want
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < minPort || n > 65535 {
		return fmt.Sprintf("want a port from %d to 65535 in %q", minPort, addr)
	}
	return ""
}

// sameListener reports whether two valid listen addresses would collide.
func sameListener(a, b string) bool {
	ha, pa, err1 := net.SplitHostPort(a)
	hb, pb, err2 := net.SplitHostPort(b)
	if err1 != nil || err2 != nil || pa != pb || pa == "0" {
		return false
	}
	wildcard := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	return ha == hb || wildcard(ha) || wildcard(hb)
}

// isOrigin reports scheme://host[:port] with an http(s) scheme.
func isOrigin(o string) bool {
	u, err := url.Parse(o)
	return err == nil && isHTTPURL(u) && u.Path == "" && u.RawQuery == "" &&
		!u.ForceQuery && u.Fragment == ""
}

// checkRouteHost returns "" for "", an exact host or "*.domain", each
// lower-case with an optional :port; else what is wrong.
func checkRouteHost(h string) string {
	if h == "" {
		return ""
	}
	if h != strings.ToLower(h) {
		return fmt.Sprintf("must be lower-case, got %q", h)
	}
	want := fmt.Sprintf("want a host such as app.example.com or *.example.com (no scheme or path), got %q", h)
	if strings.ContainsAny(h, "/@?#") {
		return want
	}
	host, port, hasPort := h, "", false
	if strings.HasPrefix(h, "[") {
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return want
		}
		host = h[1:end]
		if ip, err := netip.ParseAddr(host); err != nil || !ip.Is6() || ip.Zone() != "" {
			return want
		}
		if rest := h[end+1:]; rest != "" {
			port, hasPort = strings.CutPrefix(rest, ":")
			if !hasPort {
				return want
			}
		}
	} else {
		if i := strings.LastIndexByte(h, ':'); i >= 0 {
			host, port, hasPort = h[:i], h[i+1:], true
		}
		if !isHostname(strings.TrimPrefix(host, "*.")) {
			return want
		}
	}
	if hasPort {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Sprintf("want a port from 1 to 65535 in %q", h)
		}
	}
	return ""
}

// isHostname reports a lower-case DNS name (or IPv4 address): labels of
// letters, digits, - and _, not starting or ending with -.
func isHostname(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// checkPath returns "" for a clean absolute path prefix, else what is
// wrong: no empty, "." or ".." segments, no "%", "\", "?", "#", spaces or
// control characters. A trailing slash is fine.
func checkPath(p string) string {
	if !strings.HasPrefix(p, "/") {
		return fmt.Sprintf("must start with \"/\", got %q", p)
	}
	for _, r := range p {
		if r <= ' ' || r == 0x7f || strings.ContainsRune(`%\?#`, r) {
			return fmt.Sprintf("must be a plain path without %q, got %q", r, p)
		}
	}
	t := trimSlash(p)
	if t == "/" {
		return ""
	}
	for _, seg := range strings.Split(t[1:], "/") {
		switch seg {
		case "":
			return fmt.Sprintf("must not contain \"//\", got %q", p)
		case ".", "..":
			return fmt.Sprintf("must not contain \".\" or \"..\" segments, got %q", p)
		}
	}
	return ""
}

// isToken reports an RFC 9110 token: cookie and header names.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// isName reports [a-z0-9_-]+: role names.
func isName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// isRouteName reports [A-Za-z0-9_.-]+.
func isRouteName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}
