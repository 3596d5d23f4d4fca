package oidcprovider

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"gatehouse/config"
	"gatehouse/gateway/auth/authtest"
	"gatehouse/gateway/db"
	"gatehouse/gateway/keys"
	"gatehouse/gateway/session"
)

// rsaKeys signs with and publishes one RS256 key.
type rsaKeys struct{ k *rsa.PrivateKey }

func (r rsaKeys) Current() (keys.SigningKey, error) {
	return keys.SigningKey{Kid: "k1", Algorithm: "RS256", Signer: r.k}, nil
}

func (r rsaKeys) PublicKeys() []keys.PublicKey {
	return []keys.PublicKey{{Kid: "k1", Algorithm: "RS256", Key: &r.k.PublicKey}}
}

func newService(t *testing.T) (*Service, *authtest.Env) {
	t.Helper()
	env := authtest.New(t, nil)
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := config.Default().OIDCProvider
	p.Enabled = true
	p.Clients = []config.OIDCClient{{ClientID: "web", ClientSecret: config.NewSecret("0123456789abcdef"), Name: "Web",
		RedirectURIs: []string{"https://app.example/cb"}, Scopes: config.OIDCScopes,
		GrantTypes: []string{config.GrantAuthorizationCode, config.GrantRefreshToken}, Consent: config.ConsentImplicit,
		AllowedRoles: []string{"admin", "user"}}}
	s, err := New(Options{Config: p, Issuer: "http://gatehouse.test/auth", PublicURL: "http://gatehouse.test", AuthPrefix: "/auth",
		Key: []byte(authtest.Secret), Languages: []string{"en"}},
		Deps{Core: env.Core, DB: env.DB, KV: env.KV, Limiter: env.KV, Sessions: env.Sessions, Signer: rsaKeys{k}, Published: rsaKeys{k}})
	if err != nil {
		t.Fatal(err)
	}
	return s, env
}

func newUser(t *testing.T, env *authtest.Env, email, role string) *db.User {
	t.Helper()
	u := &db.User{Email: email, Role: role, EmailVerified: true}
	if err := env.DB.Create(u).Error; err != nil {
		t.Fatal(err)
	}
	return u
}

// doneRequest is an authorization request the user finished, with its
// code issued.
func doneRequest(t *testing.T, st storage, u *db.User) (*authRequest, string) {
	t.Helper()
	ctx := t.Context()
	req, err := st.CreateAuthRequest(ctx, &oidc.AuthRequest{ClientID: "web", RedirectURI: "https://app.example/cb",
		Scopes: []string{"openid", "email", "offline_access"}, ResponseType: oidc.ResponseTypeCode,
		CodeChallenge: "x", CodeChallengeMethod: oidc.CodeChallengeMethodS256}, "")
	if err != nil {
		t.Fatal(err)
	}
	a := req.(*authRequest)
	a.UserID, a.IsDone, a.AuthTime, a.SessionVersion = u.ID, true, time.Now(), u.SessionVersion
	if err := st.saveRequest(ctx, a); err != nil {
		t.Fatal(err)
	}
	code := randomID(16)
	if err := st.SaveAuthCode(ctx, a.ID, code); err != nil {
		t.Fatal(err)
	}
	got, err := st.AuthRequestByCode(ctx, code)
	if err != nil {
		t.Fatal(err)
	}
	return got.(*authRequest), code
}

// Two exchanges of one code racing: one gets tokens, the other is refused
// and revokes what the first got.
func TestCodeIsSingleUse(t *testing.T) {
	s, env := newService(t)
	st := storage{s}
	u := newUser(t, env, "a@example.com", "user")
	a, code := doneRequest(t, st, u)
	var wg sync.WaitGroup
	results := make([]error, 8)
	ids := make([]string, 8)
	for i := range results {
		wg.Go(func() { ids[i], _, _, results[i] = st.CreateAccessAndRefreshTokens(context.Background(), a, "") })
	}
	wg.Wait()
	won := 0
	var winner string
	for i, err := range results {
		if err == nil {
			won++
			winner = ids[i]
		}
	}
	if won != 1 {
		t.Fatalf("%d exchanges of one code succeeded: %v", won, results)
	}
	grant, _, _ := parseTokenID(winner)
	if _, _, err := st.activeGrant(t.Context(), grant); !errors.Is(err, errInactive) {
		t.Errorf("the racing exchanges left the grant active: %v", err)
	}
	if _, err := st.AuthRequestByCode(t.Context(), code); err == nil {
		t.Error("the code still finds its request")
	}
}

