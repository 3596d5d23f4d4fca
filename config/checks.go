package config

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

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
