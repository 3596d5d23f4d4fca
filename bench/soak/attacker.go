package main

// The abandoned keep-alive connections: one request each, never read,
// never closed by the client; redialled when Gatehouse closes them.

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

type attacker struct {
	addr   string
	n      int
	perIP  int
	mu     sync.Mutex
	conns  []*net.TCPConn // slot i, nil when not open
	open   atomic.Int64
	closed atomic.Int64 // closed by Gatehouse (FIN seen)
	failed atomic.Int64 // dials or writes that failed
}

func newAttacker(addr string, n, perIP int) *attacker {
	return &attacker{addr: addr, n: n, perIP: max(perIP, 1), conns: make([]*net.TCPConn, n)}
}

// source is slot i's local address in 127.1.0.0/16.
func (a *attacker) source(i int) net.IP {
	k := i / a.perIP
	return net.IPv4(127, 1, byte(k/250), byte(k%250+1))
}

// dial opens slot i and sends its one request.
func (a *attacker) dial(i int) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: a.source(i)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", a.addr)
	if err != nil {
		a.failed.Add(1)
		return
	}
	tc := c.(*net.TCPConn)
	if _, err := fmt.Fprintf(tc, "GET /abandoned HTTP/1.1\r\nHost: %s\r\nUser-Agent: soak-abandoned\r\n\r\n", a.addr); err != nil {
		a.failed.Add(1)
		tc.Close()
		return
	}
	a.mu.Lock()
	a.conns[i] = tc
	a.mu.Unlock()
	a.open.Add(1)
}

// hold opens every slot, then once a second redials the slots whose
// connection Gatehouse has closed, until stop.
func (a *attacker) hold(stop chan struct{}) {
	for i := range a.n {
		a.dial(i)
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		for i := range a.n {
			a.mu.Lock()
			c := a.conns[i]
			a.mu.Unlock()
			if c != nil && !peerClosed(c) {
				continue
			}
			if c != nil {
				a.closed.Add(1)
				a.open.Add(-1)
				c.Close()
				a.mu.Lock()
				a.conns[i] = nil
				a.mu.Unlock()
			}
			select {
			case <-stop:
				return
			default:
			}
			a.dial(i)
		}
	}
}

// closeAll closes every open slot.
func (a *attacker) closeAll() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i, c := range a.conns {
		if c != nil {
			c.Close()
			a.conns[i] = nil
			a.open.Add(-1)
		}
	}
}

// peerClosed reports whether the other side has sent its FIN (or reset),
// from the socket's TCP state, without reading.
func peerClosed(c *net.TCPConn) bool {
	rc, err := c.SyscallConn()
	if err != nil {
		return true
	}
	closed := false
	_ = rc.Control(func(fd uintptr) {
		info, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
		closed = err != nil || info.State != tcpEstablished
	})
	return closed
}

// tcpEstablished is TCP_ESTABLISHED of linux/tcp_states.h.
const tcpEstablished = 1
