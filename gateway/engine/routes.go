package engine

import (
	"sort"
	"strings"

	"gatehouse/config"
	"gatehouse/gateway"
)

// Route is one configured route, compiled at start.
type Route struct {
	// Name is the route's name (metrics label, JWT aud).
	Name string
	// Auth is required | optional | public.
	Auth string
	// Roles are the platform roles allowed (any of); empty = all.
	Roles []string
	// WorkspaceRole is the minimum workspace role ("" = none needed).
	WorkspaceRole string

	host      string // exact host, "" = any
	withPort  bool   // host includes a port: compare host:port
	wildcard  string // ".example.com" for "*.example.com"
	prefix    string // normalised path prefix without trailing slash; "" for "/"
	strip     bool
	bodyLimit int64
	upstream  *upstream
	chain     chain                   // global and own plugins, compiled at start
	stage     []gateway.Authenticator // the auth stage, asked in order
}

// hostRank orders exact host:port > exact host > wildcard > any.
func (r *Route) hostRank() int {
	switch {
	case r.withPort:
		return 3
	case r.host != "":
		return 2
	case r.wildcard != "":
		return 1
	}
	return 0
}

// matchHost reports whether host (lower-case, without port) or full
// (lower-case host:port as sent) matches.
func (r *Route) matchHost(host, full string) bool {
	switch {
	case r.withPort:
		return full == r.host
	case r.host != "":
		return host == r.host
	case r.wildcard != "":
		return len(host) > len(r.wildcard) && strings.HasSuffix(host, r.wildcard)
	}
	return true
}

// matchPath reports whether path is the prefix itself or below it, on a
// segment boundary: "/app" matches "/app", "/app/" and "/app/x", never "/apple".
func (r *Route) matchPath(path string) bool {
	if r.prefix == "" {
		return true
	}
	if !strings.HasPrefix(path, r.prefix) {
		return false
	}
	return len(path) == len(r.prefix) || path[len(r.prefix)] == '/'
}

// upstreamPath is the path sent upstream: the upstream URL's own path,
// then the request path (without the route prefix when strip_prefix).
func (r *Route) upstreamPath(path string) string {
	if r.strip && r.prefix != "" {
		path = path[len(r.prefix):]
		if path == "" {
			path = "/"
		}
	}
	base := r.upstream.basePath
	if base == "" {
		return path
	}
	return base + path
}

// Router picks the route for a host and normalised path: host first
// (exact, then wildcard, then any), then the longest path prefix.
type Router struct {
	routes  []*Route // sorted by host rank, then prefix length, both descending
	anyPort bool     // some route's host has a port
	hosts   []string // explicit hosts of routes, for rd validation
}

func newRouter(routes []*Route) *Router {
	sorted := append([]*Route(nil), routes...)
	sort.SliceStable(sorted, func(i, j int) bool {
		a, b := sorted[i], sorted[j]
		if a.hostRank() != b.hostRank() {
			return a.hostRank() > b.hostRank()
		}
		return len(a.prefix) > len(b.prefix)
	})
	rt := &Router{routes: sorted}
	for _, r := range routes {
		if r.host != "" {
			rt.hosts = append(rt.hosts, r.host)
		}
		rt.anyPort = rt.anyPort || r.withPort
	}
	return rt
}

// Match returns the route for host (as the client sent it) and path, or nil.
// A host's trailing dot (the fully qualified "app.example.com.") is the
// same host: it matches the route of "app.example.com".
func (rt *Router) Match(host, path string) *Route {
	h := hostOnly(host)
	full := host
	if rt.anyPort {
		full = withoutRootDot(strings.ToLower(host))
	}
	for _, r := range rt.routes {
		if r.matchHost(h, full) && r.matchPath(path) {
			return r
		}
	}
	return nil
}

// Hosts are the explicit hosts of the routes.
func (rt *Router) Hosts() []string { return rt.hosts }

// hostOnly lower-cases host and drops the port and a trailing dot.
func hostOnly(host string) string {
	if strings.HasPrefix(host, "[") {
		if i := strings.IndexByte(host, ']'); i > 0 {
			return strings.ToLower(host[1:i])
		}
	}
	if i := strings.LastIndexByte(host, ':'); i >= 0 && strings.IndexByte(host, ':') == i {
		host = host[:i]
	}
	host = strings.TrimSuffix(host, ".")
	for i := 0; i < len(host); i++ {
		if c := host[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(host)
		}
	}
	return host
}

// withoutRootDot drops the trailing dot of a host:port's host
// ("app.example.com.:8443" is "app.example.com:8443").
func withoutRootDot(hostport string) string {
	if i := strings.LastIndexByte(hostport, ':'); i > 0 && hostport[i-1] == '.' && strings.IndexByte(hostport, ':') == i {
		return hostport[:i-1] + hostport[i:]
	}
	return hostport
}

// compileRoute turns a config route into a Route (without its upstream client).
func compileRoute(rc config.Route, defaultBodyLimit int64) *Route {
	r := &Route{
		Name:          rc.Name,
		Auth:          rc.Auth,
		Roles:         rc.Roles,
		WorkspaceRole: rc.WorkspaceRole,
		strip:         rc.StripPrefix,
		bodyLimit:     int64(rc.BodyLimit),
	}
	if r.bodyLimit <= 0 {
		r.bodyLimit = defaultBodyLimit
	}
	h := strings.ToLower(strings.TrimSpace(rc.Host))
	if strings.HasPrefix(h, "*.") {
		r.wildcard = strings.TrimSuffix(h[1:], ".")
	} else if h != "" && !strings.HasPrefix(h, "[") && strings.Count(h, ":") == 1 {
		r.host, r.withPort = withoutRootDot(h), true
	} else {
		r.host = hostOnly(h)
	}
	p, err := NormalisePath(rc.Path)
	if err != nil {
		p = rc.Path
	}
	r.prefix = strings.TrimSuffix(p, "/")
	return r
}
