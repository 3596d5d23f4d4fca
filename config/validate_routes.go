package config

import (
	"encoding/base64"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

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
