package engine_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"gatehouse/config"
)

// keepAlive is one client connection that sends requests in turn.
type keepAlive struct {
	c  net.Conn
	br *bufio.Reader
}

func dialKeepAlive(t *testing.T, base string) *keepAlive {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &keepAlive{c: c, br: bufio.NewReader(c)}
}

// get sends GET target with the extra header lines and reads the answer;
// err is the read's error (the server closed the connection).
func (k *keepAlive) get(target string, hdr ...string) (*http.Response, []byte, error) {
	_ = k.c.SetDeadline(time.Now().Add(5 * time.Second))
	h := ""
	for _, l := range hdr {
		h += l + "\r\n"
	}
	if _, err := fmt.Fprintf(k.c, "GET %s HTTP/1.1\r\nHost: gate.test\r\n%s\r\n", target, h); err != nil {
		return nil, nil, err
	}
	res, err := http.ReadResponse(k.br, nil)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res, b, err
}

func TestMaxConnsPerIP(t *testing.T) {
	up := startUpstream(t)
	cfg := testConfig(t, publicRoute("pub", "/", up.URL))
	cfg.Server.TrustedProxies = nil // 127.0.0.1 is a client, not a proxy
	cfg.Server.MaxConnsPerIP = 3
	base := startGateway(t, cfg)

	var held []*keepAlive
	for i := range 3 {
		k := dialKeepAlive(t, base)
		if res, _, err := k.get("/echo"); err != nil || res.StatusCode != 200 {
			t.Fatalf("connection %d: %v %v", i+1, res, err)
		}
		held = append(held, k)
	}
	// The 4th concurrent connection is answered 429 and closed; its
	// request, sent before the answer is read, does not turn the close
	// into a reset that loses the answer.
	over := dialKeepAlive(t, base)
	_ = over.c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(over.c, "POST /echo HTTP/1.1\r\nHost: gate.test\r\nContent-Length: 5000\r\n\r\n%s", strings.Repeat("b", 5000))
	time.Sleep(50 * time.Millisecond) // the request is in before Gatehouse closes
	res, err := http.ReadResponse(over.br, nil)
	if err != nil {
		t.Fatalf("4th connection: no answer: %v", err)
	}
	var body struct {
		Code       string
		RetryAfter int `json:"retry_after"`
	}
	_ = json.NewDecoder(res.Body).Decode(&body)
	// SPEC §4: rate_limited carries retry_after, as Retry-After says.
	if res.StatusCode != 429 || body.Code != "rate_limited" || body.RetryAfter != 1 || res.Header.Get("Retry-After") != "1" {
		t.Fatalf("4th connection: %d %+v Retry-After %q, want 429 rate_limited with retry_after 1", res.StatusCode, body, res.Header.Get("Retry-After"))
	}
	if _, err := over.br.ReadByte(); err != io.EOF {
		t.Fatalf("4th connection still open after the refusal: %v", err)
	}
	// The held connections still work.
	for i, k := range held {
		if res, _, err := k.get("/echo"); err != nil || res.StatusCode != 200 {
			t.Fatalf("held connection %d: %v %v", i+1, res, err)
		}
	}
	// Closing one gives its slot back.
	held[0].c.Close()
	deadline := time.Now().Add(3 * time.Second)
	for {
		k := dialKeepAlive(t, base)
		res, _, err := k.get("/echo")
		if err == nil && res.StatusCode == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no slot after a close: %v %v", res, err)
		}
		k.c.Close()
		time.Sleep(20 * time.Millisecond)
	}
}

func TestMaxConnsPerIPExemptsTrustedProxies(t *testing.T) {
	up := startUpstream(t)
	cfg := testConfig(t, publicRoute("pub", "/", up.URL))
	cfg.Server.TrustedProxies = []config.CIDR{config.MustCIDR("127.0.0.0/8")}
	cfg.Server.MaxConnsPerIP = 1
	base := startGateway(t, cfg)
	for i := range 3 {
		k := dialKeepAlive(t, base)
		if res, _, err := k.get("/echo"); err != nil || res.StatusCode != 200 {
			t.Fatalf("connection %d from a trusted proxy: %v %v", i+1, res, err)
		}
	}
}

// A 32 KiB header (a big cookie, a long JWT) fits the default read buffer,
// also on a keep-alive connection whose buffer went back to the pool
// between requests; a head larger than the buffer is 431 (fasthttp does
// not grow the buffer).
func TestLargeHeaders(t *testing.T) {
	up := startUpstream(t)
	cfg := testConfig(t, publicRoute("pub", "/", up.URL))
	if cfg.Server.ReadBufferSize != 64<<10 {
		t.Fatalf("default read_buffer_size %d: this test assumes 64KiB", cfg.Server.ReadBufferSize)
	}
	base := startGateway(t, cfg)
	k := dialKeepAlive(t, base)
	big := strings.Repeat("a", 32<<10)
	for i := range 3 {
		res, b, err := k.get("/echo", "X-Big: "+big)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("request %d with a 32 KiB header: %v %v", i+1, res, err)
		}
		var e echo
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatal(err)
		}
		if got := len(e.Header.Get("X-Big")); got != 32<<10 {
			t.Fatalf("request %d: upstream got a %d-byte header, want %d", i+1, got, 32<<10)
		}
		time.Sleep(10 * time.Millisecond) // idle between requests
	}
	res, _, err := dialKeepAlive(t, base).get("/echo", "X-Big: "+strings.Repeat("a", 70<<10))
	if err != nil || res.StatusCode != 431 {
		t.Fatalf("70 KiB header: %v %v, want 431", res, err)
	}
}

func TestIdleTimeout(t *testing.T) {
	up := startUpstream(t)
	cfg := testConfig(t, publicRoute("pub", "/", up.URL))
	cfg.Server.IdleTimeout = config.Duration(300 * time.Millisecond)
	base := startGateway(t, cfg)
	k := dialKeepAlive(t, base)
	if res, _, err := k.get("/echo"); err != nil || res.StatusCode != 200 {
		t.Fatalf("%v %v", res, err)
	}
	_ = k.c.SetReadDeadline(time.Now().Add(3 * time.Second))
	start := time.Now()
	if _, err := k.br.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection: %v, want EOF", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("idle connection closed after %s, idle_timeout 300ms", el)
	}
}

// A WebSocket (a hijacked connection) counts against the cap while open
// and gives its slot back when it ends.
func TestMaxConnsPerIPWebSocket(t *testing.T) {
	up := startUpstream(t)
	cfg := testConfig(t, publicRoute("ws", "/ws", up.URL), publicRoute("pub", "/", up.URL))
	cfg.Server.TrustedProxies = nil
	cfg.Server.MaxConnsPerIP = 1
	base := startGateway(t, cfg)
	ws, res, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+"/ws", nil)
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, res)
	}
	if res, _, err := dialKeepAlive(t, base).get("/echo"); err != nil || res.StatusCode != 429 {
		t.Fatalf("second connection beside an open WebSocket: %v %v, want 429", res, err)
	}
	ws.Close()
	deadline := time.Now().Add(3 * time.Second)
	for {
		res, _, err := dialKeepAlive(t, base).get("/echo")
		if err == nil && res.StatusCode == 200 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no slot after the WebSocket closed: %v %v", res, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
