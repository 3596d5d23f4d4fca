package oidc

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"

	"gatehouse/config"
	"gatehouse/gateway"
	"gatehouse/gateway/gatewaytest"
	"gatehouse/providers/oauthtest"
)

func callbackURL(method string) string {
	return "https://gate.example/auth/oauth/" + method + "/callback"
}

// testHost is the Host the providers are provisioned with: the core's
// callback URLs are callbackURL(method).
func testHost() *gateway.Host {
	pub, _ := url.Parse("https://gate.example")
	return &gateway.Host{PublicURL: pub, AuthPrefix: "/auth"}
}

// provision builds and provisions a providers.oidc list of entries (YAML
// mappings) as the gateway does.
func provision(t *testing.T, entries ...string) (*gateway.ProviderSet, error) {
	t.Helper()
	n, err := gatewaytest.OptionsNode("[" + strings.Join(entries, ", ") + "]")
	if err != nil {
		t.Fatal(err)
	}
	r, err := gateway.NewRegistry(nil, []gateway.ProviderInfo{Info()})
	if err != nil {
		t.Fatal(err)
	}
	set, err := r.ProvisionProviders(context.Background(), config.Providers{Name: n}, testHost())
	if err == nil {
		t.Cleanup(func() { _ = set.Close() })
	}
	return set, err
}

// testInstance provisions one entry named acme against s; extra adds
// options (", scopes: [email]").
func testInstance(t *testing.T, s *oauthtest.Server, extra string) *Provider {
	t.Helper()
	entry := strings.TrimSuffix(s.OIDCOptions("acme"), "}") + extra + "}"
	set, err := provision(t, entry)
	if err != nil {
		t.Fatalf("provision: %v", err)
	}
	in, ok := set.Redirectors()["oidc:acme"].(*Provider)
	if !ok {
		t.Fatalf("no oidc:acme in %v", set.Methods())
	}
	return in
}

// signIn runs the browser part of f and returns the callback's query.
func signIn(t *testing.T, r gateway.Redirector, f gateway.Flow) url.Values {
	t.Helper()
	u, err := r.AuthURL(context.Background(), f)
	if err != nil {
		t.Fatalf("AuthURL: %v", err)
	}
	q := oauthtest.Authorize(t, u)
	if q.Get("state") != f.State {
		t.Fatalf("callback state = %q, want %q", q.Get("state"), f.State)
	}
	return q
}

// exchange runs a whole sign-in with in.
func exchange(t *testing.T, in *Provider) (gateway.External, error) {
	t.Helper()
	f := oauthtest.NewFlow(callbackURL(in.Method()))
	return in.Exchange(context.Background(), signIn(t, in, f), f)
}

func TestExchange(t *testing.T) {
	tests := []struct {
		name              string
		user              oauthtest.User
		emailInUserinfo   bool
		want              gateway.External
		wantUserinfoCalls int
	}{
		{
			name: "verified email in the id_token",
			user: oauthtest.User{Subject: "u-1", Email: "Ada@Example.com", EmailVerified: true, Name: "Ada", Login: "ada", AvatarURL: "https://img.example/ada"},
			want: gateway.External{Provider: "oidc:acme", Subject: "u-1", Email: "ada@example.com", EmailVerified: true, Name: "Ada", Username: "ada", AvatarURL: "https://img.example/ada"},
		},
		{
			name: "unverified email",
			user: oauthtest.User{Subject: "u-2", Email: "bob@example.com", Login: "bob"},
			want: gateway.External{Provider: "oidc:acme", Subject: "u-2", Email: "bob@example.com", Username: "bob"},
		},
		{
			name:              "email only from userinfo",
			user:              oauthtest.User{Subject: "u-3", Email: "carol@example.com", EmailVerified: true, Name: "Carol"},
			emailInUserinfo:   true,
			want:              gateway.External{Provider: "oidc:acme", Subject: "u-3", Email: "carol@example.com", EmailVerified: true, Name: "Carol"},
			wantUserinfoCalls: 1,
		},
		{
			name:              "no email anywhere",
			user:              oauthtest.User{Subject: "u-4", NoEmail: true, Login: "dan"},
			want:              gateway.External{Provider: "oidc:acme", Subject: "u-4", Username: "dan"},
			wantUserinfoCalls: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := oauthtest.New(t, oauthtest.KindOIDC)
			s.SetUser(tc.user)
			s.EmailOnlyInUserinfo(tc.emailInUserinfo)
			got, err := exchange(t, testInstance(t, s, ""))
			if err != nil {
				t.Fatalf("Exchange: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("External (-want +got):\n%s", diff)
			}
			if n := s.UserinfoRequests(); n != tc.wantUserinfoCalls {
				t.Errorf("userinfo requests = %d, want %d", n, tc.wantUserinfoCalls)
			}
		})
	}
}

