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
	got = make(chan string, 16)
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
				got <- b.String()
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
