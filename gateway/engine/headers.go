package engine

import (
	"bytes"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"gatehouse/gateway"
)

// Header validation: the first thing begin does, before routing.
//
// Where this sits: fasthttp has already read the request's header block
// and its body by the time any handler runs, by its own framing rules
// (a Transfer-Encoding other than exactly "identity" means chunked and
// wins over Content-Length; of repeated Content-Length or Host headers
// the last wins). fasthttp's Server has no option to refuse ambiguous
// framing, and a net.Listener wrapper would have to parse HTTP/1.1 a
// second time (pipelining, bodies, keep-alive) to know where each request
// starts — a second parser is exactly what smuggling feeds on. So the
// check runs here: on the header block as received (RawHeaders, walked in
// order with every repeated header) for the framing, then on the fields as
// fasthttp keeps them — what would be forwarded, trailers of a chunked
// body merged in — for their names and values. A refusal always closes the
// connection: whatever fasthttp read as this request's body, and any
// bytes after it, are never parsed as a next request, and nothing has
// reached an upstream yet. Malformed headers fasthttp cannot parse at all
// (a Content-Length that is not a number, "5, 5") it refuses itself, with
// 400 and a closed connection.

// headerCheck validates one request's header fields, fed in the order
// received (RFC 9110 §5, RFC 9112 §6).
type headerCheck struct {
	hosts, lengths, codings int
	// bad is the first reason to refuse ("" = none yet): the client sees it.
	bad string
}

// fieldProblem is what is wrong with one header (or trailer) field as
// fasthttp keeps it, "" for nothing.
func fieldProblem(k, v []byte) string {
	if len(k) == 0 {
		return "a header without a name"
	}
	for _, b := range k {
		if !isTokenChar(b) {
			return "a header name contains a character that is not allowed"
		}
	}
	for _, b := range v {
		// Tab is the one control character a value may hold: fasthttp
		// keeps a bare CR or a NUL, and a lenient upstream would read
		// "X-A: a\rTransfer-Encoding: chunked" as two headers.
		if b < 0x20 && b != '\t' || b == 0x7f {
			return "a header value contains a control character"
		}
	}
	return ""
}

// add checks one header field as received, and counts the framing ones.
func (hc *headerCheck) add(k, v []byte) {
	if hc.bad != "" {
		return
	}
	if hc.bad = fieldProblem(k, v); hc.bad != "" {
		return
	}
	switch {
	case bytes.EqualFold(k, hostName):
		hc.hosts++
		if len(v) > 0 && !validHost(string(v)) {
			hc.bad = "the Host header is not a host[:port]"
		}
	case bytes.EqualFold(k, contentLengthName):
		hc.lengths++
	case bytes.EqualFold(k, transferEncodingName):
		hc.codings++
		// The one transfer coding Gatehouse reads is a single chunked
		// (RFC 9112 §6.1): "identity" is no coding any more, and anything
		// before chunked (gzip, chunked) is a coding we would forward
		// undecoded; anything after it leaves the body unframed.
		if !bytes.EqualFold(bytes.Trim(v, " \t"), chunkedValue) {
			hc.bad = "unsupported transfer coding"
		}
	case sameFieldName(k, contentLengthName) || sameFieldName(k, transferEncodingName):
		// Content_Length: an upstream behind CGI-style mapping reads it as
		// Content-Length.
		hc.bad = "a framing header is spelled with an underscore"
	}
}

// finish is the verdict on the whole header block: "" to go on, else why not.
func (hc *headerCheck) finish(http11 bool) string {
	switch {
	case hc.bad != "":
		return hc.bad
	case hc.hosts > 1:
		return "more than one Host header"
	case hc.lengths > 1:
		return "more than one Content-Length header"
	case hc.codings > 1:
		return "more than one Transfer-Encoding header"
	case hc.codings > 0 && hc.lengths > 0:
		return "both Content-Length and Transfer-Encoding"
	case hc.codings > 0 && !http11:
		// RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 is faulty framing.
		return "Transfer-Encoding in an HTTP/1.0 request"
	}
	return ""
}

