package engine

import (
	"bytes"
	"crypto/tls"
	"errors"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/trace"

	"gatehouse/gateway"
)

// upstream is one route's upstream: a pooled keep-alive client and what
// the forwarded request needs.
type upstream struct {
	scheme   string
	host     string // host[:port] as written in the URL, for Host
	addr     string // host:port to dial
	basePath string // the URL's own path without a trailing slash
	tls      bool
	timeout  time.Duration
	hc       *fasthttp.HostClient
	// conns maps a pooled connection's local address to it, so that a
	// streamed response can lift the response-header deadline from its
	// connection (fasthttp keeps the read deadline for the whole body).
	conns sync.Map
}

// trackedConn is an upstream connection registered in upstream.conns.
type trackedConn struct {
	net.Conn
	u   *upstream
	key string
}

func (t *trackedConn) Close() error {
	t.u.conns.Delete(t.key)
	return t.Conn.Close()
}

// maxBuffered is the largest response body read whole before it is sent
// on; longer ones (and chunked ones, such as SSE) are streamed.
const maxBuffered = 256 << 10

// newUpstream builds the pooled client for u.
func newUpstream(u *url.URL, timeout time.Duration, maxConns int) *upstream {
	up := &upstream{
		scheme:   u.Scheme,
		host:     u.Host,
		basePath: strings.TrimSuffix(u.EscapedPath(), "/"),
		tls:      u.Scheme == "https",
		timeout:  timeout,
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if up.tls {
			port = "443"
		}
	}
	up.addr = net.JoinHostPort(u.Hostname(), port)
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	up.hc = &fasthttp.HostClient{
		Addr:                          up.addr,
		IsTLS:                         up.tls,
		TLSConfig:                     &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12},
		MaxConns:                      maxConns,
		MaxIdleConnDuration:           90 * time.Second,
		MaxConnWaitTimeout:            5 * time.Second,
		StreamResponseBody:            true,
		DisablePathNormalizing:        true,
		DisableHeaderNamesNormalizing: true,
		NoDefaultUserAgentHeader:      true,
		ReadBufferSize:                64 << 10,
		MaxResponseBodySize:           maxBuffered,
		WriteBufferSize:               16 << 10,
		Dial: func(addr string) (net.Conn, error) {
			c, err := dialer.Dial("tcp", addr)
			if err != nil {
				return nil, err
			}
			tc := &trackedConn{Conn: c, u: up, key: c.LocalAddr().String()}
			up.conns.Store(tc.key, tc)
			return tc, nil
		},
	}
	return up
}

// liftDeadline clears the read deadline of the connection that carries a
// streamed response, so that a long SSE stream or download is not cut at
// the route's response timeout.
func (u *upstream) liftDeadline(resp *fasthttp.Response) {
	la := resp.LocalAddr()
	if la == nil {
		return
	}
	if v, ok := u.conns.Load(la.String()); ok {
		_ = v.(*trackedConn).Conn.SetReadDeadline(time.Time{})
	}
}

// hop-by-hop headers (RFC 9110 §7.6.1), never forwarded.
var hopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// untrustedHeaders are dropped from requests of untrusted peers: they must
// not influence the upstream's idea of the client.
var untrustedHeaders = []string{"Forwarded", "X-Original-Url", "X-Rewrite-Url", "X-Forwarded-Port", "X-Forwarded-Prefix", "X-Real-Ip"}

// removeConnectionTokens deletes the headers named in Connection.
func removeConnectionTokens(h interface {
	Peek(string) []byte
	Del(string)
}) {
	v := h.Peek("Connection")
	if len(v) == 0 {
		return
	}
	for _, tok := range strings.Split(string(v), ",") {
		tok = strings.TrimSpace(tok)
		if tok != "" && !strings.EqualFold(tok, "close") && !strings.EqualFold(tok, "keep-alive") {
			h.Del(tok)
		}
	}
}

// hasIdentityPrefix reports whether name starts with prefix,
// case-insensitively and reading "_" as "-".
func hasIdentityPrefix(name []byte, prefix string) bool {
	if len(name) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		a, b := name[i], prefix[i]
		if a == '_' {
			a = '-'
		}
		if a|0x20 != b|0x20 {
			return false
		}
	}
	return true
}

