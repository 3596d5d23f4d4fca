package google

import (
	"context"
	"net/url"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"

	"gatehouse/config"
	"gatehouse/gateway"
	"gatehouse/gateway/gatewaytest"
	"gatehouse/providers/oauthtest"
)

const callback = "https://gate.example/auth/oauth/google/callback"

// testHost is the Host the providers are provisioned with: the core's
// callback URLs are https://gate.example/auth/oauth/{method}/callback.
func testHost() *gateway.Host {
	pub, _ := url.Parse("https://gate.example")
	return &gateway.Host{PublicURL: pub, AuthPrefix: "/auth"}
}

// newProvider builds and provisions providers.google against s, as the
// gateway does.
func newProvider(t *testing.T, s *oauthtest.Server) *Provider {
	t.Helper()
	set := gatewaytest.ProvisionProviders(t, Info(), s.Options(), testHost())
	p, ok := set.Redirectors()[Method].(*Provider)
	if !ok {
		t.Fatalf("providers.google %s is not on", s.Options())
	}
	return p
}

// signIn runs the browser part of f and returns the callback's query.
func signIn(t *testing.T, p *Provider, f gateway.Flow) url.Values {
	t.Helper()
	u, err := p.AuthURL(context.Background(), f)
	if err != nil {
		t.Fatalf("AuthURL: %v", err)
	}
	q := oauthtest.Authorize(t, u)
	if q.Get("state") != f.State {
		t.Fatalf("callback state = %q, want %q", q.Get("state"), f.State)
	}
	return q
}

