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
// agrees on where the request ends, its body, method, target and Host:
// the two can never see different requests in one byte stream (no
// smuggling past the check). And an accepted request holds no control
// character in a header value or the target.
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
		fastUsed := len(data) - fr.Len() - fb.Buffered()
		bad, _ := checkRequestHeader(&req.Header, "X-Auth-")
		if bad != "" {
			return
		}
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
		stdUsed := len(data) - sr.Len() - sb.Buffered()
		if stdUsed != fastUsed {
			t.Fatalf("the request ends at byte %d for fasthttp, %d for net/http: %q", fastUsed, stdUsed, data)
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
