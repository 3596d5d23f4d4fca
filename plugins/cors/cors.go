// Package cors is the cors plugin: it lets browsers on the configured
// origins call the routes it is on. It answers a preflight (OPTIONS with
// Origin and Access-Control-Request-Method) from an allowed origin itself
// with 204, without going further down the chain; on other requests from
// an allowed origin it adds Access-Control-Allow-Origin and friends to the
// final response, error answers included. Requests from other origins pass
// through without CORS headers, and every response gets Vary: Origin. The
// plugin owns CORS where it runs: Access-Control-Allow-* and
// Access-Control-Expose-Headers headers set by the upstream are replaced.
// Origin rules are compiled at start; nothing is parsed per request.
//
//	plugins:
//	  - name: cors
//	    options:
//	      allowed_origins: ["https://app.example.com", "https://*.example.org"]
//	      allowed_methods: [GET, POST, PUT, DELETE]
//	      allowed_headers: [Content-Type, Authorization]
//	      exposed_headers: [X-Request-Id]
//	      allow_credentials: true
//	      max_age: 600
package cors

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"gatehouse/gateway"
)

// Defaults of the list options, used when an option is omitted (an
// explicit empty list means none).
var (
	DefaultAllowedMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"}
	DefaultAllowedHeaders = []string{"Content-Type", "Authorization", "X-Requested-With"}
	DefaultExposedHeaders = []string{"Content-Range", "X-Total-Count", "X-Request-Id"}
)

// Info registers the plugin as cors, in the edge phase.
func Info() gateway.PluginInfo {
	return gateway.PluginInfo{
		Name:  "cors",
		Phase: gateway.PhaseEdge,
		New:   func() gateway.Plugin { return new(Plugin) },
	}
}

// Plugin answers CORS preflights and sets CORS response headers.
type Plugin struct {
	// AllowedOrigins are the origins browsers may call from: exact
	// ("https://app.example.com:8443"), a wildcard subdomain
	// ("https://*.example.com", any depth, not the bare domain) or "*" (any).
	AllowedOrigins []string `yaml:"allowed_origins"`
	// AllowedMethods are the methods a preflight allows; omitted means GET,
	// HEAD, POST, PUT, PATCH, DELETE.
	AllowedMethods []string `yaml:"allowed_methods"`
	// AllowedHeaders are the request headers a preflight allows; omitted
	// means Content-Type, Authorization, X-Requested-With.
	AllowedHeaders []string `yaml:"allowed_headers"`
	// ExposedHeaders are the response headers scripts may read; omitted
	// means Content-Range, X-Total-Count, X-Request-Id.
	ExposedHeaders []string `yaml:"exposed_headers"`
	// AllowCredentials lets browsers send cookies and read the answers to
	// credentialed requests; it cannot be combined with "*".
	AllowCredentials bool `yaml:"allow_credentials"`
	// MaxAge is how long, in seconds, browsers may cache a preflight's
	// answer; 0 sends no Access-Control-Max-Age.
	MaxAge int `yaml:"max_age"`

	rules         rules
	allowMethods  string // header values, joined at Provision
	allowHeaders  string
	exposeHeaders string
	maxAge        string
}

var (
	_ gateway.Middleware = (*Plugin)(nil)
	_ gateway.Validator  = (*Plugin)(nil)
)

// Validate checks the origins and header lists.
func (p *Plugin) Validate() error {
	_, err := p.compile()
	return err
}

