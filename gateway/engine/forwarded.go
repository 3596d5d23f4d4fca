package engine

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/netip"
	"strings"

	"github.com/gofiber/fiber/v2"

	"gatehouse/config"
	"gatehouse/gateway"
)

// Trust decides which peers' X-Forwarded-* headers are believed.
type Trust struct {
	prefixes []netip.Prefix
}

// NewTrust builds a Trust from server.trusted_proxies.
func NewTrust(cidrs []config.CIDR) *Trust {
	t := &Trust{}
	for _, c := range cidrs {
		t.prefixes = append(t.prefixes, c.Prefix)
	}
	return t
}

// Trusted reports whether a is a trusted proxy.
func (t *Trust) Trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range t.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientFromXFF walks X-Forwarded-For from the right, skipping trusted
// proxies, and returns the first untrusted address (the client). When
// every hop is trusted it returns the leftmost valid one.
func (t *Trust) clientFromXFF(xff string, peer netip.Addr) netip.Addr {
	client := peer
	for xff != "" {
		i := strings.LastIndexByte(xff, ',')
		part := strings.TrimSpace(xff[i+1:])
		if i < 0 {
			xff = ""
		} else {
			xff = xff[:i]
		}
		a, err := netip.ParseAddr(part)
		if err != nil {
			// An unparsable hop: stop believing the chain here.
			return client
		}
		client = a.Unmap()
		if !t.Trusted(client) {
			return client
		}
	}
	return client
}

// validRequestID reports 1–128 chars of [A-Za-z0-9._-].
func validRequestID(s []byte) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// NewRequestID returns a fresh random request id (32 hex chars).
func NewRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// RequestContext is the first middleware of a bare pipeline (gatewaytest
// puts plugins behind it): it works out the request id, the client's
// address, scheme and host (believing X-Forwarded-* only from trusted
// proxies) for gateway's typed accessors, gives the request a context with
// the id and config.DefaultRequestTimeout, runs the rest of the chain and
// the error handler, then forgets it all. A Server's own first middleware
// (begin) does the same, with the matched route's timeout.
func RequestContext(trust *Trust, logger *slog.Logger) fiber.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return func(c *fiber.Ctx) error {
		st := enter(c, trust, logger)
		defer leave(c, st)
		ctx := setContext(c, config.DefaultRequestTimeout.Std())
		defer ctx.Cancel()
		err := c.Next()
		if err != nil {
			err = c.App().ErrorHandler(c, err)
		}
		return err
	}
}

// requestState is what the connection and, from a trusted proxy, the
// X-Forwarded-* headers say about the request.
func requestState(c *fiber.Ctx, trust *Trust, logger *slog.Logger) gateway.RequestState {
	fc := c.Context()
	peer, _ := netip.AddrFromSlice(fc.RemoteIP())
	peer = peer.Unmap()
	r := gateway.RequestState{ClientIP: peer, Proto: "http", Logger: logger}
	h := &fc.Request.Header
	if fc.IsTLS() {
		r.Proto = "https"
	}
	r.Host = string(h.Host())
	if trust.Trusted(peer) {
		if xff := h.Peek("X-Forwarded-For"); len(xff) > 0 {
			r.ClientIP = trust.clientFromXFF(string(xff), peer)
		}
		if p := h.Peek("X-Forwarded-Proto"); len(p) > 0 {
			switch strings.ToLower(strings.TrimSpace(firstValue(string(p)))) {
			case "https":
				r.Proto = "https"
			case "http":
				r.Proto = "http"
			}
		}
		if fh := h.Peek("X-Forwarded-Host"); len(fh) > 0 {
			if v := strings.TrimSpace(firstValue(string(fh))); validHost(v) {
				r.Host = v
			}
		}
		if id := h.Peek("X-Request-Id"); validRequestID(id) {
			r.ID = string(id)
		}
	}
	if r.ID == "" {
		r.ID = NewRequestID()
	}
	return r
}

func firstValue(s string) string {
	if i := strings.IndexByte(s, ','); i >= 0 {
		return s[:i]
	}
	return s
}

// validHost accepts a host[:port] made of hostname or IP characters.
func validHost(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '-', c == ':', c == '[', c == ']', c == '_':
		default:
			return false
		}
	}
	return true
}