// Concurrent refreshes of one refresh token: at most one rotates it, and
// the reuse revokes the grant.
func TestRefreshRotationRace(t *testing.T) {
	s, env := newService(t)
	st := storage{s}
	u := newUser(t, env, "b@example.com", "user")
	a, _ := doneRequest(t, st, u)
	_, refresh, _, err := st.CreateAccessAndRefreshTokens(t.Context(), a, "")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Go(func() {
			req, err := st.TokenRequestByRefreshToken(context.Background(), refresh)
			if err != nil {
				errs[i] = err
				return
			}
			_, _, _, errs[i] = st.CreateAccessAndRefreshTokens(context.Background(), req, refresh)
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		}
	}
	if ok > 1 {
		t.Fatalf("%d refreshes of one token succeeded", ok)
	}
	if _, err := st.TokenRequestByRefreshToken(t.Context(), refresh); err == nil {
		t.Error("the used refresh token is accepted again")
	}
}

// A grant stops with its user: blocked, signed out everywhere, a role the
// client does not allow, deleted.
func TestGrantFollowsUser(t *testing.T) {
	s, env := newService(t)
	st := storage{s}
	ctx := t.Context()
	for _, tc := range []struct {
		name   string
		change func(u *db.User)
	}{
		{"blocked", func(u *db.User) { env.DB.Model(u).Update("blocked", true) }},
		{"signed out everywhere", func(u *db.User) { _ = env.Core.EndAllSessions(ctx, u.ID) }},
		{"role not allowed", func(u *db.User) { env.DB.Model(u).Update("role", "guest") }},
		{"deleted", func(u *db.User) { env.DB.Delete(u) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := newUser(t, env, tc.name+"@example.com", "user")
			a, _ := doneRequest(t, st, u)
			id, _, _, err := st.CreateAccessAndRefreshTokens(ctx, a, "")
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := st.activeToken(ctx, id, u.ID); err != nil {
				t.Fatalf("fresh token: %v", err)
			}
			tc.change(u)
			if _, _, err := st.activeToken(ctx, id, u.ID); !errors.Is(err, errInactive) {
				t.Errorf("after %s the token is %v", tc.name, err)
			}
		})
	}
}

