package engine

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"gatehouse/gateway"
)

// isUpgrade reports a WebSocket upgrade request.
func isUpgrade(c *fiber.Ctx) bool {
	h := &c.Request().Header
	return bytes.EqualFold(bytes.TrimSpace(h.Peek("Upgrade")), []byte("websocket")) &&
		headerHasToken(h.Peek("Connection"), "upgrade")
}

func headerHasToken(v []byte, tok string) bool {
	for len(v) > 0 {
		var part []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			part, v = v[:i], v[i+1:]
		} else {
			part, v = v, nil
		}
		if bytes.EqualFold(bytes.TrimSpace(part), []byte(tok)) {
			return true
		}
	}
	return false
}

// maxUpgradeHeader bounds the upstream's answer to an upgrade request.
const maxUpgradeHeader = 64 << 10

// proxyWebSocket forwards an upgrade request (already rewritten by
// forwardRequest): it dials the upstream, sends the request and reads the
// answer. A 101 turns both connections into a tunnel (the client's is
// hijacked from fasthttp); any other answer is returned as a normal
// response and the client connection is closed after it, so nothing can
// ride the upstream connection past the auth checks.
func (s *Server) proxyWebSocket(c *fiber.Ctx, r *Route, target []byte) error {
	up := r.upstream
	d := net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	var conn net.Conn
	var err error
	if up.tls {
		conn, err = tls.DialWithDialer(&d, "tcp", up.addr, up.hc.TLSConfig)
	} else {
		conn, err = d.Dial("tcp", up.addr)
	}
	if err != nil {
		s.metrics.upstreamError(r.Name)
		return gateway.BadGateway().Wrap(err)
	}
	ok := false
	defer func() {
		if !ok {
			conn.Close()
		}
	}()
	_ = conn.SetDeadline(time.Now().Add(up.timeout))
	req := c.Request()
	// Origin-form request line for the upstream.
	req.Header.SetRequestURIBytes(target)
	head := req.Header.Header()
	if _, err := conn.Write(head); err != nil {
		s.metrics.upstreamError(r.Name)
		return gateway.BadGateway().Wrap(err)
	}
	br := bufio.NewReaderSize(conn, 4096)
	raw, status, err := readResponseHead(br)
	if err != nil {
		s.metrics.upstreamError(r.Name)
		if isTimeout(err) {
			return gateway.GatewayTimeout().Wrap(err)
		}
		return gateway.BadGateway().Wrap(err)
	}
	if status != fiber.StatusSwitchingProtocols {
		// Not upgraded: parse the whole answer and return it normally.
		resp := c.Response()
		resp.Reset()
		full := io.MultiReader(bytes.NewReader(raw), br)
		if err := resp.Read(bufio.NewReader(full)); err != nil {
			s.metrics.upstreamError(r.Name)
			return gateway.BadGateway().Wrap(err)
		}
		resp.SetConnectionClose()
		return nil
	}
	_ = conn.SetDeadline(time.Time{})
	ok = true
	buffered := make([]byte, br.Buffered())
	_, _ = io.ReadFull(br, buffered)
	fc := c.Context()
	fc.HijackSetNoResponse(true)
	fc.Hijack(func(client net.Conn) {
		defer conn.Close()
		if _, err := client.Write(raw); err != nil {
			return
		}
		if len(buffered) > 0 {
			if _, err := client.Write(buffered); err != nil {
				return
			}
		}
		splice(client, conn)
	})
	return nil
}

// readResponseHead reads an HTTP/1.1 status line and headers, returning
// the raw bytes and the status code.
func readResponseHead(br *bufio.Reader) ([]byte, int, error) {
	var raw []byte
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return nil, 0, err
		}
		raw = append(raw, line...)
		if len(raw) > maxUpgradeHeader {
			return nil, 0, fasthttp.ErrBodyTooLarge
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			break
		}
	}
	// "HTTP/1.1 101 Switching Protocols"
	first := raw[:bytes.IndexByte(raw, '\n')]
	parts := bytes.SplitN(bytes.TrimSpace(first), []byte(" "), 3)
	if len(parts) < 2 || !bytes.HasPrefix(parts[0], []byte("HTTP/")) {
		return nil, 0, io.ErrUnexpectedEOF
	}
	status, err := strconv.Atoi(string(parts[1]))
	if err != nil {
		return nil, 0, err
	}
	return raw, status, nil
}

// splice copies both ways until either side closes, then closes both.
func splice(a, b net.Conn) {
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		} else {
			_ = dst.Close()
		}
		done <- struct{}{}
	}
	go cp(a, b)
	go cp(b, a)
	<-done
	// One side ended: give the other a moment to drain, then tear down.
	t := time.AfterFunc(5*time.Second, func() { a.Close(); b.Close() })
	<-done
	t.Stop()
	a.Close()
	b.Close()
}