func TestExchange(t *testing.T) {
	tests := []struct {
		name string
		user oauthtest.User
		want gateway.External
	}{
		{
			name: "verified email",
			user: oauthtest.User{Subject: "1077", Email: "Ada@Example.COM", EmailVerified: true, Name: "Ada Lovelace", AvatarURL: "https://img.example/ada.png"},
			want: gateway.External{Provider: "google", Subject: "1077", Email: "ada@example.com", EmailVerified: true, Name: "Ada Lovelace", AvatarURL: "https://img.example/ada.png"},
		},
		{
			name: "unverified email",
			user: oauthtest.User{Subject: "1078", Email: "bob@example.com", EmailVerified: false, Name: "Bob"},
			want: gateway.External{Provider: "google", Subject: "1078", Email: "bob@example.com", Name: "Bob"},
		},
		{
			name: "no email",
			user: oauthtest.User{Subject: "1079", NoEmail: true, Name: "Carol"},
			want: gateway.External{Provider: "google", Subject: "1079", Name: "Carol"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := oauthtest.New(t, oauthtest.KindGoogle)
			s.SetUser(tc.user)
			p := newProvider(t, s)
			f := oauthtest.NewFlow(callback)
			got, err := p.Exchange(context.Background(), signIn(t, p, f), f)
			if err != nil {
				t.Fatalf("Exchange: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("External (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAuthURLParameters(t *testing.T) {
	s := oauthtest.New(t, oauthtest.KindGoogle)
	p := newProvider(t, s)
	f := oauthtest.NewFlow("") // the configured callback is used
	signIn(t, p, f)
	q := s.LastAuthRequest()
	got := map[string]string{}
	for _, k := range []string{"response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method", "nonce", "access_type"} {
		got[k] = q.Get(k)
	}
	want := map[string]string{
		"response_type":         "code",
		"client_id":             s.ClientID,
		"redirect_uri":          callback,
		"scope":                 "openid email profile",
		"state":                 f.State,
		"code_challenge":        oauth2.S256ChallengeFromVerifier(f.Verifier),
		"code_challenge_method": "S256",
		"nonce":                 f.Nonce,
		"access_type":           "online",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("authorization request (-want +got):\n%s", diff)
	}
	if m := s.LastChallengeMethod(); m != "S256" {
		t.Errorf("challenge method = %q, want S256", m)
	}
}

func TestPKCE(t *testing.T) {
	tests := []struct {
		name          string
		verifier      func(gateway.Flow) string
		wantErr       bool
		wantExchanges int
	}{
		{name: "right verifier", verifier: func(f gateway.Flow) string { return f.Verifier }, wantExchanges: 1},
		{name: "wrong verifier", verifier: func(gateway.Flow) string { return oauth2.GenerateVerifier() }, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := oauthtest.New(t, oauthtest.KindGoogle)
			p := newProvider(t, s)
			f := oauthtest.NewFlow(callback)
			q := signIn(t, p, f)
			f.Verifier = tc.verifier(f)
			_, err := p.Exchange(context.Background(), q, f)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Exchange error = %v, want error: %v", err, tc.wantErr)
			}
			if got := s.TokenExchanges(); got != tc.wantExchanges {
				t.Errorf("token exchanges = %d, want %d", got, tc.wantExchanges)
			}
			if got := s.TokenRequests(); got != 1 {
				t.Errorf("token requests = %d, want 1 (no retry with the single-use code)", got)
			}
		})
	}
}

func TestCodeIsSingleUse(t *testing.T) {
	s := oauthtest.New(t, oauthtest.KindGoogle)
	p := newProvider(t, s)
	f := oauthtest.NewFlow(callback)
	q := signIn(t, p, f)
	if _, err := p.Exchange(context.Background(), q, f); err != nil {
		t.Fatalf("first Exchange: %v", err)
	}
	if _, err := p.Exchange(context.Background(), q, f); err == nil {
		t.Fatal("second Exchange of the same code succeeded")
	}
}

func TestErrors(t *testing.T) {
	s := oauthtest.New(t, oauthtest.KindGoogle)
	good := newProvider(t, s)
	noUserinfo := &Provider{ClientID: s.ClientID, ClientSecret: config.NewSecret(s.ClientSecret),
		AuthorizationURL: s.AuthURL(), TokenURL: s.TokenURL(), UserinfoURL: s.URL + "/missing"}
	if err := noUserinfo.Provision(context.Background(), testHost()); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		p    *Provider
		run  func(t *testing.T, p *Provider) error
	}{
		{name: "not configured", p: new(Provider), run: func(t *testing.T, p *Provider) error {
			_, err := p.AuthURL(context.Background(), oauthtest.NewFlow(callback))
			return err
		}},
		{name: "short verifier", p: good, run: func(t *testing.T, p *Provider) error {
			f := oauthtest.NewFlow(callback)
			f.Verifier = "short"
			_, err := p.AuthURL(context.Background(), f)
			return err
		}},
		{name: "empty state", p: good, run: func(t *testing.T, p *Provider) error {
			f := oauthtest.NewFlow(callback)
			f.State = ""
			_, err := p.AuthURL(context.Background(), f)
			return err
		}},
		{name: "provider error", p: good, run: func(t *testing.T, p *Provider) error {
			_, err := p.Exchange(context.Background(), url.Values{"error": {"access_denied"}}, oauthtest.NewFlow(callback))
			return err
		}},
		{name: "no code", p: good, run: func(t *testing.T, p *Provider) error {
			_, err := p.Exchange(context.Background(), url.Values{}, oauthtest.NewFlow(callback))
			return err
		}},
		{name: "unknown code", p: good, run: func(t *testing.T, p *Provider) error {
			_, err := p.Exchange(context.Background(), url.Values{"code": {"forged"}}, oauthtest.NewFlow(callback))
			return err
		}},
		{name: "userinfo fails", p: noUserinfo, run: func(t *testing.T, p *Provider) error {
			f := oauthtest.NewFlow(callback)
			_, err := p.Exchange(context.Background(), signIn(t, p, f), f)
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.run(t, tc.p); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func TestMethod(t *testing.T) {
	if got := Info().New().Method(); got != "google" {
		t.Errorf("Method() = %q, want google", got)
	}
	if got := Info().Name; got != "google" {
		t.Errorf("Info().Name = %q, want google", got)
	}
}
