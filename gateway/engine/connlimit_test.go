package engine

import (
	"net"
	"net/netip"
	"testing"

	"gatehouse/config"
)

func TestConnLimitKey(t *testing.T) {
	l := limitConns(nil, 2, NewTrust([]config.CIDR{config.MustCIDR("10.0.0.0/8")})).(*connLimit)
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
