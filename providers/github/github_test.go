package github

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"

	"gatehouse/gateway"
	"gatehouse/gateway/gatewaytest"
	"gatehouse/providers/oauthtest"
)

const callback = "https://gate.example/auth/oauth/github/callback"

// testHost is the Host the providers are provisioned with: the core's
// callback URLs are https://gate.example/auth/oauth/{method}/callback.
func testHost() *gateway.Host {
	pub, _ := url.Parse("https://gate.example")
	return &gateway.Host{PublicURL: pub, AuthPrefix: "/auth"}
}

// newProvider builds and provisions providers.github against s, as the
// gateway does; apiURL "" is the mock's API.
func newProvider(t *testing.T, s *oauthtest.Server, apiURL string) *Provider {
	t.Helper()
	opts := s.Options()
	if apiURL != "" {
		opts = fmt.Sprintf("{client_id: %q, client_secret: %q, auth_url: %q, token_url: %q, api_url: %q}",
			s.ClientID, s.ClientSecret, s.AuthURL(), s.TokenURL(), apiURL)
	}
	set := gatewaytest.ProvisionProviders(t, Info(), opts, testHost())
	p, ok := set.Redirectors()[Method].(*Provider)
	if !ok {
		t.Fatalf("providers.github %s is not on", opts)
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
	base := gateway.External{Provider: "github", Subject: "583231", Name: "The Octocat", Username: "octocat", AvatarURL: "https://avatars.example/u/583231"}
	with := func(email string, verified bool) gateway.External {
		e := base
		e.Email, e.EmailVerified = email, verified
		return e
	}
	user := func(email string, emails []oauthtest.GitHubEmail) oauthtest.User {
		return oauthtest.User{Subject: "583231", Login: "octocat", Name: "The Octocat", AvatarURL: "https://avatars.example/u/583231", Email: email, Emails: emails}
	}
	tests := []struct {
		name string
		user oauthtest.User
		want gateway.External
	}{
		{
			name: "primary verified email chosen",
			user: user("public@example.com", []oauthtest.GitHubEmail{
				{Email: "other@example.com", Verified: true},
				{Email: "Primary@Example.com", Primary: true, Verified: true},
				{Email: "new@example.com"},
			}),
			want: with("primary@example.com", true),
		},
		{
			name: "unverified primary, another verified",
			user: user("", []oauthtest.GitHubEmail{
				{Email: "primary@example.com", Primary: true},
				{Email: "work@example.com", Verified: true},
			}),
			want: with("work@example.com", true),
		},
		{
			name: "no verified email: profile email, unverified",
			user: user("public@example.com", []oauthtest.GitHubEmail{{Email: "primary@example.com", Primary: true}}),
			want: with("public@example.com", false),
		},
		{
			name: "no verified email and no profile email",
			user: user("", []oauthtest.GitHubEmail{{Email: "primary@example.com", Primary: true}}),
			want: with("", false),
		},
		{
			name: "no email at all",
			user: oauthtest.User{Subject: "583231", Login: "octocat", Name: "The Octocat", AvatarURL: "https://avatars.example/u/583231", NoEmail: true},
			want: with("", false),
		},
		{
			name: "no name",
			user: oauthtest.User{Subject: "7", Login: "seven", Email: "seven@example.com", EmailVerified: true},
			want: gateway.External{Provider: "github", Subject: "7", Username: "seven", Email: "seven@example.com", EmailVerified: true},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := oauthtest.New(t, oauthtest.KindGitHub)
			s.SetUser(tc.user)
			p := newProvider(t, s, "")
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
	s := oauthtest.New(t, oauthtest.KindGitHub)
	p := newProvider(t, s, "")
	f := oauthtest.NewFlow(callback)
	signIn(t, p, f)
	q := s.LastAuthRequest()
	got := map[string]string{}
	for _, k := range []string{"response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method"} {
		got[k] = q.Get(k)
	}
	want := map[string]string{
		"response_type":         "code",
		"client_id":             s.ClientID,
		"redirect_uri":          callback,
		"scope":                 "read:user user:email",
		"state":                 f.State,
		"code_challenge":        oauth2.S256ChallengeFromVerifier(f.Verifier),
		"code_challenge_method": "S256",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("authorization request (-want +got):\n%s", diff)
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
			s := oauthtest.New(t, oauthtest.KindGitHub)
			p := newProvider(t, s, "")
			f := oauthtest.NewFlow(callback)
			q := signIn(t, p, f)
			if m := s.LastChallengeMethod(); m != "S256" {
				t.Errorf("challenge method = %q, want S256", m)
			}
			f.Verifier = tc.verifier(f)
			_, err := p.Exchange(context.Background(), q, f)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Exchange error = %v, want error: %v", err, tc.wantErr)
			}
			if got := s.TokenExchanges(); got != tc.wantExchanges {
				t.Errorf("token exchanges = %d, want %d", got, tc.wantExchanges)
			}
		})
	}
}

