package identityheaders

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/valyala/fasthttp"

	"gatehouse/gateway"
	"gatehouse/gateway/gatewaytest"
)

func TestPluginContract(t *testing.T) {
	gatewaytest.RunPluginContract(t, Info(), "prefix: X-Auth-", "prefix: nope")
}

func TestPhaseIsAfterTheAuthDecision(t *testing.T) {
	if got := Info().Phase; got != gateway.PhaseUpstream {
		t.Errorf("phase %v, want upstream", got)
	}
	if _, ok := Info().New().(gateway.Phaser); ok {
		t.Error("the plugin must not choose its phase: no config may run it before the auth decision")
	}
}

var alice = gateway.Identity{UserID: "u1", Email: "alice@example.com", Username: "alice", EmailVerified: true,
	Role: "admin", Method: "password", WorkspaceID: "w1", WorkspaceRole: "moderator"}

func TestHandle(t *testing.T) {
	for _, tc := range []struct {
		name      string
		options   string
		prefix    string // headers.prefix (Host.IdentityPrefix)
		id        gateway.Identity
		anonymous bool
		want      map[string]string
	}{
		{name: "signed in with a workspace", prefix: "X-Auth-", id: alice, want: map[string]string{
			"X-Auth-User-Id": "u1", "X-Auth-User-Email": "alice@example.com", "X-Auth-User-Name": "alice",
			"X-Auth-Email-Verified": "true", "X-Auth-Role": "admin", "X-Auth-Workspace-Id": "w1",
			"X-Auth-Workspace-Role": "moderator", "X-Auth-Method": "password"}},
		{name: "no workspace: no workspace headers", prefix: "X-Auth-", id: gateway.Identity{UserID: "u2", Role: "user", Method: "google"},
			want: map[string]string{"X-Auth-User-Id": "u2", "X-Auth-Email-Verified": "false", "X-Auth-Role": "user", "X-Auth-Method": "google"}},
		{name: "headers.prefix", prefix: "X-Gw-", id: alice, want: map[string]string{"X-Gw-User-Id": "u1", "X-Gw-Role": "admin"}},
		{name: "own prefix under headers.prefix", options: "prefix: X-Auth-Gw-", prefix: "X-Auth-", id: alice,
			want: map[string]string{"X-Auth-Gw-User-Id": "u1"}},
		{name: "anonymous: nothing", prefix: "X-Auth-", id: alice, anonymous: true, want: map[string]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := gatewaytest.ProvisionPlugin(t, Info(), tc.options, &gateway.Host{IdentityPrefix: tc.prefix})
			app := gatewaytest.NewPluginApp(t, nil, gatewaytest.SignedIn(tc.id), p)
			app.Get("/", func(c *fiber.Ctx) error {
				got := map[string]string{}
				c.Request().Header.VisitAll(func(k, v []byte) {
					if strings.HasPrefix(string(k), tc.prefix) {
						got[string(k)] = string(v)
					}
				})
				return c.JSON(got)
			})
			req := httptest.NewRequest("GET", "/", nil)
			if tc.anonymous {
				req.Header.Set("X-Test-Anonymous", "1")
			}
			res := gatewaytest.Do(t, app, req)
			var got map[string]string
			if err := jsonDecode(res.Body, &got); err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s: %q, want %q", k, got[k], v)
				}
			}
			if tc.anonymous && len(got) != 0 {
				t.Errorf("headers for an anonymous caller: %v", got)
			}
		})
	}
}

func TestWriteIdentity(t *testing.T) {
	p := gatewaytest.ProvisionPlugin(t, Info(), "", &gateway.Host{IdentityPrefix: "X-Auth-"}).(*Plugin)
	var h fasthttp.ResponseHeader
	if err := p.WriteIdentity(nil, &h, &alice); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	h.VisitAll(func(k, v []byte) { got[string(k)] = string(v) })
	delete(got, "Content-Type")
	want := map[string]string{
		"X-Auth-User-Id": "u1", "X-Auth-User-Email": "alice@example.com", "X-Auth-User-Name": "alice",
		"X-Auth-Email-Verified": "true", "X-Auth-Role": "admin", "X-Auth-Workspace-Id": "w1",
		"X-Auth-Workspace-Role": "moderator", "X-Auth-Method": "password"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("headers (-want +got):\n%s", d)
	}
}

func TestProvisionRefusesAPrefixTheEngineDoesNotStrip(t *testing.T) {
	for _, tc := range []struct {
		name    string
		options string
		prefix  string
		wantErr string
	}{
		{name: "outside headers.prefix", options: "prefix: X-User-", prefix: "X-Auth-", wantErr: `does not start with headers.prefix "X-Auth-"`},
		{name: "no prefix at all", wantErr: "prefix: none given and no headers.prefix"},
		{name: "case does not matter", options: "prefix: x-auth-", prefix: "X-Auth-"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := gatewaytest.NewPlugin(Info(), tc.options)
			if err != nil {
				t.Fatal(err)
			}
			err = p.Provision(t.Context(), &gateway.Host{IdentityPrefix: tc.prefix})
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func jsonDecode(s string, v any) error { return json.Unmarshal([]byte(s), v) }