// compile checks the options and builds the origin rules. It does not
// change p.
func (p *Plugin) compile() (rules, error) {
	var errs []error
	r := rules{exact: map[string]struct{}{}}
	if len(p.AllowedOrigins) == 0 {
		errs = append(errs, errors.New("allowed_origins: list at least one origin"))
	}
	for i, s := range p.AllowedOrigins {
		if s == "*" {
			r.any = true
			if p.AllowCredentials {
				errs = append(errs, fmt.Errorf(`allowed_origins[%d]: "*" cannot be used with allow_credentials; list the origins`, i))
			}
			continue
		}
		o, err := parseOrigin(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("allowed_origins[%d]: %w", i, err))
			continue
		}
		if o.wildcard {
			r.wildcards = append(r.wildcards, o)
		} else {
			r.exact[o.prefix] = struct{}{}
		}
	}
	for _, l := range []struct {
		key    string
		values []string
	}{
		{"allowed_methods", p.AllowedMethods},
		{"allowed_headers", p.AllowedHeaders},
		{"exposed_headers", p.ExposedHeaders},
	} {
		for i, v := range l.values {
			switch {
			case v == "*" && p.AllowCredentials:
				errs = append(errs, fmt.Errorf(`%s[%d]: "*" cannot be used with allow_credentials; list the names`, l.key, i))
			case v != "*" && !gateway.IsToken(v):
				errs = append(errs, fmt.Errorf("%s[%d]: not a token: %q", l.key, i, v))
			}
		}
	}
	if p.MaxAge < 0 {
		errs = append(errs, fmt.Errorf("max_age: want seconds >= 0, got %d", p.MaxAge))
	}
	return r, errors.Join(errs...)
}

// Provision compiles the origin rules and the header values.
func (p *Plugin) Provision(_ context.Context, _ *gateway.Host) error {
	r, err := p.compile()
	if err != nil {
		return err
	}
	p.rules = r
	methods := orDefault(p.AllowedMethods, DefaultAllowedMethods)
	upper := make([]string, len(methods))
	for i, m := range methods {
		upper[i] = strings.ToUpper(m)
	}
	p.allowMethods = strings.Join(upper, ", ")
	p.allowHeaders = strings.Join(orDefault(p.AllowedHeaders, DefaultAllowedHeaders), ", ")
	p.exposeHeaders = strings.Join(orDefault(p.ExposedHeaders, DefaultExposedHeaders), ", ")
	if p.MaxAge > 0 {
		p.maxAge = strconv.Itoa(p.MaxAge)
	}
	return nil
}

// orDefault is v, or def when the option was omitted (nil, not empty).
func orDefault(v, def []string) []string {
	if v == nil {
		return def
	}
	return v
}

// Response headers the plugin owns.
const (
	hAllowOrigin      = "Access-Control-Allow-Origin"
	hAllowCredentials = "Access-Control-Allow-Credentials"
	hAllowMethods     = "Access-Control-Allow-Methods"
	hAllowHeaders     = "Access-Control-Allow-Headers"
	hExposeHeaders    = "Access-Control-Expose-Headers"
	hMaxAge           = "Access-Control-Max-Age"
)

// Handle answers allowed preflights and decorates everything else.
func (p *Plugin) Handle(c *fiber.Ctx) error {
	origin := c.Get(fiber.HeaderOrigin)
	allowed := origin != "" && p.rules.allows(origin)
	if allowed && c.Method() == fiber.MethodOptions && c.Get(fiber.HeaderAccessControlRequestMethod) != "" {
		return p.preflight(c, origin)
	}
	gateway.Finish(c, c.Next())
	h := &c.Response().Header
	for _, n := range []string{hAllowOrigin, hAllowCredentials, hAllowMethods, hAllowHeaders, hExposeHeaders, hMaxAge} {
		h.Del(n)
	}
	if allowed {
		p.setOrigin(c, origin)
		if p.exposeHeaders != "" {
			h.Set(hExposeHeaders, p.exposeHeaders)
		}
	}
	c.Vary(fiber.HeaderOrigin)
	return nil
}

func (p *Plugin) preflight(c *fiber.Ctx, origin string) error {
	p.setOrigin(c, origin)
	h := &c.Response().Header
	if p.allowMethods != "" {
		h.Set(hAllowMethods, p.allowMethods)
	}
	if p.allowHeaders != "" {
		h.Set(hAllowHeaders, p.allowHeaders)
	}
	if p.maxAge != "" {
		h.Set(hMaxAge, p.maxAge)
	}
	c.Vary(fiber.HeaderOrigin)
	c.Status(fiber.StatusNoContent)
	return nil
}

