package config

import (
	"fmt"
	"net/mail"
	"net/url"
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
	c.validateOIDCProvider(&e)
	c.UI.validate(&e)
	c.Tracing.validate(&e)
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
	if s.RequestTimeout <= 0 {
		e.add("server.request_timeout", "must be more than 0")
	}
	if s.ReadBufferSize < 4<<10 {
		e.add("server.read_buffer_size", "must be at least 4KiB")
	}
	if s.IdleTimeout <= 0 {
		e.add("server.idle_timeout", "must be more than 0")
	}
	if s.MaxConnsPerIP < 0 {
		e.add("server.max_conns_per_ip", "must be 0 (no cap) or more")
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

	a.Password.validate(e)
	a.validateLimits(e)
}

// validate checks accounts.password: the lengths and the Argon2id cost.
func (pw Password) validate(e *Errors) {
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
}

// validateLimits checks accounts.lockout and accounts.codes.
func (a Accounts) validateLimits(e *Errors) {
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
