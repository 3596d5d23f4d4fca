package engine

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"gatehouse/config"
)

func TestConnLimitKey(t *testing.T) {
	l := limitConns(nil, 2, NewTrust([]config.CIDR{config.MustCIDR("10.0.0.0/8")}), nil).(*connLimit)
	tcp := func(s string) net.Addr { return net.TCPAddrFromAddrPort(netip.MustParseAddrPort(s)) }
	for _, tc := range []struct {
		name    string
		addr    net.Addr
		want    string
		counted bool
	}{
		{name: "IPv4 by address", addr: tcp("203.0.113.7:4000"), want: "203.0.113.7", counted: true},
		{name: "IPv4-mapped IPv6 as IPv4", addr: tcp("[::ffff:203.0.113.7]:4000"), want: "203.0.113.7", counted: true},
		{name: "IPv6 by /64", addr: tcp("[2001:db8:1:2:aaaa:bbbb:cccc:dddd]:4000"), want: "2001:db8:1:2::", counted: true},
		{name: "trusted proxy exempt", addr: tcp("10.1.2.3:4000")},
		{name: "not TCP", addr: &net.UnixAddr{Name: "/tmp/x", Net: "unix"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, counted := l.key(tc.addr)
			if counted != tc.counted || (counted && got.String() != tc.want) {
				t.Fatalf("key(%v) = %v, %v; want %s, %v", tc.addr, got, counted, tc.want, tc.counted)
			}
		})
	}
}

func TestConnLimitCountsRefusals(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	st := newConnStats(prometheus.NewRegistry(), func() int32 { return 0 })
	l := limitConns(ln, 1, NewTrust(nil), st.refused)
	defer l.Close()
	accepted := make(chan net.Conn, 2)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	for range 3 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	first := <-accepted
	deadline := time.Now().Add(3 * time.Second)
	for counterValue(st.refused) < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := counterValue(st.refused); got != 2 {
		t.Fatalf("refused %v, want 2", got)
	}
	select {
	case c := <-accepted:
		t.Fatalf("a second connection was accepted: %v", c.RemoteAddr())
	default:
	}
	first.Close()
	first.Close() // a second Close must not free a second slot
	if n := l.(*connLimit).open; len(n) != 0 {
		t.Fatalf("open counts after close: %v", n)
	}
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	_ = c.Write(&m)
	return m.GetCounter().GetValue()
}