func TestAuthURLParameters(t *testing.T) {
	tests := []struct {
		name      string
		scopes    []string
		wantScope string
	}{
		{name: "default scopes", wantScope: "openid email profile"},
		{name: "configured scopes", scopes: []string{"email", "groups"}, wantScope: "openid email groups"},
		{name: "openid not repeated", scopes: []string{"openid", "email"}, wantScope: "openid email"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := oauthtest.New(t, oauthtest.KindOIDC)
			in := testInstance(t, s, scopesOption(tc.scopes))
			f := oauthtest.NewFlow("") // the configured callback is used
			signIn(t, in, f)
			q := s.LastAuthRequest()
			got := map[string]string{}
			for _, k := range []string{"response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method", "nonce"} {
				got[k] = q.Get(k)
			}
			want := map[string]string{
				"response_type":         "code",
				"client_id":             s.ClientID,
				"redirect_uri":          callbackURL("oidc:acme"),
				"scope":                 tc.wantScope,
				"state":                 f.State,
				"code_challenge":        oauth2.S256ChallengeFromVerifier(f.Verifier),
				"code_challenge_method": "S256",
				"nonce":                 f.Nonce,
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("authorization request (-want +got):\n%s", diff)
			}
		})
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
			s := oauthtest.New(t, oauthtest.KindOIDC)
			in := testInstance(t, s, "")
			f := oauthtest.NewFlow(callbackURL(in.Method()))
			q := signIn(t, in, f)
			if m := s.LastChallengeMethod(); m != "S256" {
				t.Errorf("challenge method = %q, want S256", m)
			}
			f.Verifier = tc.verifier(f)
			_, err := in.Exchange(context.Background(), q, f)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Exchange error = %v, want error: %v", err, tc.wantErr)
			}
			if got := s.TokenExchanges(); got != tc.wantExchanges {
				t.Errorf("token exchanges = %d, want %d", got, tc.wantExchanges)
			}
		})
	}
}

// TestBadIDToken: every defect of the id_token is refused with ErrIDToken.
func TestBadIDToken(t *testing.T) {
	tests := []struct {
		name   string
		tamper oauthtest.Tampering
	}{
		{name: "bad signature", tamper: oauthtest.Tampering{BadSignature: true}},
		{name: "wrong audience", tamper: oauthtest.Tampering{WrongAudience: true}},
		{name: "expired", tamper: oauthtest.Tampering{Expired: true}},
		{name: "wrong nonce", tamper: oauthtest.Tampering{WrongNonce: true}},
		{name: "wrong issuer", tamper: oauthtest.Tampering{WrongIssuer: true}},
		{name: "alg none", tamper: oauthtest.Tampering{AlgNone: true}},
		{name: "HS256 with the client secret", tamper: oauthtest.Tampering{HMAC: true}},
		{name: "issued in the future", tamper: oauthtest.Tampering{FutureIssuedAt: true}},
		{name: "second audience with azp", tamper: oauthtest.Tampering{ExtraAudience: true}},
		{name: "kid not in the JWKS", tamper: oauthtest.Tampering{UnknownKid: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := oauthtest.New(t, oauthtest.KindOIDC)
			in := testInstance(t, s, "")
			s.Tamper(tc.tamper)
			_, err := exchange(t, in)
			if !errors.Is(err, ErrIDToken) {
				t.Fatalf("Exchange error = %v, want one wrapping ErrIDToken", err)
			}
			t.Logf("refused: %v", err)
			// The next, clean token is accepted again.
			if _, err := exchange(t, in); err != nil {
				t.Fatalf("clean Exchange after the bad one: %v", err)
			}
		})
	}
}

