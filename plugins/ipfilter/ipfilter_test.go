package ipfilter

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"gatehouse/gateway"
	"gatehouse/gateway/engine"
	"gatehouse/gateway/gatewaytest"
)

func TestPluginContract(t *testing.T) {
	gatewaytest.RunPluginContract(t, Info(),
		`{allow: [10.0.0.0/8, "::ffff:192.0.2.0/120"], deny: [10.6.6.6]}`,
		`{allow: [nope], deny: ["10.0.0.0/99"]}`)
}

const office = `{allow: [10.0.0.0/8, "2001:db8::/32", 192.0.2.7], deny: [10.6.6.0/24]}`

func TestHandle(t *testing.T) {
	tests := []struct {
		name    string
		options string
		trust   bool   // the test peer (0.0.0.0) is a trusted proxy
		xff     string // X-Forwarded-For
		// wantStatus is 200 when the request reaches the upstream.
		wantStatus int
		wantBody   string
	}{
		{name: "allowed network", options: office, trust: true, xff: "10.1.2.3", wantStatus: http.StatusOK, wantBody: "ok"},
		{name: "allowed address", options: office, trust: true, xff: "192.0.2.7", wantStatus: http.StatusOK, wantBody: "ok"},
		{name: "allowed IPv6", options: office, trust: true, xff: "2001:db8::1", wantStatus: http.StatusOK, wantBody: "ok"},
		{name: "deny wins over allow", options: office, trust: true, xff: "10.6.6.1", wantStatus: http.StatusForbidden, wantBody: `{"code":"forbidden","message":"you may not do this"}`},
		{name: "not in allow", options: office, trust: true, xff: "198.51.100.1", wantStatus: http.StatusForbidden, wantBody: `{"code":"forbidden","message":"you may not do this"}`},
		{name: "neighbour of an allowed address", options: office, trust: true, xff: "192.0.2.8", wantStatus: http.StatusForbidden, wantBody: `{"code":"forbidden","message":"you may not do this"}`},
		{name: "untrusted peer cannot claim an address", options: office, xff: "10.1.2.3", wantStatus: http.StatusForbidden, wantBody: `{"code":"forbidden","message":"you may not do this"}`},
		{name: "client found behind several proxies", options: office, trust: true, xff: "10.1.2.3, 198.51.100.1", wantStatus: http.StatusForbidden, wantBody: `{"code":"forbidden","message":"you may not do this"}`},
		{name: "deny only lets others through", options: "deny: [203.0.113.0/24]", trust: true, xff: "198.51.100.1", wantStatus: http.StatusOK, wantBody: "ok"},
		{name: "deny only refuses listed", options: "deny: [203.0.113.0/24]", trust: true, xff: "203.0.113.50", wantStatus: http.StatusForbidden, wantBody: `{"code":"forbidden","message":"you may not do this"}`},
		{name: "mapped prefix matches the plain address", options: `allow: ["::ffff:198.51.100.0/120"]`, trust: true, xff: "198.51.100.1", wantStatus: http.StatusOK, wantBody: "ok"},
		{name: "mapped client address matches a v4 prefix", options: "allow: [198.51.100.0/24]", trust: true, xff: "::ffff:198.51.100.1", wantStatus: http.StatusOK, wantBody: "ok"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := gatewaytest.ProvisionPlugin(t, Info(), tc.options, nil)
			var trust *engine.Trust
			if tc.trust {
				trust = gatewaytest.TrustTestPeer()
			}
			app := gatewaytest.NewPluginApp(t, trust, p)
			app.Get("/*", func(c *fiber.Ctx) error { return c.SendString("ok") })
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			if tc.xff != "" {
				req.Header.Set("X-Forwarded-For", tc.xff)
			}
			res := gatewaytest.Do(t, app, req)
			type outcome struct {
				Status int
				Body   string
			}
			if d := cmp.Diff(outcome{tc.wantStatus, tc.wantBody}, outcome{res.Status, res.Body}); d != "" {
				t.Errorf("response (-want +got):\n%s", d)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	reg := prometheus.NewRegistry()
	p := gatewaytest.ProvisionPlugin(t, Info(), office, &gateway.Host{Metrics: reg}).(*Plugin)
	// A second instance on the same registerer shares the counter.
	gatewaytest.ProvisionPlugin(t, Info(), "deny: [1.2.3.4]", &gateway.Host{Metrics: reg})

	tests := []struct {
		name      string
		addr      netip.Addr
		wantCause string // "" = allowed
	}{
		{name: "allowed", addr: netip.MustParseAddr("10.0.0.1")},
		{name: "denied", addr: netip.MustParseAddr("10.6.6.6"), wantCause: "ip_filter: 10.6.6.6 is in deny 10.6.6.0/24"},
		{name: "not allowed", addr: netip.MustParseAddr("8.8.8.8"), wantCause: "ip_filter: 8.8.8.8 is not in allow"},
		{name: "also not allowed", addr: netip.MustParseAddr("2001:db9::1"), wantCause: "ip_filter: 2001:db9::1 is not in allow"},
		{name: "no address", addr: netip.Addr{}, wantCause: "ip_filter: no client address"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := p.check(tc.addr)
			if tc.wantCause == "" {
				if err != nil {
					t.Fatalf("check(%v) = %v, want nil", tc.addr, err)
				}
				return
			}
			if !errors.Is(err, gateway.Forbidden()) {
				t.Fatalf("check(%v) = %v, want forbidden", tc.addr, err)
			}
			if got := errors.Unwrap(err); got == nil || got.Error() != tc.wantCause {
				t.Errorf("cause %v, want %q", got, tc.wantCause)
			}
		})
	}

	got := map[string]float64{}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "gatehouse_ip_filter_refused_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			got[strings.Join(labels, ",")] = m.GetCounter().GetValue()
		}
	}
	want := map[string]float64{"reason=denied": 1, "reason=not_allowed": 2, "reason=no_address": 1}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("gatehouse_ip_filter_refused_total (-want +got):\n%s", d)
	}
}
