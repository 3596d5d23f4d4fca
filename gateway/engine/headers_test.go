package engine_test

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"gatehouse/config"
)

// rawUpstream records the bytes of what it receives and answers 200.
func rawUpstream(t *testing.T) (addr string, got chan string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got = make(chan string, 64)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				var b strings.Builder
				for {
					_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
					line, err := br.ReadString('\n')
					b.WriteString(line)
					if err != nil || line == "\r\n" {
						break
					}
				}
				select {
				case got <- b.String():
				default: // a test that floods it fails on what it did read
				}
				_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"))
			}()
		}
	}()
	return ln.Addr().String(), got
}

// TestControlCharactersInHeaderValues: a bare CR, a NUL or another
// control character in a header value is 400 with the connection closed,
// and nothing reaches the upstream (a lenient one would read a smuggled
// header out of "X-A: a\rTransfer-Encoding: chunked").
func TestControlCharactersInHeaderValues(t *testing.T) {
	addr, got := rawUpstream(t)
	u, _ := config.ParseURL("http://" + addr)
	base := startGateway(t, testConfig(t, config.Route{Name: "app", Path: "/", Upstream: u, Auth: "public", Timeout: config.Duration(5 * time.Second)}))
	tests := []struct {
		name     string
		header   string
		wantCode string
	}{
		{name: "bare CR", header: "X-A: a\rTransfer-Encoding: chunked", wantCode: " 400 "},
		{name: "NUL", header: "X-A: b\x00c", wantCode: " 400 "},
		{name: "escape", header: "X-A: b\x1bc", wantCode: " 400 "},
		{name: "DEL", header: "X-A: b\x7fc", wantCode: " 400 "},
		{name: "tab is allowed", header: "X-A: b\tc", wantCode: " 200 "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_, _ = conn.Write([]byte("GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n" + tc.header + "\r\n\r\n"))
			_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
			answer, _ := io.ReadAll(conn) // the gateway closes a refused connection
			if !strings.HasPrefix(string(answer), "HTTP/1.1"+tc.wantCode) {
				t.Fatalf("answer %q, want%s", answer, tc.wantCode)
			}
			select {
			case s := <-got:
				if tc.wantCode != " 200 " {
					t.Errorf("the upstream got %q", s)
				}
			case <-time.After(200 * time.Millisecond):
				if tc.wantCode == " 200 " {
					t.Error("the upstream got nothing")
				}
			}
		})
	}
}

// TestAmbiguousFraming: a request whose framing two parsers could read
// differently (RFC 9112 §6.1, §6.3) — Content-Length with
// Transfer-Encoding, a coding other than a single chunked, repeated
// Content-Length or Host headers — is 400 and the connection closed, on
// a keep-alive connection too, so the bytes after it are never read as a
// next request; the upstream sees nothing, smuggled or not.
func TestAmbiguousFraming(t *testing.T) {
	addr, got := rawUpstream(t)
	u, _ := config.ParseURL("http://" + addr)
	base := startGateway(t, testConfig(t, config.Route{Name: "app", Path: "/", Upstream: u, Auth: "public", Timeout: config.Duration(5 * time.Second)}))
	const smuggled = "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"
	tests := []struct {
		name    string
		request string
		want    string // status
		closed  bool   // the gateway must close the connection
		hidden  string // what the upstream must not see
	}{
		{name: "content-length then chunked", want: "400", closed: true,
			request: "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled},
		{name: "chunked then content-length", want: "400", closed: true,
			request: "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\n" + smuggled},
		{name: "chunked, identity", want: "400", closed: true,
			request: "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n" + smuggled},
		{name: "identity alone", want: "400", closed: true,
			request: "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\nContent-Length: 0\r\n\r\n" + smuggled},
		{name: "unknown coding", want: "400", closed: true,
			request: "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n0\r\n\r\n" + smuggled},
		{name: "gzip, chunked", want: "400", closed: true,
			request: "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n" + smuggled},
		{name: "chunked twice", want: "400", closed: true,
			request: "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled},
		{name: "chunked in HTTP/1.0", want: "400", closed: true,
			request: "POST /x HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled},
		{name: "conflicting content-length", want: "400", closed: true,
			request: "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nContent-Length: 35\r\n\r\n" + smuggled},
		{name: "repeated content-length", want: "400", closed: true,
			request: "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n" + smuggled},
		{name: "content-length list", want: "400", closed: true,
			request: "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 0, 0\r\n\r\n" + smuggled},
		{name: "content-length with underscore", want: "400", closed: true,
			request: "POST /x HTTP/1.1\r\nHost: a\r\nContent_Length: 35\r\nContent-Length: 0\r\n\r\n" + smuggled},
		{name: "transfer-encoding with underscore", want: "400", closed: true,
			request: "POST /x HTTP/1.1\r\nHost: a\r\nTransfer_Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n" + smuggled},
		{name: "two hosts", want: "400", closed: true,
			request: "GET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n" + smuggled},
		{name: "host that is not a host", want: "400", closed: true,
			request: "GET /x HTTP/1.1\r\nHost: a/b@c\r\n\r\n" + smuggled},
		{name: "header without a name", want: "400", closed: true,
			request: "GET /x HTTP/1.1\r\nHost: a\r\n: x\rX-Smuggled: 1\r\n\r\n" + smuggled},
		{name: "obs-fold", want: "400", closed: true,
			request: "POST /x HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n 2\r\nContent-Length: 0\r\n\r\n" + smuggled},
		{name: "control character in a name", want: "400", closed: true,
			request: "GET /x HTTP/1.1\r\nHost: a\r\nX-\x01A: b\r\n\r\n" + smuggled},
		{name: "absolute-form target on another host", want: "400", closed: true,
			request: "GET http://b/x HTTP/1.1\r\nHost: a\r\n\r\n" + smuggled},
		{name: "absolute-form target on its host", want: "200",
			request: "GET http://A/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"},
		{name: "control character in a trailer", want: "400", closed: true,
			request: "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-B: a\rX-Smuggled: 1\r\n\r\n" + smuggled},
		{name: "identity header in a trailer", want: "200", hidden: "forged",
			request: "POST /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-Auth-User-Id: forged\r\n\r\n"},
		{name: "chunked body", want: "200",
			request: "POST /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\nTransfer-Encoding: Chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"},
		{name: "content-length body", want: "200",
			request: "POST /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for len(got) > 0 { // what an earlier case left
				<-got
			}
			conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_, _ = conn.Write([]byte(tc.request))
			_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
			answer, err := io.ReadAll(conn)
			if tc.closed && err != nil {
				t.Errorf("the connection stayed open (%v)", err)
			}
			if !strings.HasPrefix(string(answer), "HTTP/1.1 "+tc.want+" ") {
				t.Fatalf("answer %q, want %s", answer, tc.want)
			}
			if n := strings.Count(string(answer), "HTTP/1.1 "); n != 1 {
				t.Errorf("%d answers, want 1: %q", n, answer)
			}
			time.Sleep(100 * time.Millisecond)
			var seen []string
			for len(got) > 0 {
				seen = append(seen, <-got)
			}
			want := 0
			if tc.want == "200" {
				want = 1
			}
			if tc.hidden != "" && strings.Contains(strings.Join(seen, ""), tc.hidden) {
				t.Errorf("the upstream saw %q: %q", tc.hidden, seen)
			}
			if len(seen) != want || strings.Contains(strings.Join(seen, ""), "smuggled") {
				t.Errorf("the upstream got %q, want %d requests", seen, want)
			}
		})
	}
}