func TestParseTokenID(t *testing.T) {
	exp := time.Unix(1_900_000_000, 0).UTC()
	for _, grant := range []string{"01a2-grant", ""} {
		g, e, ok := parseTokenID(accessTokenID(grant, exp))
		if !ok || g != grant || !e.Equal(exp) {
			t.Errorf("%q: got %q %v %v", grant, g, e, ok)
		}
	}
	for _, bad := range []string{"", "g.", "g.a.b", "c.x.y", "c.1.2.3", "r.grant", "x.1.2"} {
		if _, _, ok := parseTokenID(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestNormalizeUserCode(t *testing.T) {
	for in, want := range map[string]string{"bcdf-ghjk": "BCDFGHJK", " BCDF GHJK ": "BCDFGHJK", "b-c-d-f": "BCDF", "<script>": "SCRIPT"} {
		if got := normalizeUserCode(in); got != want {
			t.Errorf("%q → %q, want %q", in, got, want)
		}
	}
	if got := normalizeForForm("bcdfghjk"); got != "BCDF-GHJK" {
		t.Errorf("normalizeForForm = %q", got)
	}
	if got := normalizeForForm("short"); got != "" {
		t.Errorf("normalizeForForm(short) = %q", got)
	}
}

func TestAMR(t *testing.T) {
	for _, tc := range []struct {
		rec  session.Record
		want []string
	}{
		{session.Record{Method: "password"}, []string{"pwd"}},
		{session.Record{Method: "password", MFA: true}, []string{"pwd", "mfa"}},
		{session.Record{Method: "email_code"}, []string{"otp"}},
		{session.Record{Method: "passkey"}, []string{"hwk"}},
		{session.Record{Method: "oidc:corp"}, []string{"fed"}},
		{session.Record{Method: "github", MFA: true}, []string{"fed", "mfa"}},
	} {
		if got := amrOf(tc.rec); !slices.Equal(got, tc.want) {
			t.Errorf("%+v: %v, want %v", tc.rec, got, tc.want)
		}
	}
}

func TestClientSecret(t *testing.T) {
	conf := newClient(config.OIDCClient{ClientID: "c", ClientSecret: config.NewSecret("0123456789abcdef")}, nil, 0)
	pub := newClient(config.OIDCClient{ClientID: "p", Public: true}, nil, 0)
	if !conf.secretMatches("0123456789abcdef") || conf.secretMatches("0123456789abcdeF") || conf.secretMatches("") {
		t.Error("confidential client secret check")
	}
	if pub.secretMatches("") || pub.secretMatches("anything") {
		t.Error("a public client has no secret to match")
	}
	if conf.AuthMethod() != oidc.AuthMethodBasic || pub.AuthMethod() != oidc.AuthMethodNone {
		t.Error("auth methods")
	}
}

// PKCE plain is refused, and a public client must use PKCE.
func TestCreateAuthRequestRefusals(t *testing.T) {
	s, _ := newService(t)
	st := storage{s}
	base := oidc.AuthRequest{ClientID: "web", RedirectURI: "https://app.example/cb", Scopes: []string{"openid"}, ResponseType: oidc.ResponseTypeCode}
	plain := base
	plain.CodeChallenge, plain.CodeChallengeMethod = "abc", oidc.CodeChallengeMethodPlain
	if _, err := st.CreateAuthRequest(t.Context(), &plain, ""); err == nil {
		t.Error("PKCE plain accepted")
	}
	noOpenID := base
	noOpenID.Scopes = []string{"email"}
	if _, err := st.CreateAuthRequest(t.Context(), &noOpenID, ""); err == nil {
		t.Error("a request without openid accepted")
	}
	s.clients["web"].c.Public = true
	if _, err := st.CreateAuthRequest(t.Context(), &base, ""); err == nil {
		t.Error("a public client without PKCE accepted")
	}
}

// redirect_uri is matched exactly; only a public client's loopback URI
// may differ in its port.
func TestRedirectAllowed(t *testing.T) {
	pub := newClient(config.OIDCClient{ClientID: "cli", Public: true, RedirectURIs: []string{"http://127.0.0.1/cb", "https://app.example/cb"}}, nil, 0)
	conf := newClient(config.OIDCClient{ClientID: "web", RedirectURIs: []string{"http://127.0.0.1:9/cb"}}, nil, 0)
	for _, tc := range []struct {
		cl   *client
		uri  string
		want bool
	}{
		{pub, "http://127.0.0.1/cb", true},
		{pub, "http://127.0.0.1:53123/cb", true},
		{pub, "http://localhost:53123/cb", false},
		{pub, "http://127.0.0.1:53123/cb/more", false},
		{pub, "http://127.0.0.1:53123/cb?x=1", false},
		{pub, "https://app.example/cb", true},
		{pub, "https://app.example:8443/cb", false},
		{pub, "https://app.example/cb/", false},
		{conf, "http://127.0.0.1:9/cb", true},
		{conf, "http://127.0.0.1:10/cb", false},
	} {
		if got := tc.cl.redirectAllowed(tc.uri); got != tc.want {
			t.Errorf("%s %s: %v, want %v", tc.cl.c.ClientID, tc.uri, got, tc.want)
		}
	}
}

// Purge deletes grants a day past their expiry or revocation, with their
// refresh tokens, and keeps the others.
func TestPurge(t *testing.T) {
	s, env := newService(t)
	u := newUser(t, env, "purge@example.com", "user")
	now := time.Now().UTC()
	old, recent := now.Add(-48*time.Hour), now.Add(-time.Hour)
	grants := map[string]*db.OIDCGrant{
		"expired-long-ago": {ExpiresAt: old},
		"revoked-long-ago": {ExpiresAt: now.Add(time.Hour), RevokedAt: &old},
		"revoked-just-now": {ExpiresAt: now.Add(time.Hour), RevokedAt: &recent},
		"expired-just-now": {ExpiresAt: recent},
		"live":             {ExpiresAt: now.Add(time.Hour)},
	}
	for id, g := range grants {
		g.ID, g.UserID, g.ClientID, g.CreatedAt = id, &u.ID, "web", old
		if err := env.DB.Create(g).Error; err != nil {
			t.Fatal(err)
		}
		if err := env.DB.Create(&db.OIDCRefreshToken{GrantID: id, TokenHash: "h-" + id}).Error; err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.Purge(t.Context())
	if err != nil || n != 2 {
		t.Fatalf("Purge = %d, %v; want 2", n, err)
	}
	var left []string
	env.DB.Model(&db.OIDCGrant{}).Order("id").Pluck("id", &left)
	if !slices.Equal(left, []string{"expired-just-now", "live", "revoked-just-now"}) {
		t.Errorf("grants left: %v", left)
	}
	var tokens int64
	env.DB.Model(&db.OIDCRefreshToken{}).Count(&tokens)
	if tokens != 3 {
		t.Errorf("%d refresh tokens left, want 3", tokens)
	}
}

// ConnectedApps lists each client once, with the scopes of its consent
// and of its live grants together, whatever order the rows come in.
func TestConnectedApps(t *testing.T) {
	s, env := newService(t)
	s.clients["wiki"] = newClient(config.OIDCClient{ClientID: "wiki", Name: "Wiki"}, s.continueURL, time.Minute)
	s.clients["ops"] = newClient(config.OIDCClient{ClientID: "ops", Name: "Ops"}, s.continueURL, time.Minute)
	u := newUser(t, env, "apps@example.com", "user")
	now := time.Now().UTC().Truncate(time.Microsecond) // what the database keeps
	for _, c := range []db.OIDCConsent{
		{UserID: u.ID, ClientID: "web", Scopes: "openid", CreatedAt: now.Add(-3 * time.Hour)},
		{UserID: u.ID, ClientID: "wiki", Scopes: "openid email", CreatedAt: now.Add(-2 * time.Hour)},
		{UserID: u.ID, ClientID: "ops", Scopes: "openid", CreatedAt: now.Add(-time.Hour)},
	} {
		if err := env.DB.Create(&c).Error; err != nil {
			t.Fatal(err)
		}
	}
	for i, g := range []db.OIDCGrant{
		{ClientID: "web", Scopes: "openid profile offline_access"},
		{ClientID: "wiki", Scopes: "openid roles"},
		{ClientID: "gone", Scopes: "openid"}, // a client no longer configured
	} {
		g.ID, g.UserID, g.CreatedAt, g.ExpiresAt = fmt.Sprint("g", i), &u.ID, now, now.Add(time.Hour)
		if err := env.DB.Create(&g).Error; err != nil {
			t.Fatal(err)
		}
	}
	apps, err := s.ConnectedApps(t.Context(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := []ConnectedApp{
		{ClientID: "ops", Name: "Ops", Scopes: []string{"openid"}, Since: now.Add(-time.Hour)},
		{ClientID: "wiki", Name: "Wiki", Scopes: []string{"openid", "email", "roles"}, Since: now.Add(-2 * time.Hour)},
		{ClientID: "web", Name: "Web", Scopes: []string{"openid", "profile", "offline_access"}, Since: now.Add(-3 * time.Hour)},
	}
	if len(apps) != len(want) {
		t.Fatalf("apps %+v", apps)
	}
	for i := range want {
		g, w := apps[i], want[i]
		if g.ClientID != w.ClientID || g.Name != w.Name || !slices.Equal(g.Scopes, w.Scopes) || !g.Since.Equal(w.Since) {
			t.Errorf("app %d = %+v, want %+v", i, g, w)
		}
	}
}