func TestUserinfoSubjectMismatch(t *testing.T) {
	s := oauthtest.New(t, oauthtest.KindOIDC)
	s.EmailOnlyInUserinfo(true)
	in := testInstance(t, s, "")
	s.Tamper(oauthtest.Tampering{UserinfoSubject: true})
	if _, err := exchange(t, in); err == nil {
		t.Fatal("Exchange accepted userinfo for another subject")
	}
}

// TestKeyRotation: a token signed with a key the cached JWKS lacks makes
// one refetch; another unknown kid within a minute makes none.
func TestKeyRotation(t *testing.T) {
	s := oauthtest.New(t, oauthtest.KindOIDC)
	in := testInstance(t, s, "")
	steps := []struct {
		name        string
		rotate      bool
		advance     time.Duration
		wantErr     bool
		wantFetches int
	}{
		{name: "known key", wantFetches: 1},
		{name: "rotated: refetch", rotate: true, wantFetches: 2},
		{name: "rotated again within a minute: no refetch", rotate: true, wantErr: true, wantFetches: 2},
		{name: "a minute later: refetch", advance: MinRefresh + time.Second, wantFetches: 3},
		{name: "known again", advance: MinRefresh + time.Second, wantFetches: 3},
	}
	for _, st := range steps {
		if st.rotate {
			if err := s.RotateKey(); err != nil {
				t.Fatal(err)
			}
		}
		in.now = func() time.Time { return time.Now().Add(st.advance) }
		_, err := exchange(t, in)
		if (err != nil) != st.wantErr {
			t.Fatalf("%s: Exchange error = %v, want error: %v", st.name, err, st.wantErr)
		}
		if st.wantErr && !errors.Is(err, ErrIDToken) {
			t.Errorf("%s: error %v does not wrap ErrIDToken", st.name, err)
		}
		if got := s.JWKSFetches(); got != st.wantFetches {
			t.Errorf("%s: JWKS fetches = %d, want %d", st.name, got, st.wantFetches)
		}
	}
}

