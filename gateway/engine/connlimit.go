package engine

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Per-client connection cap (server.max_conns_per_ip). Each open
// connection holds a goroutine, a descriptor and some KiB, for up to
// server.idle_timeout when its client abandons it; the cap keeps one
// client address from holding thousands. Peers in server.trusted_proxies
// are exempt: a load balancer carries many clients on its connections.
// An IPv6 client is counted by its /64, which one host can fill with
// addresses. A connection over the cap is answered 429 and closed; what
// it sent is never parsed or handled.

// connStats are the client connection metrics.
type connStats struct {
	refused prometheus.Counter
}

// newConnStats registers gatehouse_connections_refused_total and
// gatehouse_connections_open (read from open).
func newConnStats(reg prometheus.Registerer, open func() int32) *connStats {
	st := &connStats{refused: prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gatehouse_connections_refused_total",
		Help: "Client connections refused by server.max_conns_per_ip.",
	})}
	reg.MustRegister(st.refused, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "gatehouse_connections_open",
		Help: "Open client connections on the main listener.",
	}, func() float64 { return float64(open()) }))
	return st
}

// connLimit wraps a listener with the per-address cap.
type connLimit struct {
	net.Listener
	max     int
	trust   *Trust
	refused prometheus.Counter
	// refusing bounds the refusals in progress (each lingers up to a
	// second); past it a connection is closed without an answer.
	refusing chan struct{}

	mu   sync.Mutex
	open map[netip.Addr]int
}

// limitConns wraps ln; max 0 means no cap (ln itself). refused counts
// the refusals.
func limitConns(ln net.Listener, max int, trust *Trust, refused prometheus.Counter) net.Listener {
	if max <= 0 {
		return ln
	}
	return &connLimit{Listener: ln, max: max, trust: trust, refused: refused,
		refusing: make(chan struct{}, 64), open: map[netip.Addr]int{}}
}

// refusal is what a connection over the cap reads (SPEC error shape).
var refusal = func() []byte {
	const body = `{"code":"rate_limited","message":"too many connections from your address","retry_after":1}`
	return fmt.Appendf(nil, "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"+
		"Connection: close\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
}()

// Accept returns the next connection within the cap; it answers and
// closes the ones over it.
func (l *connLimit) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key, ok := l.key(c.RemoteAddr())
		if !ok {
			return c, nil
		}
		l.mu.Lock()
		n := l.open[key]
		if n >= l.max {
			l.mu.Unlock()
			l.refused.Inc()
			l.refuse(c)
			continue
		}
		l.open[key] = n + 1
		l.mu.Unlock()
		return &limitedConn{Conn: c, l: l, key: key}, nil
	}
}

// key is the address a connection counts against; false: not counted
// (a trusted proxy, or not an IP peer).
func (l *connLimit) key(a net.Addr) (netip.Addr, bool) {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.Addr{}, false
	}
	ip, ok := netip.AddrFromSlice(ta.IP)
	if !ok {
		return netip.Addr{}, false
	}
	ip = ip.Unmap()
	if l.trust.Trusted(ip) {
		return netip.Addr{}, false
	}
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		ip = p.Addr()
	}
	return ip, true
}

// release counts a closed connection.
func (l *connLimit) release(key netip.Addr) {
	l.mu.Lock()
	if l.open[key] <= 1 {
		delete(l.open, key)
	} else {
		l.open[key]--
	}
	l.mu.Unlock()
}

// refuse answers 429 and closes, off the accept loop. Closing a socket
// with unread input sends a reset, which can destroy the answer before
// the client reads it, so the refusal half-closes, reads what the client
// sent until it closes too (or a second has passed), then closes.
func (l *connLimit) refuse(c net.Conn) {
	select {
	case l.refusing <- struct{}{}:
	default:
		_ = c.Close()
		return
	}
	go func() {
		defer func() { <-l.refusing }()
		_ = c.SetDeadline(time.Now().Add(time.Second))
		if _, err := c.Write(refusal); err == nil {
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.CloseWrite()
				_, _ = io.Copy(io.Discard, io.LimitReader(c, 64<<10))
			}
		}
		_ = c.Close()
	}()
}

// limitedConn gives its slot back when closed (once, however often Close
// is called: fasthttp and a hijacking handler may both close it).
type limitedConn struct {
	net.Conn
	l    *connLimit
	key  netip.Addr
	once sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.key) })
	return err
}
