// Package config is Gatehouse's typed configuration: the schema of SPEC §2,
// its defaults, `${VAR}` / `${VAR:-default}` expansion, strict decoding
// (unknown keys are errors) and validation whose messages name the dotted
// key path, e.g. `routes[2].upstream: not an absolute http(s) URL`.
//
// Load (or Parse) runs, in order: environment expansion of the raw text,
// a strict decode on top of Default() (absent keys keep their default), a
// normalisation step (route defaults, lower-cased hosts, trailing slashes
// trimmed, PluginSpec.Path set), then Validate. Every problem found is
// returned at once as an *Errors, one Problem per key:
//
//	server:
//	  listen: "127.0.0.1:8080"
//	  public_url: ${PUBLIC_URL:-http://127.0.0.1:8080}
//	secret: ${GATEHOUSE_SECRET}
//	routes:
//	  - name: app
//	    upstream: http://127.0.0.1:3000
//
// A Config is immutable after Load. Components receive only their own
// section (session.New(cfg.Session, h)), never the whole Config. Plugin
// and provider options stay a yaml.Node until the registry decodes them
// into the module (DecodeOptions).
package config

import (
	"gopkg.in/yaml.v3"
)

// Config is the whole gateway.yaml.
type Config struct {
	// Server is the main listener and how Gatehouse sees the outside world.
	Server Server `yaml:"server"`
	// Secret keys HMACs and encryption; at least 32 bytes. Usually
	// ${GATEHOUSE_SECRET}.
	Secret Secret `yaml:"secret"`
	// Database is the durable store (users, workspaces, memberships).
	Database Database `yaml:"database"`
	// Redis is the shared ephemeral store; unset means in-process.
	Redis Redis `yaml:"redis"`
	// Metrics is the Prometheus listener.
	Metrics Metrics `yaml:"metrics"`
	// Tracing sends OpenTelemetry traces to a collector (off by default).
	Tracing Tracing `yaml:"tracing"`
	// Demo is the built-in demo upstream (extra key; off when empty).
	Demo Demo `yaml:"demo"`
	// Session is the session cookie and its lifetimes.
	Session Session `yaml:"session"`
	// Tokens are the bearer token lifetimes.
	Tokens Tokens `yaml:"tokens"`
	// Mail is how codes and notifications are sent.
	Mail Mail `yaml:"mail"`
	// Accounts is the sign-up, role and credential policy.
	Accounts Accounts `yaml:"accounts"`
	// Providers are the ways to sign in.
	Providers Providers `yaml:"providers"`
	// RateLimits limit the built-in auth endpoints.
	RateLimits RateLimits `yaml:"rate_limits"`
	// Headers are the identity headers sent upstream.
	Headers Headers `yaml:"headers"`
	// Routes are the proxied upstreams and their policies.
	Routes []Route `yaml:"routes"`
	// Plugins is the global plugin list (SPEC §8), run on every route.
	Plugins []PluginSpec `yaml:"plugins"`
	// UI is the hosted pages' branding and languages.
	UI UI `yaml:"ui"`
	// OIDCProvider makes Gatehouse an OpenID Connect provider (off by
	// default).
	OIDCProvider OIDCProvider `yaml:"oidc_provider"`
	// Webhooks are the event endpoints; a non-empty list turns webhooks on.
	// Each entry runs as an instance of the webhooks plugin (GlobalPlugins).
	Webhooks []Webhook `yaml:"webhooks"`
}

// Server is where Gatehouse listens and how it sees the outside world.
type Server struct {
	// Listen is the host:port of the main listener.
	Listen string `yaml:"listen"`
	// PublicURL is the absolute URL clients use; emails, redirects and JWT iss.
	PublicURL URL `yaml:"public_url"`
	// AuthPrefix is where Gatehouse's own endpoints live (starts with "/",
	// is not "/", no trailing slash after Load).
	AuthPrefix string `yaml:"auth_prefix"`
	// TrustedProxies are the peers whose X-Forwarded-* headers are believed.
	TrustedProxies []CIDR `yaml:"trusted_proxies"`
	// TrustedOrigins are extra origins (scheme://host[:port], lower-case
	// after Load) allowed for unsafe requests and rd.
	TrustedOrigins []string `yaml:"trusted_origins"`
	// BodyLimit caps request bodies on Gatehouse's endpoints and on routes by default.
	BodyLimit ByteSize `yaml:"body_limit"`
	// ShutdownTimeout bounds the graceful drain on SIGTERM (extra key).
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
	// RequestTimeout is the deadline of every request to Gatehouse's own
	// endpoints and forward-auth (extra key): each store and database call
	// runs under it, and a dependency that does not answer in time is 503
	// unavailable. A proxied request's deadline is its route's timeout.
	RequestTimeout Duration `yaml:"request_timeout"`
	// ReadBufferSize is the per-connection header buffer (extra key): big
	// cookies and JWTs need more than fasthttp's 4 KiB default.
	ReadBufferSize ByteSize `yaml:"read_buffer_size"`
	// IdleTimeout is how long a keep-alive connection may wait for its next
	// request before Gatehouse closes it (extra key).
	IdleTimeout Duration `yaml:"idle_timeout"`
	// MaxConnsPerIP caps the open connections from one client address (an
	// IPv6 client: its /64); trusted proxies are exempt; 0 = no cap (extra
	// key). A connection over the cap is answered 429 and closed.
	MaxConnsPerIP int `yaml:"max_conns_per_ip"`
}