// TestEmailsForbidden: a token without the user:email grant gets 404 from
// /user/emails; the profile email is used, unverified.
func TestEmailsForbidden(t *testing.T) {
	s := oauthtest.New(t, oauthtest.KindGitHub)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/user":
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"id": 42, "login": "hidden", "name": null, "email": "Me@Example.com", "avatar_url": ""}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer api.Close()
	p := newProvider(t, s, api.URL+"/")
	f := oauthtest.NewFlow(callback)
	got, err := p.Exchange(context.Background(), signIn(t, p, f), f)
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	want := gateway.External{Provider: "github", Subject: "42", Username: "hidden", Email: "me@example.com"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("External (-want +got):\n%s", diff)
	}
}

func TestErrors(t *testing.T) {
	s := oauthtest.New(t, oauthtest.KindGitHub)
	good := newProvider(t, s, "")
	noAPI := newProvider(t, s, s.URL+"/missing")
	tests := []struct {
		name string
		p    *Provider
		run  func(t *testing.T, p *Provider) error
	}{
		{name: "not configured", p: new(Provider), run: func(_ *testing.T, p *Provider) error {
			_, err := p.AuthURL(context.Background(), oauthtest.NewFlow(callback))
			return err
		}},
		{name: "no verifier", p: good, run: func(_ *testing.T, p *Provider) error {
			f := oauthtest.NewFlow(callback)
			f.Verifier = ""
			_, err := p.AuthURL(context.Background(), f)
			return err
		}},
		{name: "provider error", p: good, run: func(_ *testing.T, p *Provider) error {
			_, err := p.Exchange(context.Background(), url.Values{"error": {"access_denied"}}, oauthtest.NewFlow(callback))
			return err
		}},
		{name: "unknown code (GitHub answers 200 with an error)", p: good, run: func(_ *testing.T, p *Provider) error {
			_, err := p.Exchange(context.Background(), url.Values{"code": {"forged"}}, oauthtest.NewFlow(callback))
			return err
		}},
		{name: "API fails", p: noAPI, run: func(t *testing.T, p *Provider) error {
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

func TestPickEmail(t *testing.T) {
	tests := []struct {
		name         string
		profile      string
		list         []email
		wantEmail    string
		wantVerified bool
	}{
		{name: "nothing"},
		{name: "profile only", profile: " Pub@Example.com ", wantEmail: "pub@example.com"},
		{name: "primary verified first", list: []email{{Email: "b@x.io", Verified: true}, {Email: "a@x.io", Primary: true, Verified: true}}, wantEmail: "a@x.io", wantVerified: true},
		{name: "first verified", list: []email{{Email: "p@x.io", Primary: true}, {Email: "b@x.io", Verified: true}, {Email: "c@x.io", Verified: true}}, wantEmail: "b@x.io", wantVerified: true},
		{name: "empty verified entry skipped", profile: "p@x.io", list: []email{{Email: " ", Primary: true, Verified: true}}, wantEmail: "p@x.io"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, v := pickEmail(tc.profile, tc.list)
			if diff := cmp.Diff([]any{tc.wantEmail, tc.wantVerified}, []any{e, v}); diff != "" {
				t.Errorf("pickEmail (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMethod(t *testing.T) {
	if got := Info().New().Method(); got != "github" {
		t.Errorf("Method() = %q, want github", got)
	}
	if got := Info().Name; got != "github" {
		t.Errorf("Info().Name = %q, want github", got)
	}
}