// TestConcurrentRefresh: sign-ins racing on a rotated key share one refetch.
func TestConcurrentRefresh(t *testing.T) {
	s := oauthtest.New(t, oauthtest.KindOIDC)
	in := testInstance(t, s, "")
	if err := s.RotateKey(); err != nil {
		t.Fatal(err)
	}
	const n = 8
	type flow struct {
		f gateway.Flow
		q url.Values
	}
	flows := make([]flow, n)
	for i := range flows {
		f := oauthtest.NewFlow(callbackURL(in.Method()))
		flows[i] = flow{f, signIn(t, in, f)}
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, fl := range flows {
		wg.Go(func() { _, errs[i] = in.Exchange(context.Background(), fl.q, fl.f) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Exchange %d: %v", i, err)
		}
	}
	if got := s.JWKSFetches(); got != 2 {
		t.Errorf("JWKS fetches = %d, want 2 (start and one refresh)", got)
	}
}

func TestInstances(t *testing.T) {
	a := oauthtest.New(t, oauthtest.KindOIDC)
	b := oauthtest.New(t, oauthtest.KindOIDC)
	b.SetUser(oauthtest.User{Subject: "b-1", Email: "b@corp.example", EmailVerified: true})
	set, err := provision(t, a.OIDCOptions("acme"), b.OIDCOptions("corp"))
	if err != nil {
		t.Fatalf("provision: %v", err)
	}
	if diff := cmp.Diff([]string{"oidc:acme", "oidc:corp"}, set.Methods()); diff != "" {
		t.Errorf("instance methods (-want +got):\n%s", diff)
	}
	got, err := exchange(t, set.Redirectors()["oidc:corp"].(*Provider))
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	want := gateway.External{Provider: "oidc:corp", Subject: "b-1", Email: "b@corp.example", EmailVerified: true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("External (-want +got):\n%s", diff)
	}
	if Info().Name != "oidc" || !Info().List {
		t.Errorf("Info() = %+v, want the list provider oidc", Info())
	}
}

func TestErrors(t *testing.T) {
	s := oauthtest.New(t, oauthtest.KindOIDC)
	in := testInstance(t, s, "")
	tests := []struct {
		name string
		run  func() error
	}{
		{name: "not configured", run: func() error {
			_, err := new(Provider).AuthURL(context.Background(), oauthtest.NewFlow(callbackURL("oidc:x")))
			return err
		}},
		{name: "no nonce", run: func() error {
			f := oauthtest.NewFlow("")
			f.Nonce = ""
			_, err := in.AuthURL(context.Background(), f)
			return err
		}},
		{name: "no verifier", run: func() error {
			f := oauthtest.NewFlow("")
			f.Verifier = ""
			_, err := in.AuthURL(context.Background(), f)
			return err
		}},
		{name: "provider error", run: func() error {
			_, err := in.Exchange(context.Background(), url.Values{"error": {"access_denied"}}, oauthtest.NewFlow(""))
			return err
		}},
		{name: "unknown code", run: func() error {
			_, err := in.Exchange(context.Background(), url.Values{"code": {"forged"}}, oauthtest.NewFlow(""))
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.run(); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func TestAuthStyle(t *testing.T) {
	tests := []struct {
		name      string
		hasSecret bool
		methods   []string
		want      oauth2.AuthStyle
		wantErr   bool
	}{
		{name: "public client", methods: []string{"client_secret_basic"}, want: oauth2.AuthStyleInParams},
		{name: "nothing listed", hasSecret: true, want: oauth2.AuthStyleInHeader},
		{name: "basic", hasSecret: true, methods: []string{"client_secret_post", "client_secret_basic"}, want: oauth2.AuthStyleInHeader},
		{name: "post only", hasSecret: true, methods: []string{"client_secret_post"}, want: oauth2.AuthStyleInParams},
		{name: "neither", hasSecret: true, methods: []string{"private_key_jwt"}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := authStyle(tc.hasSecret, tc.methods)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error = %v, want error: %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("style = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestLeeway: exp is allowed Leeway of clock skew, no more.
func TestLeeway(t *testing.T) {
	tests := []struct {
		name    string
		advance time.Duration // the relying party's clock ahead of the issuer's
		wantErr bool
	}{
		{name: "in time", advance: 0},
		{name: "expired within the leeway", advance: time.Hour + Leeway/2},
		{name: "expired beyond the leeway", advance: time.Hour + 2*Leeway, wantErr: true},
		{name: "issued just ahead of our clock", advance: -Leeway / 2},
		{name: "issued far ahead of our clock", advance: -2 * Leeway, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := oauthtest.New(t, oauthtest.KindOIDC)
			in := testInstance(t, s, "")
			in.now = func() time.Time { return time.Now().Add(tc.advance) }
			_, err := exchange(t, in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Exchange error = %v, want error: %v", err, tc.wantErr)
			}
		})
	}
}

// scopesOption is ", scopes: [...]" for scopes, or "" for none.
func scopesOption(scopes []string) string {
	if scopes == nil {
		return ""
	}
	q := make([]string, len(scopes))
	for i, s := range scopes {
		q[i] = fmt.Sprintf("%q", s)
	}
	return ", scopes: [" + strings.Join(q, ", ") + "]"
}