// Database is the durable store.
type Database struct {
	// Driver is "sqlite" (pure Go, embedded; DriverSQLite) or "postgres"
	// (DriverPostgres).
	Driver string `yaml:"driver"`
	// DSN is the driver's data source name (it may hold a password).
	DSN Secret `yaml:"dsn"`
	// AutoMigrate applies pending migrations at start.
	AutoMigrate bool `yaml:"auto_migrate"`
	// MaxOpenConns caps the pool (extra key; 0 = driver default).
	MaxOpenConns int `yaml:"max_open_conns"`
}

// Database drivers.
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

// Redis is the ephemeral store; an empty URL and no Addrs mean in-process.
type Redis struct {
	// URL is redis://[user:pass@]host:port/db or rediss://… for TLS.
	URL Secret `yaml:"url"`
	// Addrs selects Sentinel (with MasterName) or Cluster (extra keys);
	// each is host:port. Set URL or Addrs, not both.
	Addrs []string `yaml:"addrs"`
	// MasterName is the Sentinel master; empty with Addrs means Cluster.
	MasterName string `yaml:"master_name"`
	// Username is the ACL user for Addrs (URL carries its own).
	Username string `yaml:"username"`
	// Password is the password for Addrs (URL carries its own).
	Password Secret `yaml:"password"`
	// DB is the database number for Addrs (not used by Cluster).
	DB int `yaml:"db"`
}

// Enabled reports whether a Redis server is configured.
func (r Redis) Enabled() bool { return r.URL.Value() != "" || len(r.Addrs) > 0 }

// Metrics is the Prometheus listener; empty Listen means off.
type Metrics struct {
	// Listen is the host:port of the /metrics listener, or "" for off.
	Listen string `yaml:"listen"`
}

// Demo is a small built-in upstream that answers every request with what
// it received, identity headers included: for trying Gatehouse out with no
// app of your own. Leave Listen empty in production.
type Demo struct {
	// Listen is the host:port the demo upstream listens on, or "" for off.
	Listen string `yaml:"listen"`
}

// Session is the session cookie and its lifetimes.
type Session struct {
	// CookieName is the session cookie's name (an HTTP token).
	CookieName string `yaml:"cookie_name"`
	// CookieDomain is the cookie's Domain, e.g. .example.com for SSO
	// across subdomains; "" = host-only.
	CookieDomain string `yaml:"cookie_domain"`
	// CookieSecure is "auto" (Secure when public_url is https), "true" or
	// "false".
	CookieSecure string `yaml:"cookie_secure"`
	// IdleTimeout ends a session unused this long.
	IdleTimeout Duration `yaml:"idle_timeout"`
	// MaxLifetime ends any session this long after sign-in.
	MaxLifetime Duration `yaml:"max_lifetime"`
}

// CookieSecureAuto sets Secure when public_url is https.
const CookieSecureAuto = "auto"

// Tokens are the bearer access and refresh token lifetimes.
type Tokens struct {
	// AccessTTL is the access token (JWT) lifetime.
	AccessTTL Duration `yaml:"access_ttl"`
	// RefreshTTL is the refresh token lifetime.
	RefreshTTL Duration `yaml:"refresh_ttl"`
}

// Mail is how codes and notifications are sent.
type Mail struct {
	// Driver is "log" (writes each mail, code included, to the log: local
	// use only) or "smtp".
	Driver string `yaml:"driver"`
	// From is the sender, an RFC 5322 address: "Name <addr@host>".
	From string `yaml:"from"`
	// SMTP is the server of the smtp driver.
	SMTP SMTP `yaml:"smtp"`
}

// Mail drivers.
const (
	MailLog  = "log"
	MailSMTP = "smtp"
)

// SMTP is the smtp mail driver's server.
type SMTP struct {
	// Host is the server's host name; required with the smtp driver.
	Host string `yaml:"host"`
	// Port is the server's port (587 submission, 465 implicit TLS).
	Port int `yaml:"port"`
	// Username is the AUTH user; "" = no AUTH.
	Username string `yaml:"username"`
	// Password is the AUTH password.
	Password Secret `yaml:"password"`
	// TLS is "none", "starttls" or "tls" (implicit TLS, port 465).
	TLS string `yaml:"tls"`
}