// stripIdentityHeaders deletes every copy of every header that starts
// with the identity prefix (SPEC §3); authorize calls it on every routed
// request before the auth decision.
func stripIdentityHeaders(h *fasthttp.RequestHeader, prefix string) {
	var names [][]byte
	h.VisitAll(func(k, _ []byte) {
		if hasIdentityPrefix(k, prefix) {
			names = append(names, append([]byte(nil), k...))
		}
	})
	for _, k := range names {
		h.DelBytes(k)
	}
}

// forwardRequest rewrites c's request in place for the upstream: SPEC §3's
// header rules (forged identity headers went in authorize, the plugins
// have set the real ones), then the upstream URI.
// For an upgrade (ws) it returns the origin-form target (path and query).
func (s *Server) forwardRequest(c *fiber.Ctx, r *Route, path string, trusted bool, ws bool) ([]byte, error) {
	req := c.Request()
	h := &req.Header
	removeConnectionTokens(h)
	for _, k := range hopHeaders {
		h.Del(k)
	}
	if ws {
		h.Set("Connection", "Upgrade")
		h.Set("Upgrade", "websocket")
	}
	if !trusted {
		for _, k := range untrustedHeaders {
			h.Del(k)
		}
	}
	// The identity headers are the plugins' (identity_headers,
	// jwt_assertion); forged ones went before the auth decision.
	if id, ok := gateway.IdentityFrom(c); ok && id.Bearer {
		// Gatehouse's own bearer token is not the upstream's business.
		h.Del("Authorization")
	}
	if s.cookieName != "" {
		h.DelCookie(s.cookieName)
	}

	// X-Forwarded-For: appended to a trusted proxy's chain, else replaced.
	peer := c.Context().RemoteIP().String()
	xff := h.Peek("X-Forwarded-For")
	if trusted && len(bytes.TrimSpace(xff)) > 0 {
		v := make([]byte, 0, len(xff)+2+len(peer))
		v = append(append(append(v, xff...), ", "...), peer...)
		h.Del("X-Forwarded-For")
		h.SetBytesV("X-Forwarded-For", v)
	} else {
		h.Del("X-Forwarded-For")
		h.Set("X-Forwarded-For", peer)
	}
	h.Del("X-Forwarded-Proto")
	h.Set("X-Forwarded-Proto", gateway.ClientProto(c))
	h.Del("X-Forwarded-Host")
	h.Set("X-Forwarded-Host", gateway.ClientHost(c))
	h.Del("X-Request-Id")
	h.Set("X-Request-Id", gateway.RequestID(c))

	// The upstream URI: scheme://host + base path + (stripped) path + query.
	bb := uriPool.Get().(*[]byte)
	b := append((*bb)[:0], r.upstream.scheme...)
	b = append(b, "://"...)
	b = append(b, r.upstream.host...)
	start := len(b)
	b = append(b, r.upstreamPath(path)...)
	if q := req.URI().QueryString(); len(q) > 0 {
		b = append(b, '?')
		b = append(b, q...)
	}
	req.SetRequestURIBytes(b)
	var target []byte
	if ws {
		target = append([]byte(nil), b[start:]...)
	}
	*bb = b
	uriPool.Put(bb)
	h.SetHost(r.upstream.host)
	return target, nil
}

var uriPool = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// proxy forwards c's (already rewritten) request to r's upstream and
// streams the answer back.
func (s *Server) proxy(c *fiber.Ctx, r *Route) error {
	up := r.upstream
	resp := c.Response()
	var span trace.Span
	if s.tracing.Enabled() {
		span = s.upstreamSpan(c, r)
	}
	err := up.hc.DoTimeout(c.Request(), resp, up.timeout)
	if span != nil {
		endUpstreamSpan(span, resp.StatusCode(), err)
	}
	if err != nil {
		resp.Reset()
		s.metrics.upstreamError(r.Name)
		if errors.Is(err, fasthttp.ErrTimeout) || isTimeout(err) {
			return gateway.GatewayTimeout().Wrap(err)
		}
		return gateway.BadGateway().Wrap(err)
	}
	// Bodies up to maxBuffered arrive whole with the headers; longer and
	// chunked ones stream, and their connection must outlive the deadline.
	if cl := resp.Header.ContentLength(); cl < 0 || cl > maxBuffered {
		up.liftDeadline(resp)
	}
	rh := &resp.Header
	removeConnectionTokens(rh)
	for _, k := range hopHeaders {
		if k != "Transfer-Encoding" {
			rh.Del(k)
		}
	}
	return nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
