package config

import (
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// hasSecret matches a top-level secret key.
var hasSecret = regexp.MustCompile(`(?m)^secret:`)

// whsec is a valid webhook secret: "whsec_" + base64 of 24 bytes.
const whsec = "whsec_MDEyMzQ1Njc4OWFiY2RlZmdoaWprbG1u"

// TestValidateRules has a case per rule: a YAML snippet (a valid secret is
// added unless it sets one) and the wanted problems, in order, each as a
// substring of "path: message"; none means the snippet is valid.
func TestValidateRules(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		// secret
		{name: "secret missing", yaml: `secret: ""`, want: []string{"secret: required"}},
		{name: "secret short", yaml: `secret: only-31-bytes-long-xxxxxxxxxxxx`, want: []string{"secret: must be at least 32 bytes"}},
		{name: "secret 32 bytes", yaml: `secret: "` + testSecret + `"`},

		// server
		{name: "listen without port", yaml: `server: { listen: "8080" }`, want: []string{"server.listen: want host:port"}},
		{name: "listen named port", yaml: `server: { listen: "localhost:http" }`, want: []string{"server.listen: want a port from 0 to 65535"}},
		{name: "listen any host", yaml: `server: { listen: ":8080" }`},
		{name: "listen empty", yaml: `server: { listen: "" }`, want: []string{"server.listen: required"}},
		{name: "public_url empty", yaml: `server: { public_url: "" }`, want: []string{"server.public_url: required"}},
		{name: "public_url not http", yaml: `server: { public_url: "ftp://x" }`, want: []string{`server.public_url: not an absolute http(s) URL: "ftp://x"`}},
		{name: "public_url relative", yaml: `server: { public_url: "/auth" }`, want: []string{`server.public_url: not an absolute http(s) URL`}},
		{name: "public_url with query", yaml: `server: { public_url: "https://x.example.com/?a=1" }`, want: []string{"server.public_url: must not have a query or fragment"}},
		{name: "public_url https with path", yaml: `server: { public_url: "https://x.example.com/gate" }`},
		{name: "auth_prefix relative", yaml: `server: { auth_prefix: auth }`, want: []string{`server.auth_prefix: must start with "/"`}},
		{name: "auth_prefix root", yaml: `server: { auth_prefix: / }`, want: []string{`server.auth_prefix: must not be "/"`}},
		{name: "auth_prefix dot segments", yaml: `server: { auth_prefix: /a/../b }`, want: []string{`server.auth_prefix: must not contain "." or ".." segments`}},
		{name: "auth_prefix trailing slash", yaml: `server: { auth_prefix: /auth/ }`},
		{name: "trusted_proxies bad", yaml: `server: { trusted_proxies: ["10.0.0.0/33"] }`, want: []string{`server.trusted_proxies[0]: not a CIDR: "10.0.0.0/33"`}},
		{name: "trusted_proxies address", yaml: `server: { trusted_proxies: ["10.1.2.3", "fd00::/8"] }`},
		{name: "trusted_origins path", yaml: `server: { trusted_origins: ["https://app.example.com/login"] }`, want: []string{"server.trusted_origins[0]: want an origin"}},
		{name: "trusted_origins scheme", yaml: `server: { trusted_origins: ["app.example.com"] }`, want: []string{"server.trusted_origins[0]: want an origin"}},
		{name: "trusted_origins fine", yaml: `server: { trusted_origins: ["https://App.example.com/", "http://localhost:3000"] }`},
		{name: "body_limit zero", yaml: `server: { body_limit: 0 }`, want: []string{"server.body_limit: must be more than 0"}},
		{name: "body_limit bad", yaml: `server: { body_limit: big }`, want: []string{`server.body_limit: want a size such as 1MiB, got "big"`}},
		{name: "shutdown_timeout zero", yaml: `server: { shutdown_timeout: 0s }`, want: []string{"server.shutdown_timeout: must be more than 0"}},
		{name: "read_buffer_size small", yaml: `server: { read_buffer_size: 1KiB }`, want: []string{"server.read_buffer_size: must be at least 4KiB"}},
		{name: "idle_timeout zero", yaml: `server: { idle_timeout: 0s }`, want: []string{"server.idle_timeout: must be more than 0"}},
		{name: "max_conns_per_ip negative", yaml: `server: { max_conns_per_ip: -1 }`, want: []string{"server.max_conns_per_ip: must be 0 (no cap) or more"}},
		{name: "max_conns_per_ip off", yaml: `server: { max_conns_per_ip: 0 }`},

		// oidc_provider
		{name: "oidc on without clients", yaml: `oidc_provider: { enabled: true }`, want: []string{"oidc_provider.clients: at least one client when enabled"}},
		{name: "oidc issuer elsewhere", yaml: `oidc_provider: { issuer: "https://id.example.com" }`, want: []string{`oidc_provider.issuer: must be http://127.0.0.1:8080/auth or a path below it`}},
		{name: "oidc issuer with query", yaml: `oidc_provider: { issuer: "http://127.0.0.1:8080/auth?x=1" }`, want: []string{`oidc_provider.issuer: not an absolute http(s) URL without query or fragment`}},
		{name: "oidc issuer below prefix", yaml: `oidc_provider: { issuer: "http://127.0.0.1:8080/auth/oidc/" }`},
		{name: "oidc ttl zero", yaml: `oidc_provider: { access_token_ttl: 0s, id_token_ttl: 25h }`, want: []string{"oidc_provider.access_token_ttl: must be more than 0", "oidc_provider.id_token_ttl: must be at most 24h"}},
		{name: "oidc client fine", yaml: `oidc_provider: { enabled: true, clients: [{client_id: grafana, client_secret: "0123456789abcdef", redirect_uris: ["https://grafana.example.com/login/generic_oauth"], scopes: [openid, roles], allowed_roles: [admin, user]}] }`},
		{name: "oidc public native", yaml: `oidc_provider: { clients: [{client_id: cli, public: true, redirect_uris: ["http://127.0.0.1/callback", "com.example.app:/cb"], grant_types: [authorization_code, device_code, refresh_token]}] }`},
		{name: "oidc client problems", yaml: `oidc_provider: { clients: [{client_id: "a b", client_secret: short, redirect_uris: ["http://app.example.com/cb", "https://x/#f", "myapp:/cb"], scopes: [openid, phone], grant_types: [implicit], consent: always, allowed_roles: [boss]}] }`, want: []string{
			`oidc_provider.clients[0].client_id: want letters, digits, _ . and - only, got "a b"`,
			"oidc_provider.clients[0].client_secret: must be at least 16 characters",
			`oidc_provider.clients[0].scopes[1]: want one of openid, profile, email, offline_access, roles, got "phone"`,
			`oidc_provider.clients[0].grant_types[0]: want one of authorization_code, refresh_token, client_credentials, device_code, got "implicit"`,
			"oidc_provider.clients[0].redirect_uris[0]: http only on a loopback host",
			"oidc_provider.clients[0].redirect_uris[1]: want an absolute URL without fragment",
			"oidc_provider.clients[0].redirect_uris[2]: want https (a public client may use its own reverse-domain scheme",
			`oidc_provider.clients[0].consent: want implicit or explicit, got "always"`,
			`oidc_provider.clients[0].allowed_roles[0]: not a platform role (accounts.roles or admin): "boss"`,
		}},
		{name: "oidc public with secret", yaml: `oidc_provider: { clients: [{client_id: spa, public: true, client_secret: "0123456789abcdef", redirect_uris: ["https://spa.example.com/cb"], grant_types: [authorization_code, client_credentials]}] }`, want: []string{
			"oidc_provider.clients[0].client_secret: a public client has no secret",
			"oidc_provider.clients[0].grant_types[1]: client_credentials needs a confidential client",
		}},
		{name: "oidc confidential without secret", yaml: `oidc_provider: { clients: [{client_id: app, redirect_uris: ["https://app.example.com/cb"]}, {client_id: app, client_secret: "0123456789abcdef", grant_types: [authorization_code]}] }`, want: []string{
			"oidc_provider.clients[0].client_secret: required for a confidential client (or set public: true)",
			`oidc_provider.clients[1].client_id: duplicate client_id "app" (also oidc_provider.clients[0])`,
			"oidc_provider.clients[1].redirect_uris: at least one for authorization_code",
		}},
		{name: "oidc refresh alone", yaml: `oidc_provider: { clients: [{client_id: m2m, client_secret: "0123456789abcdef", grant_types: [client_credentials, refresh_token]}] }`, want: []string{"oidc_provider.clients[0].grant_types: refresh_token needs authorization_code or device_code"}},

		// tracing
		{name: "tracing on without endpoint", yaml: `tracing: { enabled: true }`, want: []string{"tracing.endpoint: required when tracing is enabled"}},
		{name: "tracing endpoint not http", yaml: `tracing: { enabled: true, endpoint: "grpc://collector:4317" }`, want: []string{`tracing.endpoint: not an absolute http(s) URL: "grpc://collector:4317"`}},
		{name: "tracing on", yaml: `tracing: { enabled: true, endpoint: "http://collector:4318/v1/traces", headers: { X-Api-Key: k }, sample_ratio: 0.25, incoming: all }`},
		{name: "tracing ratio", yaml: `tracing: { sample_ratio: 1.5 }`, want: []string{"tracing.sample_ratio: must be from 0 to 1, got 1.5"}},
		{name: "tracing incoming", yaml: `tracing: { incoming: everyone }`, want: []string{`tracing.incoming: must be trusted_proxies, all or none, got "everyone"`}},
		{name: "tracing header name", yaml: `tracing: { headers: { "bad name": v } }`, want: []string{"tracing.headers.bad name: not a valid header name"}},

		// database, redis, metrics
		{name: "driver unknown", yaml: `database: { driver: mysql }`, want: []string{`database.driver: must be sqlite or postgres, got "mysql"`}},
		{name: "postgres", yaml: `database: { driver: postgres, dsn: "postgres://gh:pw@db/gh" }`},
		{name: "dsn empty", yaml: `database: { dsn: "" }`, want: []string{"database.dsn: required"}},
		{name: "max_open_conns negative", yaml: `database: { max_open_conns: -1 }`, want: []string{"database.max_open_conns: must be 0"}},
		{name: "redis url scheme", yaml: `redis: { url: "http://redis:6379" }`, want: []string{"redis.url: want a redis:// or rediss:// URL"}},
		{name: "redis url without host", yaml: `redis: { url: "redis://" }`, want: []string{"redis.url: want a redis:// or rediss:// URL"}},
		{name: "redis url fine", yaml: `redis: { url: "rediss://:pw@redis.internal:6380/1" }`},
		{name: "redis addrs bad", yaml: `redis: { addrs: ["redis-1:6379", "redis-2", ":6379"] }`, want: []string{"redis.addrs[1]: want host:port", "redis.addrs[2]: want host:port"}},
		{name: "redis sentinel", yaml: `redis: { addrs: ["s1:26379", "s2:26379"], master_name: mymaster }`},
		{name: "redis url and addrs", yaml: `redis: { url: "redis://r:6379", addrs: ["r:6379"] }`, want: []string{"redis: set url or addrs, not both"}},
		{name: "redis master_name alone", yaml: `redis: { master_name: m }`, want: []string{"redis.master_name: needs redis.addrs"}},
		{name: "redis db negative", yaml: `redis: { db: -1 }`, want: []string{"redis.db: must be 0 or more"}},
		{name: "metrics listen bad", yaml: `metrics: { listen: metrics }`, want: []string{"metrics.listen: want host:port"}},
		{name: "metrics same as server", yaml: `metrics: { listen: "127.0.0.1:8080" }`, want: []string{"metrics.listen: must differ from server.listen"}},
		{name: "metrics wildcard same port", yaml: `metrics: { listen: ":8080" }`, want: []string{"metrics.listen: must differ from server.listen"}},
		{name: "metrics fine", yaml: `metrics: { listen: "127.0.0.1:9090" }`},

		// session, tokens
		{name: "cookie_name empty", yaml: `session: { cookie_name: "" }`, want: []string{"session.cookie_name: required"}},
		{name: "cookie_name bad", yaml: `session: { cookie_name: "my session" }`, want: []string{`session.cookie_name: not a valid cookie name`}},
		{name: "cookie_name semicolon", yaml: `session: { cookie_name: "a;b" }`, want: []string{`session.cookie_name: not a valid cookie name`}},
		{name: "cookie_domain url", yaml: `session: { cookie_domain: "https://example.com" }`, want: []string{"session.cookie_domain: want a domain"}},
		{name: "cookie_domain fine", yaml: `session: { cookie_domain: .Example.com }`},
		{name: "cookie_secure bad", yaml: `session: { cookie_secure: maybe }`, want: []string{`session.cookie_secure: must be auto, true or false, got "maybe"`}},
		{name: "cookie_secure bool", yaml: `session: { cookie_secure: true }`},
		{name: "idle_timeout bad", yaml: `session: { idle_timeout: abc }`, want: []string{`session.idle_timeout: want a duration such as 15m, got "abc"`}},
		{name: "idle_timeout negative", yaml: `session: { idle_timeout: -5m }`, want: []string{`session.idle_timeout: want a duration of zero or more, got "-5m"`}},
		{name: "idle_timeout zero", yaml: `session: { idle_timeout: 0s }`, want: []string{"session.idle_timeout: must be more than 0"}},
		{name: "max_lifetime below idle", yaml: `session: { idle_timeout: 2h, max_lifetime: 1h }`, want: []string{"session.max_lifetime: must be at least session.idle_timeout (2h), got 1h"}},
		{name: "access_ttl zero", yaml: `tokens: { access_ttl: 0s }`, want: []string{"tokens.access_ttl: must be more than 0"}},
		{name: "refresh_ttl zero", yaml: `tokens: { refresh_ttl: 0s }`, want: []string{"tokens.refresh_ttl: must be more than 0"}},

		// mail
		{name: "mail driver", yaml: `mail: { driver: sendgrid }`, want: []string{`mail.driver: must be log or smtp, got "sendgrid"`}},
		{name: "smtp without host", yaml: `mail: { driver: smtp }`, want: []string{"mail.smtp.host: required when mail.driver is smtp"}},
		{name: "smtp fine", yaml: `mail: { driver: smtp, from: "App <app@example.com>", smtp: { host: mail.example.com, port: 465, tls: tls } }`},
		{name: "smtp port zero", yaml: `mail: { smtp: { port: 0 } }`, want: []string{"mail.smtp.port: must be from 1 to 65535, got 0"}},
		{name: "smtp port high", yaml: `mail: { smtp: { port: 70000 } }`, want: []string{"mail.smtp.port: must be from 1 to 65535, got 70000"}},
		{name: "smtp tls", yaml: `mail: { smtp: { tls: ssl } }`, want: []string{`mail.smtp.tls: must be none, starttls or tls, got "ssl"`}},
		{name: "mail from", yaml: `mail: { from: "not an address" }`, want: []string{`mail.from: want an address`}},
		{name: "mail from bare address", yaml: `mail: { from: "no-reply@example.com" }`},

		// accounts
		{name: "role upper case", yaml: `accounts: { roles: [User], default_role: "" , selectable_roles: [User] }`, want: []string{`accounts.roles[0]: want lower-case letters, digits, _ and - only, got "User"`}},
		{name: "role empty", yaml: `accounts: { roles: [user, ""] }`, want: []string{"accounts.roles[1]: must not be empty"}},
		{name: "role duplicate", yaml: `accounts: { roles: [user, editor, user] }`, want: []string{`accounts.roles[2]: duplicate role "user"`}},
		{name: "roles with admin", yaml: `accounts: { roles: [admin, user] }`},
		{name: "default_role unknown", yaml: `accounts: { default_role: boss }`, want: []string{`accounts.default_role: "boss" is not one of accounts.roles [user]`}},
		{name: "default_role admin", yaml: `accounts: { default_role: admin }`, want: []string{"accounts.default_role: must not be admin"}},
		{name: "default_role empty needs selectable", yaml: `accounts: { default_role: "" }`, want: []string{"accounts.selectable_roles: required when accounts.default_role is \"\""}},
		{name: "default_role empty with selectable", yaml: `accounts: { roles: [buyer, seller], default_role: "", selectable_roles: [buyer, seller] }`},
		{name: "selectable admin", yaml: `accounts: { selectable_roles: [admin] }`, want: []string{"accounts.selectable_roles[0]: admin cannot be picked by users"}},
		{name: "selectable unknown", yaml: `accounts: { selectable_roles: [user, boss] }`, want: []string{`accounts.selectable_roles[1]: "boss" is not one of accounts.roles`}},
		{name: "selectable duplicate", yaml: `accounts: { selectable_roles: [user, user] }`, want: []string{`accounts.selectable_roles[1]: duplicate role "user"`}},
		{name: "password min_length", yaml: `accounts: { password: { min_length: 4 } }`, want: []string{"accounts.password.min_length: must be at least 6, got 4"}},
		{name: "password max below min", yaml: `accounts: { password: { min_length: 12, max_length: 10 } }`, want: []string{"accounts.password.max_length: must be from min_length (12) to 4096, got 10"}},
		{name: "password max too high", yaml: `accounts: { password: { max_length: 5000 } }`, want: []string{"accounts.password.max_length: must be from min_length (8) to 4096, got 5000"}},
		{name: "argon2 zero", yaml: `accounts: { password: { argon2: { memory_kib: 8, iterations: 0, parallelism: 0 } } }`, want: []string{"accounts.password.argon2.parallelism: must be at least 1", "accounts.password.argon2.iterations: must be at least 1"}},
		{name: "argon2 memory per lane", yaml: `accounts: { password: { argon2: { memory_kib: 8, parallelism: 2 } } }`, want: []string{"accounts.password.argon2.memory_kib: must be from 8 × parallelism"}},
		{name: "lockout zero", yaml: `accounts: { lockout: { max_failures: 0, window: 0s, duration: 0s } }`, want: []string{"accounts.lockout.max_failures: must be more than 0", "accounts.lockout.window: must be more than 0", "accounts.lockout.duration: must be more than 0"}},
		{name: "codes ttl", yaml: `accounts: { codes: { ttl: 0s } }`, want: []string{"accounts.codes.ttl: must be more than 0"}},
		{name: "codes max_attempts zero", yaml: `accounts: { codes: { max_attempts: 0 } }`, want: []string{"accounts.codes.max_attempts: must be from 1 to 20, got 0"}},
		{name: "codes max_attempts high", yaml: `accounts: { codes: { max_attempts: 21 } }`, want: []string{"accounts.codes.max_attempts: must be from 1 to 20, got 21"}},
		{name: "codes no cooldown", yaml: `accounts: { codes: { resend_cooldown: 0s } }`},

		// providers: raw, each provider checks its own (config.DecodeOptions)
		{name: "providers are not config's", yaml: `providers: { google: { api_url: 1 }, someone: [x], oidc: [{ scope: [email] }] }`},
		{name: "rate bad", yaml: `rate_limits: { login: "10 per minute" }`, want: []string{`rate_limits.login: want N/period such as 10/m, got "10 per minute"`}},
		{name: "rate off and custom", yaml: `rate_limits: { login: "", codes: 3/30s, register: 100/d }`},

		// headers
		{name: "prefix empty", yaml: `headers: { prefix: "" }`, want: []string{"headers.prefix: required"}},
		{name: "prefix without dash", yaml: `headers: { prefix: X-Auth }`, want: []string{`headers.prefix: must end with "-", got "X-Auth"`}},
		{name: "prefix bad chars", yaml: `headers: { prefix: "X Auth-" }`, want: []string{`headers.prefix: not a valid header name prefix: "X Auth-"`}},
		{name: "assertion ttl", yaml: `headers: { assertion: { ttl: 0s } }`, want: []string{"headers.assertion.ttl: must be more than 0 when the assertion is enabled"}},
		{name: "assertion off", yaml: `headers: { assertion: { enabled: false, ttl: 0s } }`},

		// routes
		{name: "route name missing", yaml: `routes: [{ upstream: "http://a" }]`, want: []string{"routes[0].name: required"}},
		{name: "route name bad", yaml: `routes: [{ name: "my app", upstream: "http://a" }]`, want: []string{`routes[0].name: want letters, digits, _ . and - only, got "my app"`}},
		{name: "route name duplicate", yaml: `routes: [{ name: a, upstream: "http://a" }, { name: a, path: /b, upstream: "http://b" }]`, want: []string{`routes[1].name: duplicate name "a" (also routes[0])`}},
		{name: "route host scheme", yaml: `routes: [{ name: a, host: "https://x.example.com", upstream: "http://a" }]`, want: []string{"routes[0].host: want a host such as app.example.com or *.example.com"}},
		{name: "route host path", yaml: `routes: [{ name: a, host: "x.example.com/app", upstream: "http://a" }]`, want: []string{"routes[0].host: want a host"}},
		{name: "route host star", yaml: `routes: [{ name: a, host: "*", upstream: "http://a" }]`, want: []string{"routes[0].host: want a host"}},
		{name: "route host inner star", yaml: `routes: [{ name: a, host: "a.*.example.com", upstream: "http://a" }]`, want: []string{"routes[0].host: want a host"}},
		{name: "route host port", yaml: `routes: [{ name: a, host: "x.example.com:0", upstream: "http://a" }]`, want: []string{`routes[0].host: want a port from 1 to 65535 in "x.example.com:0"`}},
		{name: "route hosts fine", yaml: `routes: [{ name: a, host: "App.Example.com", upstream: "http://a" }, { name: b, host: "*.example.com", upstream: "http://b" }, { name: c, host: "x.example.com:8443", upstream: "http://c" }, { name: d, host: "[::1]:8080", upstream: "http://d" }, { name: e, host: "10.0.0.1", upstream: "http://e" }]`},
		{name: "route path relative", yaml: `routes: [{ name: a, path: app, upstream: "http://a" }]`, want: []string{`routes[0].path: must start with "/", got "app"`}},
		{name: "route path dot dot", yaml: `routes: [{ name: a, path: /app/../admin, upstream: "http://a" }]`, want: []string{`routes[0].path: must not contain "." or ".." segments`}},
		{name: "route path percent", yaml: `routes: [{ name: a, path: /app%2Fx, upstream: "http://a" }]`, want: []string{`routes[0].path: must be a plain path without '%'`}},
		{name: "route path double slash", yaml: `routes: [{ name: a, path: /app//x, upstream: "http://a" }]`, want: []string{`routes[0].path: must not contain "//"`}},
		{name: "route path in auth_prefix", yaml: `routes: [{ name: a, path: /auth/x, upstream: "http://a" }]`, want: []string{`routes[0].path: "/auth/x" is inside server.auth_prefix "/auth"`}},
		{name: "route path like auth_prefix", yaml: `routes: [{ name: a, path: /authors, upstream: "http://a" }]`},
		{name: "route path healthz", yaml: `routes: [{ name: a, path: /healthz, upstream: "http://a" }]`, want: []string{`routes[0].path: "/healthz" is answered by Gatehouse itself`}},
		{name: "upstream missing", yaml: `routes: [{ name: a }]`, want: []string{"routes[0].upstream: required"}},
		{name: "upstream ftp", yaml: `routes: [{ name: a, path: /a, upstream: "http://a" }, { name: b, path: /b, upstream: "http://b" }, { name: c, upstream: "ftp://x" }]`, want: []string{`routes[2].upstream: not an absolute http(s) URL: "ftp://x"`}},
		{name: "upstream user info", yaml: `routes: [{ name: a, upstream: "http://u:p@a" }]`, want: []string{`routes[0].upstream: not an absolute http(s) URL`}},
		{name: "upstream query", yaml: `routes: [{ name: a, upstream: "http://a/x?y=1" }]`, want: []string{"routes[0].upstream: must not have a query or fragment"}},
		{name: "upstream with base path", yaml: `routes: [{ name: a, upstream: "https://a.internal:8443/base" }]`},
		{name: "auth bad", yaml: `routes: [{ name: a, upstream: "http://a", auth: sometimes }]`, want: []string{`routes[0].auth: must be required, optional or public, got "sometimes"`}},
		{name: "roles unknown", yaml: `routes: [{ name: a, upstream: "http://a", roles: [admin, boss] }]`, want: []string{`routes[0].roles[1]: unknown role "boss" (roles are [admin user])`}},
		{name: "workspace_role bad", yaml: `routes: [{ name: a, upstream: "http://a", workspace_role: owner }]`, want: []string{`routes[0].workspace_role: must be member, moderator, admin or "", got "owner"`}},
		{name: "workspace_role fine", yaml: `routes: [{ name: a, upstream: "http://a", workspace_role: moderator, roles: [user] }]`},
		{name: "public with roles", yaml: `routes: [{ name: a, upstream: "http://a", auth: public, roles: [user], workspace_role: member }]`, want: []string{"routes[0].roles: must be empty on a public route", "routes[0].workspace_role: must be empty on a public route"}},
		{name: "optional with roles", yaml: `routes: [{ name: a, upstream: "http://a", auth: optional, roles: [user] }]`},
		{name: "timeout bad", yaml: `routes: [{ name: a, upstream: "http://a", timeout: soon }]`, want: []string{`routes[0].timeout: want a duration such as 15m, got "soon"`}},
		{name: "same host and path", yaml: `routes: [{ name: a, path: /app, upstream: "http://a" }, { name: b, path: /app/, upstream: "http://b" }]`, want: []string{`routes[1].path: same host and path as routes[0] (host "", path "/app")`}},
		{name: "same path other hosts", yaml: `routes: [{ name: a, host: a.example.com, upstream: "http://a" }, { name: b, host: B.example.com, upstream: "http://b" }, { name: c, upstream: "http://c" }]`},
		{name: "route plugin without name", yaml: `routes: [{ name: a, upstream: "http://a", plugins: [{ name: cors }, { id: x }] }]`, want: []string{"routes[0].plugins[1].name: required"}},
		{name: "global plugin without name", yaml: `plugins: [{ options: { a: 1 } }]`, want: []string{"plugins[0].name: required"}},
		{name: "plugin options not checked here", yaml: `plugins: [{ name: ratelimit, id: api-rl, options: { rate: ten, nonsense: [1, 2] } }]`},

		// webhooks
		{name: "webhook empty", yaml: `webhooks: [{ events: [] }]`, want: []string{"webhooks[0].url: required", "webhooks[0].events: want at least one event", "webhooks[0].secret: required"}},
		{name: "webhook url", yaml: `webhooks: [{ url: "mailto:x@example.com", events: [user.created], secret: ` + whsec + ` }]`, want: []string{`webhooks[0].url: not an absolute http(s) URL: "mailto:x@example.com"`}},
		{name: "webhook events", yaml: `webhooks: [{ url: "https://h", events: [user.created, user.exploded, user.created], secret: ` + whsec + ` }]`, want: []string{`webhooks[0].events[1]: unknown event "user.exploded"`, `webhooks[0].events[2]: duplicate event "user.created"`}},
		{name: "webhook secret prefix", yaml: `webhooks: [{ url: "https://h", events: [user.login], secret: MDEyMzQ1Njc4OWFiY2RlZmdoaWprbG1u }]`, want: []string{`webhooks[0].secret: must start with "whsec_"`}},
		{name: "webhook secret base64", yaml: `webhooks: [{ url: "https://h", events: [user.login], secret: "whsec_not base64" }]`, want: []string{`webhooks[0].secret: must be "whsec_" followed by base64`}},
		{name: "webhook secret short", yaml: `webhooks: [{ url: "https://h", events: [user.login], secret: whsec_c2hvcnQ= }]`, want: []string{`webhooks[0].secret: must hold at least 24 bytes after "whsec_", has 5`}},
		{name: "webhook fine", yaml: `webhooks: [{ url: "https://hooks.example.com/in", events: [user.created, user.verified, user.login, user.updated, user.deleted, workspace.member_added, workspace.member_removed], secret: ` + whsec + ` }]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.yaml + "\n"
			if !hasSecret.MatchString(src) {
				src = "secret: " + testSecret + "\n" + src
			}
			_, err := Parse([]byte(src), nil)
			got := problemStrings(t, err)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d problems, want %d:\n got: %q\nwant: %q", len(got), len(tc.want), got, tc.want)
			}
			for i := range got {
				if !strings.Contains(got[i], tc.want[i]) {
					t.Errorf("problem %d = %q, want it to contain %q", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestValidateIsPure(t *testing.T) {
	cfg := Default()
	cfg.Secret = NewSecret(testSecret)
	cfg.Server.AuthPrefix = "/auth/"
	cfg.Routes = []Route{{Name: "a", Host: "x.example.com", Path: "/app/", Upstream: URL{}, Auth: AuthRequired}}
	before := *cfg
	before.Routes = append([]Route(nil), cfg.Routes...)
	err := cfg.Validate()
	if diff := cmp.Diff(&before, cfg, cmpConfig); diff != "" {
		t.Errorf("Validate changed the config (-before +after):\n%s", diff)
	}
	want := []string{"routes[0].upstream: required", "routes[0].timeout: must be more than 0"}
	if diff := cmp.Diff(want, problemStrings(t, err)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

func TestValidateDefault(t *testing.T) {
	cfg := Default()
	if diff := cmp.Diff([]string{"secret: required"}, problemStrings(t, cfg.Validate())); diff != "" {
		t.Errorf("Default().Validate (-want +got):\n%s", diff)
	}
	cfg.Secret = NewSecret(testSecret)
	if err := cfg.Validate(); err != nil {
		t.Errorf("Default() with a secret: %v", err)
	}
}

func TestValidateRequiresLowerCaseHost(t *testing.T) {
	cfg := Default()
	cfg.Secret = NewSecret(testSecret)
	u, _ := ParseURL("http://a")
	cfg.Routes = []Route{{Name: "a", Host: "App.example.com", Path: "/", Upstream: u, Auth: AuthPublic, Timeout: DefaultRouteTimeout}}
	want := []string{`routes[0].host: must be lower-case, got "App.example.com"`}
	if diff := cmp.Diff(want, problemStrings(t, cfg.Validate())); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}