// SMTP TLS modes.
const (
	TLSNone     = "none"
	TLSStartTLS = "starttls"
	TLSImplicit = "tls"
)

// Accounts is the account policy.
type Accounts struct {
	// FirstUserAdmin makes the very first registered user an admin.
	FirstUserAdmin bool `yaml:"first_user_admin"`
	// RequireEmailVerification holds sign-in until the email is verified.
	RequireEmailVerification bool `yaml:"require_email_verification"`
	// Roles are the platform roles besides "admin", which always exists.
	// Each is [a-z0-9_-]+.
	Roles []string `yaml:"roles"`
	// DefaultRole is given to new users; "" = the user picks one of
	// SelectableRoles at onboarding.
	DefaultRole string `yaml:"default_role"`
	// SelectableRoles are the roles a user may pick at onboarding.
	SelectableRoles []string `yaml:"selectable_roles"`
	// Password is the password policy.
	Password Password `yaml:"password"`
	// Lockout is the failed sign-in lockout.
	Lockout Lockout `yaml:"lockout"`
	// Codes is the emailed one-time code policy.
	Codes Codes `yaml:"codes"`
}

// RoleAdmin is the platform role that always exists.
const RoleAdmin = "admin"

// AllRoles is "admin" followed by Roles, without duplicates, in order.
func (a Accounts) AllRoles() []string {
	out := make([]string, 0, len(a.Roles)+1)
	out = append(out, RoleAdmin)
	for _, r := range a.Roles {
		if !contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

// HasRole reports whether role is one of AllRoles.
func (a Accounts) HasRole(role string) bool {
	return role == RoleAdmin || contains(a.Roles, role)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Password is the password policy and its Argon2id parameters.
type Password struct {
	// MinLength is the shortest password accepted (at least 6).
	MinLength int `yaml:"min_length"`
	// MaxLength is the longest password accepted (at most 4096).
	MaxLength int `yaml:"max_length"`
	// Argon2 are the Argon2id parameters (extra keys); a change rehashes
	// on the next login.
	Argon2 Argon2 `yaml:"argon2"`
}

// Argon2 holds Argon2id cost parameters. The defaults (64 MiB, 1 pass,
// 2 lanes) are x/crypto/argon2's recommended IDKey cost with two lanes.
type Argon2 struct {
	// Memory is the memory cost in KiB (at least 8 × Parallelism).
	Memory uint32 `yaml:"memory_kib"`
	// Iterations is the number of passes over the memory (at least 1).
	Iterations uint32 `yaml:"iterations"`
	// Parallelism is the number of lanes (at least 1).
	Parallelism uint8 `yaml:"parallelism"`
}

// Lockout is the per-account failed sign-in lockout.
type Lockout struct {
	// MaxFailures failures within Window lock the account.
	MaxFailures int `yaml:"max_failures"`
	// Window is the span failures are counted over.
	Window Duration `yaml:"window"`
	// Duration is how long a lock lasts.
	Duration Duration `yaml:"duration"`
}

// Codes is the emailed one-time code policy (SPEC §5).
type Codes struct {
	// TTL is how long a code is valid.
	TTL Duration `yaml:"ttl"`
	// MaxAttempts is the number of guesses per code (1 to 20).
	MaxAttempts int `yaml:"max_attempts"`
	// ResendCooldown is the minimum time between two codes to one address.
	ResendCooldown Duration `yaml:"resend_cooldown"`
}

// Providers are the sign-in providers' own options by name, as written
// under providers.<name> (SPEC §2: password, email_code, google, github,
// oidc, or any compiled-in provider). Like plugin options, each stays a
// yaml.Node until the registry has built the provider named by the key;
// then it decodes strictly into the provider's exported fields
// (config.DecodeOptions) and the provider validates itself. A section is a
// mapping (one instance), or a list for a provider that yields one instance
// per entry (providers.oidc: oidc:NAME). Config checks neither the names
// nor the options: `gatehouse config check` does, through the registry.
type Providers map[string]yaml.Node

// RateLimits are the built-in auth endpoints' limits; a zero Rate is no limit.
type RateLimits struct {
	// Login limits sign-in attempts, per client IP and per account.
	Login Rate `yaml:"login"`
	// Codes limits sending codes, per IP and per email.
	Codes Rate `yaml:"codes"`
	// Register limits registrations per IP.
	Register Rate `yaml:"register"`
	// CheckEmail limits /check-email per IP.
	CheckEmail Rate `yaml:"check_email"`
}

// Headers are the identity headers set for upstreams.
type Headers struct {
	// Prefix starts every identity header name, e.g. "X-Auth-"; incoming
	// headers with it are deleted.
	Prefix string `yaml:"prefix"`
	// Assertion is the signed {Prefix}Assertion JWT.
	Assertion Assertion `yaml:"assertion"`
}

// Assertion is the signed X-Auth-Assertion JWT.
type Assertion struct {
	// Enabled sends the assertion.
	Enabled bool `yaml:"enabled"`
	// TTL is the assertion's lifetime (exp = now + TTL).
	TTL Duration `yaml:"ttl"`
}

// Route is one upstream and its policy.
type Route struct {
	// Name labels the route (metrics, JWT aud); [A-Za-z0-9_.-]+, unique.
	Name string `yaml:"name"`
	// Host is an exact host, "*.example.com", or "" for any; lower-case.
	Host string `yaml:"host"`
	// Path is the prefix matched on segment boundaries; "/" (the default
	// after Load) matches everything; no trailing slash after Load.
	Path string `yaml:"path"`
	// Upstream is the absolute http(s) URL requests are forwarded to; its
	// path is prepended to the request path.
	Upstream URL `yaml:"upstream"`
	// Auth is "required" (the default), "optional" or "public".
	Auth string `yaml:"auth"`
	// Roles are the platform roles allowed (any of); empty = all.
	Roles []string `yaml:"roles"`
	// WorkspaceRole is the minimum workspace role: "member", "moderator",
	// "admin", or "" for none.
	WorkspaceRole string `yaml:"workspace_role"`
	// StripPrefix removes Path from the request path before forwarding.
	StripPrefix bool `yaml:"strip_prefix"`
	// Timeout is the upstream response timeout (504 past it); 30s after
	// Load when unset.
	Timeout Duration `yaml:"timeout"`
	// BodyLimit caps request bodies; 0 = server.body_limit.
	BodyLimit ByteSize `yaml:"body_limit"`
	// Plugins is the route's plugin list, after the global ones.
	Plugins []PluginSpec `yaml:"plugins"`
}

// PluginSpec names a plugin instance. Options stay a yaml.Node until the
// registry has built the plugin; then they decode strictly into it.
type PluginSpec struct {
	// Name is the registered plugin name (SPEC §8), e.g. "ratelimit".
	Name string `yaml:"name"`
	// ID labels the instance in logs and metrics; default: Name.
	ID string `yaml:"id"`
	// Options are the plugin's own options, decoded by the registry.
	Options yaml.Node `yaml:"options,omitempty"`
	// Path is the dotted key of this entry, e.g. "routes[1].plugins[0]",
	// set by Load for error messages.
	Path string `yaml:"-"`
}

// Webhook is one webhook endpoint (Standard Webhooks signing).
type Webhook struct {
	// URL is the absolute http(s) endpoint events are POSTed to.
	URL string `yaml:"url"`
	// Events are the event types sent: user.created, user.verified,
	// user.login, user.updated, user.deleted, workspace.member_added,
	// workspace.member_removed; at least one.
	Events []string `yaml:"events"`
	// Secret is "whsec_" + base64 of at least 24 random bytes.
	Secret Secret `yaml:"secret"`
}

// webhookEvents are the event types a webhook may subscribe to (SPEC §8).
var webhookEvents = []string{
	"user.created", "user.verified", "user.login", "user.updated", "user.deleted",
	"workspace.member_added", "workspace.member_removed",
}

// Auth policies of a route.
const (
	AuthRequired = "required"
	AuthOptional = "optional"
	AuthPublic   = "public"
)

// workspaceRoles are the workspace roles, lowest first.
var workspaceRoles = []string{"member", "moderator", "admin"}

// UI is the branding and the languages of the hosted pages and emails.
type UI struct {
	// ProductName is shown in page titles, headings and emails.
	ProductName string `yaml:"product_name"`
	// LogoURL is an image shown above each form; "" = the product name as
	// text.
	LogoURL string `yaml:"logo_url"`
	// FaviconURL is the pages' icon; "" = none.
	FaviconURL string `yaml:"favicon_url"`
	// PrimaryColor is the colour of buttons and links, #rrggbb; white text
	// on it must reach WCAG AA contrast (4.5:1).
	PrimaryColor string `yaml:"primary_color"`
	// HomeURL is the "Back to the app" link; "" = public_url.
	HomeURL string `yaml:"home_url"`
	// TemplatesDir holds templates that replace built-in page or email
	// templates of the same file name; "" = none.
	TemplatesDir string `yaml:"templates_dir"`
	// Languages are the languages offered; at least en, de, fr and es are
	// built in.
	Languages []string `yaml:"languages"`
	// DefaultLanguage is used when neither ?lang=, the cookie nor
	// Accept-Language picks an offered one.
	DefaultLanguage string `yaml:"default_language"`
}
