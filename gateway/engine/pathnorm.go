package engine

import (
	"errors"
	"strings"
)

// Errors of NormalisePath.
var (
	// errBadPath is a path with an encoded slash or a backslash (SPEC §2).
	errBadPath = errors.New("the path contains an encoded slash or a backslash")
	// errControlInPath is a path with a control byte, raw or encoded.
	errControlInPath = errors.New("the path contains a control character")
)

// isControl reports an ASCII control byte (C0 or DEL).
func isControl(c byte) bool { return c < 0x20 || c == 0x7f }

func isUnreserved(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

const upperHex = "0123456789ABCDEF"

// NormalisePath is SPEC §2's route-matching normalisation of a raw request
// path (without the query): percent-encoded unreserved characters are
// decoded once (other escapes kept, hex upper-cased), then repeated slashes
// merged and `.`/`..` segments resolved. An encoded slash (%2F), an
// encoded backslash (%5C) or a raw backslash is refused (errBadPath), and
// so is a control byte, raw or encoded (%00–%1F, %7F: errControlInPath):
// an upstream could cut the path at a NUL or read a CR LF as the end of
// its request line. Case is kept and `;` is an ordinary character (SPEC
// §2): "/ADMIN" and "/admin;x" are other paths than "/admin". The result always
// starts with "/". What it returns is both what is matched and what is
// forwarded.
func NormalisePath(raw string) (string, error) {
	if raw == "" || raw[0] != '/' {
		raw = "/" + raw
	}
	// Fast path: nothing to decode and nothing to resolve.
	clean := true
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c == '%' || c == '\\' || isControl(c) || c == '.' && (i+1 == len(raw) || raw[i+1] == '/' || raw[i+1] == '.') && raw[i-1] == '/' ||
			c == '/' && i+1 < len(raw) && raw[i+1] == '/' {
			clean = false
			break
		}
	}
	if clean {
		return raw, nil
	}
	// Decode once.
	var b strings.Builder
	b.Grow(len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == '\\':
			return "", errBadPath
		case isControl(c):
			return "", errControlInPath
		case c == '%':
			if i+2 >= len(raw) {
				// A stray '%': keep it encoded so the upstream sees what we matched.
				b.WriteString("%25")
				continue
			}
			h, ok1 := unhex(raw[i+1])
			l, ok2 := unhex(raw[i+2])
			if !ok1 || !ok2 {
				b.WriteString("%25")
				continue
			}
			v := h<<4 | l
			if v == '/' || v == '\\' {
				return "", errBadPath
			}
			if isControl(v) {
				return "", errControlInPath
			}
			if isUnreserved(v) {
				b.WriteByte(v)
			} else {
				b.WriteByte('%')
				b.WriteByte(upperHex[v>>4])
				b.WriteByte(upperHex[v&15])
			}
			i += 2
		default:
			b.WriteByte(c)
		}
	}
	return resolveDots(b.String()), nil
}

// resolveDots merges repeated slashes and resolves "." and ".." segments
// (RFC 3986 §5.2.4); ".." never climbs above the root. A trailing slash
// (or a final "." / "..") is kept as a trailing slash.
func resolveDots(p string) string {
	segs := strings.Split(p, "/")
	out := make([]string, 0, len(segs))
	trailing := false
	for i, s := range segs {
		last := i == len(segs)-1
		switch s {
		case "":
			if last && i > 0 {
				trailing = true
			}
			continue
		case ".":
			if last {
				trailing = true
			}
			continue
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
			if last {
				trailing = true
			}
			continue
		}
		out = append(out, s)
	}
	r := "/" + strings.Join(out, "/")
	if trailing && len(out) > 0 {
		r += "/"
	}
	return r
}
