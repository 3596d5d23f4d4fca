package jwtassertion

import (
	"errors"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/google/go-cmp/cmp"

	"gatehouse/gateway"
	"gatehouse/gateway/gatewaytest"
)

func TestPluginContract(t *testing.T) {
	gatewaytest.RunPluginContract(t, Info(), "header: X-Auth-Assertion", "header: 'bad header'")
}

func TestPhaseIsAfterTheAuthDecision(t *testing.T) {
	if got := Info().Phase; got != gateway.PhaseUpstream {
		t.Errorf("phase %v, want upstream", got)
	}
	if _, ok := Info().New().(gateway.Phaser); ok {
		t.Error("the plugin must not choose its phase: no config may run it before the auth decision")
	}
}

// recorder "signs" by keeping the claims; err makes it fail.
type recorder struct {
	got []gateway.AssertionClaims
	err error
}

func (r *recorder) Assertion(c gateway.AssertionClaims) (string, error) {
	if r.err != nil {
		return "", r.err
	}
	r.got = append(r.got, c)
	return "signed." + c.Subject, nil
}

func host(s gateway.AssertionSigner) *gateway.Host {
	return &gateway.Host{IdentityPrefix: "X-Auth-", Assertions: s, PublicURL: &url.URL{Scheme: "https", Host: "gate.example", Path: "/"}}
}

func TestHandle(t *testing.T) {
	alice := gateway.Identity{UserID: "u1", Email: "a@example.com", Role: "admin", WorkspaceID: "w1", WorkspaceRole: "member"}
	for _, tc := range []struct {
		name       string
		options    string
		anonymous  bool
		signerErr  error
		wantStatus int
		wantHeader map[string]string
		wantClaims []gateway.AssertionClaims
	}{
		{name: "signed in", wantStatus: 200, wantHeader: map[string]string{"X-Auth-Assertion": "signed.u1"},
			wantClaims: []gateway.AssertionClaims{{Issuer: "https://gate.example", Subject: "u1", Email: "a@example.com",
				Role: "admin", WorkspaceID: "w1", WorkspaceRole: "member"}}},
		{name: "own header", options: "header: X-Auth-Token", wantStatus: 200,
			wantHeader: map[string]string{"X-Auth-Token": "signed.u1", "X-Auth-Assertion": ""},
			wantClaims: []gateway.AssertionClaims{{Issuer: "https://gate.example", Subject: "u1", Email: "a@example.com",
				Role: "admin", WorkspaceID: "w1", WorkspaceRole: "member"}}},
		{name: "anonymous: nothing signed", anonymous: true, wantStatus: 200, wantHeader: map[string]string{"X-Auth-Assertion": ""}},
		{name: "signer fails: 500", signerErr: errors.New("no key"), wantStatus: 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{err: tc.signerErr}
			p := gatewaytest.ProvisionPlugin(t, Info(), tc.options, host(rec))
			app := gatewaytest.NewPluginApp(t, nil, gatewaytest.SignedIn(alice), p)
			app.Get("/", func(c *fiber.Ctx) error {
				for k := range tc.wantHeader {
					c.Set("Seen-"+k, c.Get(k))
				}
				return c.SendString("ok")
			})
			req := httptest.NewRequest("GET", "/", nil)
			if tc.anonymous {
				req.Header.Set("X-Test-Anonymous", "1")
			}
			res := gatewaytest.Do(t, app, req)
			if res.Status != tc.wantStatus {
				t.Fatalf("status %d (%s), want %d", res.Status, res.Body, tc.wantStatus)
			}
			for k, v := range tc.wantHeader {
				if got := res.Header.Get("Seen-" + k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
			if d := cmp.Diff(tc.wantClaims, rec.got); d != "" {
				t.Errorf("claims (-want +got):\n%s", d)
			}
		})
	}
}

func TestProvision(t *testing.T) {
	for _, tc := range []struct {
		name    string
		options string
		host    *gateway.Host
		wantErr string
	}{
		{name: "no signer", host: &gateway.Host{IdentityPrefix: "X-Auth-"}, wantErr: "no assertion signer"},
		{name: "header outside headers.prefix", options: "header: X-Token", host: host(&recorder{}), wantErr: `does not start with headers.prefix "X-Auth-"`},
		{name: "defaults", host: host(&recorder{})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := gatewaytest.NewPlugin(Info(), tc.options)
			if err != nil {
				t.Fatal(err)
			}
			err = p.Provision(t.Context(), tc.host)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}
