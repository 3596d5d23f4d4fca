package engine

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"testing"

	"github.com/valyala/fasthttp"
)

// FuzzHeaderCheck: when fasthttp reads a request and the header check
// accepts it, a strict HTTP/1.1 parser (net/http, standing in for a proxy
// in front of Gatehouse) that reads the same bytes either refuses them or
// agrees on where the next request starts (empty lines aside), on the
// body, method, target and Host:
// the two can never see different requests in one byte stream (no
// smuggling past the check). And an accepted request holds no control
// character in a header value or the target, and every field with the
// identity prefix that would be forwarded, trailers included, is flagged
// for deletion.
func FuzzHeaderCheck(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhiGET /next HTTP/1.1\r\n\r\n",
		"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
		"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /s HTTP/1.1\r\n\r\n",
		"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
		"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n0\r\n\r\n",
		"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nContent-Length: 5\r\n\r\nhello",
		"POST /x HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"GET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
		"GET /x HTTP/1.1\r\nHost: a\r\nX-A: a\rTransfer-Encoding: chunked\r\n\r\n",
		"GET /x HTTP/1.1\nHost: a\nContent_Length: 3\n\nabc",
		"GET /a\x00b HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2;ext=1\r\nhi\r\n0\r\nTrailer: x\r\n\r\n",
		"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-Auth-Role: admin\r\n\r\n",
		"GET http://b/x HTTP/1.1\r\nHost: a\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var req fasthttp.Request
		fr := bytes.NewReader(data)
		fb := bufio.NewReader(fr)
		if err := req.Read(fb); err != nil {
			return // fasthttp refuses it: 400 and the connection closed
		}
		// What fasthttp would read the next request from: its buffer (which
		// it may have rewritten in place) and the unread rest.
		buffered, _ := fb.Peek(fb.Buffered())
		fastRest := append(append([]byte(nil), buffered...), data[len(data)-fr.Len():]...)
		bad, forged := checkRequestHeader(&req.Header, "X-Auth-")
		if bad != "" {
			return
		}
		req.Header.VisitAll(func(k, _ []byte) {
			if hasIdentityPrefix(k, "X-Auth-") && !forged {
				t.Fatalf("%s would be forwarded, but the check did not flag it for deletion", k)
			}
		})
		for _, b := range req.Header.RequestURI() {
			if isControl(b) || b == ' ' {
				t.Fatalf("accepted a target with %#x: %q", b, req.Header.RequestURI())
			}
		}
		req.Header.VisitAll(func(k, v []byte) {
			for _, b := range v {
				if isControl(b) && b != '\t' {
					t.Fatalf("accepted %s with a control byte: %q", k, v)
				}
			}
		})

		sr := bytes.NewReader(data)
		sb := bufio.NewReader(sr)
		std, err := http.ReadRequest(sb)
		if err != nil {
			return
		}
		body, err := io.ReadAll(std.Body)
		if err != nil {
			return // the strict parser refuses the body: it never forwards it
		}
		stdRest := data[len(data)-sr.Len()-sb.Buffered():]
		// Both skip empty lines before a request line (RFC 9112 §2.2).
		if a, b := bytes.TrimLeft(fastRest, "\r\n"), bytes.TrimLeft(stdRest, "\r\n"); !bytes.Equal(a, b) {
			t.Fatalf("the next request starts at %q for fasthttp, %q for net/http: %q", a, b, data)
		}
		if !bytes.Equal(body, req.Body()) {
			t.Fatalf("bodies differ: fasthttp %q, net/http %q", req.Body(), body)
		}
		if std.Method != string(req.Header.Method()) || std.RequestURI != string(req.Header.RequestURI()) {
			t.Fatalf("request line differs: %s %s vs %s %s", req.Header.Method(), req.Header.RequestURI(), std.Method, std.RequestURI)
		}
		if std.Host != string(req.Header.Host()) {
			t.Fatalf("Host differs: fasthttp %q, net/http %q", req.Header.Host(), std.Host)
		}
	})
}