// checkRequestHeader validates h as received. forged reports a header with
// the identity prefix (authorize deletes those).
func checkRequestHeader(h *fasthttp.RequestHeader, prefix string) (bad string, forged bool) {
	var hc headerCheck
	for _, b := range h.RequestURI() {
		// fasthttp keeps these in the request target, and a URI it then
		// cannot parse reads as "/": "/admin\x00" would be routed as "/".
		if isControl(b) || b == ' ' {
			hc.bad = "the request target contains a control character or a space"
			break
		}
	}
	if t := h.RequestURI(); hc.bad == "" && len(t) > 0 && t[0] != '/' {
		// An absolute-form target ("GET http://b/x") names the host a
		// strict server uses instead of Host (RFC 9112 §3.2.2), while
		// Gatehouse routes by Host: the two must be the same.
		if i := bytes.Index(t, []byte("://")); i > 0 {
			authority := t[i+3:]
			if j := bytes.IndexAny(authority, "/?#"); j >= 0 {
				authority = authority[:j]
			}
			if !bytes.EqualFold(authority, h.Host()) {
				hc.bad = "the request target names another host than Host"
			}
		}
	}
	noteForged := func(k []byte) {
		if !forged && hasIdentityPrefix(k, prefix) {
			forged = true
		}
	}
	raw := h.RawHeaders()
	if len(raw) > 0 {
		if p := rawLineProblem(raw); p != "" && hc.bad == "" {
			hc.bad = p
		}
		h.VisitAllInOrder(func(k, v []byte) {
			noteForged(k)
			hc.add(k, v)
		})
	}
	// The fields as fasthttp keeps them, which is what is forwarded,
	// differ from the block as received only by the trailer fields of a
	// chunked body, which fasthttp merges in (a trailer "X-Auth-Role:
	// admin" must be deleted as a header is): walk them again only then.
	// Without a raw header block (a request built in a test) this walk
	// is the only one and also counts the framing fields.
	if len(raw) == 0 || hc.codings > 0 {
		h.VisitAll(func(k, v []byte) {
			noteForged(k)
			switch {
			case hc.bad != "":
			case len(raw) == 0:
				hc.add(k, v)
			default:
				hc.bad = fieldProblem(k, v)
			}
		})
	}
	return hc.finish(h.IsHTTP11()), forged
}

// checkHeaders refuses, with 400 and the connection closed, a request
// whose header block checkRequestHeader refuses. It also notes a header
// with the identity prefix, so that authorize walks the headers again only
// when there is one to delete.
func (s *Server) checkHeaders(c *fiber.Ctx, st *state) error {
	bad, forged := checkRequestHeader(&c.Request().Header, s.prefix)
	st.checked, st.forged = true, forged
	if bad == "" {
		return nil
	}
	c.Context().SetConnectionClose()
	return gateway.BadRequest(bad)
}

var (
	hostName             = []byte("Host")
	contentLengthName    = []byte("Content-Length")
	transferEncodingName = []byte("Transfer-Encoding")
	chunkedValue         = []byte("chunked")
)

// rawLineProblem is what is wrong with the lines of a raw header block
// that fasthttp keeps but its field walks do not show, "" for nothing: a
// line with an empty name (": x"), which fasthttp would forward as a
// header, and a line folded onto the one before (obs-fold, RFC 9112
// §5.2), which fasthttp joins in place and then misjudges by the fold's
// length where the request ends.
func rawLineProblem(raw []byte) string {
	for i, b := range raw {
		if i > 0 && raw[i-1] != '\n' {
			continue
		}
		switch b {
		case ':':
			return "a header without a name"
		case ' ', '\t':
			return "a header line folded onto the one before"
		}
	}
	return ""
}

// sameFieldName compares header names case-insensitively, reading '_' in
// k as '-' (want is spelled with '-').
func sameFieldName(k, want []byte) bool {
	if len(k) != len(want) {
		return false
	}
	for i, b := range k {
		if b == '_' {
			b = '-'
		}
		if b|0x20 != want[i]|0x20 {
			return false
		}
	}
	return true
}

// isTokenChar reports an RFC 9110 tchar, what a field name is made of.
func isTokenChar(b byte) bool {
	switch {
	case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b >= '0' && b <= '9':
		return true
	}
	switch b {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}