func (p *Plugin) setOrigin(c *fiber.Ctx, origin string) {
	h := &c.Response().Header
	if p.rules.any && !p.AllowCredentials {
		h.Set(hAllowOrigin, "*")
	} else {
		h.Set(hAllowOrigin, origin)
	}
	if p.AllowCredentials {
		h.Set(hAllowCredentials, "true")
	}
}

// rules are the compiled allowed_origins.
type rules struct {
	any       bool
	exact     map[string]struct{} // "https://app.example.com"
	wildcards []origin
}

// origin is one compiled allowed origin. For an exact origin, prefix is
// the whole normalised origin; for "https://*.example.com:8443", prefix is
// "https://" and suffix ".example.com:8443".
type origin struct {
	wildcard bool
	prefix   string
	suffix   string
}

// allows reports whether the request's Origin header is allowed.
func (r *rules) allows(o string) bool {
	if r.any {
		return true
	}
	o = strings.ToLower(o) // no allocation when already lower case, as browsers send it
	if _, ok := r.exact[o]; ok {
		return true
	}
	for _, w := range r.wildcards {
		if len(o) > len(w.prefix)+len(w.suffix) && strings.HasPrefix(o, w.prefix) && strings.HasSuffix(o, w.suffix) &&
			isSubdomain(o[len(w.prefix):len(o)-len(w.suffix)]) {
			return true
		}
	}
	return false
}

// isSubdomain reports whether s is one or more DNS labels ("a", "a.b").
func isSubdomain(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// parseOrigin parses scheme://host[:port], where host may start with "*."
// to allow any subdomain. It lower-cases the origin and drops a default
// port, as browsers do when they send Origin.
func parseOrigin(s string) (origin, error) {
	bad := func(why string) (origin, error) {
		return origin{}, fmt.Errorf("want scheme://host[:port] (%s), got %q", why, s)
	}
	scheme, rest, ok := strings.Cut(strings.ToLower(s), "://")
	if !ok || !isScheme(scheme) {
		return bad("no scheme")
	}
	if i := strings.IndexAny(rest, "/?#@ "); i >= 0 {
		return bad("no path, query or user")
	}
	wildcard := strings.HasPrefix(rest, "*.")
	if wildcard {
		rest = "x" + rest[1:] // parse a stand-in label
	}
	if strings.Contains(rest, "*") {
		return bad(`"*" only as the first label`)
	}
	u, err := url.Parse(scheme + "://" + rest)
	if err != nil || u.Host != rest || u.Hostname() == "" || strings.HasSuffix(rest, ":") {
		return bad("bad host or port")
	}
	host, port := u.Hostname(), u.Port()
	if strings.Contains(host, ":") { // IPv6
		if a, err := netip.ParseAddr(host); err != nil || a.Zone() != "" || wildcard {
			return bad("bad IPv6 address")
		}
		host = "[" + host + "]"
	} else if !isSubdomain(host) {
		return bad("bad host")
	}
	port, ok = originPort(scheme, port)
	if !ok {
		return bad("bad port")
	}
	hostport := host
	if port != "" {
		hostport += ":" + port
	}
	if wildcard {
		return origin{wildcard: true, prefix: scheme + "://", suffix: strings.TrimPrefix(hostport, "x")}, nil
	}
	return origin{prefix: scheme + "://" + hostport}, nil
}

// originPort checks an origin's port and drops the scheme's default, as
// browsers do; "" stays "".
func originPort(scheme, port string) (string, bool) {
	if port == "" {
		return "", true
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 || port[0] == '0' {
		return "", false
	}
	if scheme == "http" && n == 80 || scheme == "https" && n == 443 {
		return "", true
	}
	return port, true
}

func isScheme(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}
