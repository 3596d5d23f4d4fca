package app_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gatehouse/config"
	"gatehouse/gateway/db"
	"gatehouse/providers/github"
	"gatehouse/providers/google"
	"gatehouse/providers/oauthtest"
	"gatehouse/providers/oidc"
)

// End-to-end sign-in through Google, GitHub and OIDC (SPEC §4): a real
// listener, the oauthtest mock providers, and a browser-like client that
// follows every redirect by hand.

// oauthMethods are the configured redirect providers, by X-Auth-Method.
var oauthMethods = []string{"google", "github", "oidc:acme"}

// oauthStack is a stack with the three providers on, each pointing at its
// own mock, which accepts only Gatehouse's callback URL.
type oauthStack struct {
	*stack
	mocks map[string]*oauthtest.Server // by method
}

func newOAuthStack(t *testing.T, backend string, mutate func(*config.Config)) *oauthStack {
	t.Helper()
	o := &oauthStack{mocks: map[string]*oauthtest.Server{
		"google":    oauthtest.New(t, oauthtest.KindGoogle),
		"github":    oauthtest.New(t, oauthtest.KindGitHub),
		"oidc:acme": oauthtest.New(t, oauthtest.KindOIDC),
	}}
	reg := testRegistry(t, nil, google.Info(), github.Info(), oidc.Info())
	o.stack = newStack(t, backend, func(cfg *config.Config) {
		cfg.Providers = config.Providers{
			"google": optionsNode(t, o.mocks["google"].Options()),
			"github": optionsNode(t, o.mocks["github"].Options()),
			"oidc":   optionsNode(t, "["+o.mocks["oidc:acme"].OIDCOptions("acme")+"]"),
		}
		base := strings.TrimSuffix(cfg.Server.PublicURL.String(), "/") + cfg.Server.AuthPrefix
		for m, srv := range o.mocks {
			srv.AllowRedirectURI(base + "/oauth/" + m + "/callback")
		}
		if mutate != nil {
			mutate(cfg)
		}
	}, withRegistry(reg))
	return o
}

// mock is the mock provider of a method.
func (o *oauthStack) mock(method string) *oauthtest.Server {
	o.t.Helper()
	m, ok := o.mocks[method]
	if !ok {
		o.t.Fatalf("no mock for %q", method)
	}
	return m
}

var oauthSubjects atomic.Int64

// oauthUser is a fresh provider user with a unique (numeric, for GitHub)
// subject and a unique verified email.
func oauthUser(prefix string) oauthtest.User {
	n := oauthSubjects.Add(1)
	return oauthtest.User{
		Subject:       fmt.Sprint(time.Now().UnixNano()%1e12*1000 + n%1000),
		Email:         uniqueEmail(prefix),
		EmailVerified: true,
		Name:          "Ada Lovelace",
		Login:         fmt.Sprintf("ada%d", n),
	}
}

// browser is a client for t (cookie jar, no redirects followed) whose
// every answer, from Gatehouse or from a mock provider, must not be a 5xx.
func (o *oauthStack) browser(t *testing.T) *client {
	c := o.client()
	c.t = t
	c.http.Transport = no5xx{t: t, next: http.DefaultTransport}
	return c
}

type no5xx struct {
	t    *testing.T
	next http.RoundTripper
}

func (g no5xx) RoundTrip(r *http.Request) (*http.Response, error) {
	res, err := g.next.RoundTrip(r)
	if err == nil && res.StatusCode >= 500 {
		g.t.Errorf("%s %s: status %d: no 5xx allowed", r.Method, r.URL.Redacted(), res.StatusCode)
	}
	return res, err
}

// Headers a browser sends on the top-level navigation back from the
// provider, and those of an API client.
var (
	htmlNav = []string{"Accept", "text/html,application/xhtml+xml,*/*;q=0.8", "Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "navigate"}
	apiCall = []string{"Accept", "application/json"}
)

// oauthStart GETs {auth_prefix}/oauth/{method}?q and returns the
// provider's authorization URL it redirects to.
func (c *client) oauthStart(method string, q url.Values) string {
	c.t.Helper()
	path := "/auth/oauth/" + method
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	r := c.get(path, "Accept", "text/html", "Sec-Fetch-Site", "same-origin")
	if r.Status != http.StatusFound {
		c.t.Fatalf("GET %s: %d %s, want 302 to the provider", path, r.Status, r.Body)
	}
	loc := r.Header.Get("Location")
	if loc == "" || strings.HasPrefix(loc, c.s.Base) {
		c.t.Fatalf("GET %s: Location %q is not the provider", path, loc)
	}
	return loc
}

// oauthAuthorize plays the person at the provider: GET the authorization
// URL, which redirects at once to Gatehouse's callback. It returns the
// callback's path and query.
func (c *client) oauthAuthorize(authURL string) string {
	c.t.Helper()
	res, err := c.http.Get(authURL)
	if err != nil {
		c.t.Fatal(err)
	}
	res.Body.Close()
	loc := res.Header.Get("Location")
	if res.StatusCode != http.StatusFound || !strings.HasPrefix(loc, c.s.Base+"/auth/oauth/") {
		c.t.Fatalf("provider authorize: %d Location %q, want 302 to the callback on %s", res.StatusCode, loc, c.s.Base)
	}
	return strings.TrimPrefix(loc, c.s.Base)
}

// oauthCallback reaches the callback like a browser (or with hdr).
func (c *client) oauthCallback(path string, hdr ...string) *resp {
	c.t.Helper()
	if len(hdr) == 0 {
		hdr = htmlNav
	}
	return c.get(path, hdr...)
}

// oauthFlow runs a whole flow and returns the callback's answer.
func (c *client) oauthFlow(method string, q url.Values, hdr ...string) *resp {
	c.t.Helper()
	return c.oauthCallback(c.oauthAuthorize(c.oauthStart(method, q)), hdr...)
}

// oauthSignIn signs in with method, landing on rd, and returns the user id.
func (c *client) oauthSignIn(method, rd string) string {
	c.t.Helper()
	r := c.oauthFlow(method, url.Values{"rd": {rd}})
	if r.Status != http.StatusFound || r.Header.Get("Location") != rd {
		c.t.Fatalf("%s callback: %d Location %q %s, want 302 to %s", method, r.Status, r.Header.Get("Location"), r.Body, rd)
	}
	if !setsCookie(r, "gatehouse_session") {
		c.t.Fatalf("%s callback set no session cookie", method)
	}
	s := c.get("/auth/session")
	if s.str("authenticated") != "true" || s.str("method") != method {
		c.t.Fatalf("/auth/session after %s: %s", method, s.Body)
	}
	return s.str("user.id")
}

// refusedTo checks a browser callback answer: 302 back to the sign-in page
// with the error code, and no session started.
func refusedTo(t *testing.T, r *resp, code string) {
	t.Helper()
	loc, err := url.Parse(r.Header.Get("Location"))
	if r.Status != http.StatusFound || err != nil || loc.Path != "/auth/sign-in" || loc.Query().Get("error") != code {
		t.Fatalf("got %d Location %q %s, want 302 to /auth/sign-in?error=%s", r.Status, r.Header.Get("Location"), r.Body, code)
	}
	if setsCookie(r, "gatehouse_session") {
		t.Fatalf("a refused callback set the session cookie")
	}
}

func setsCookie(r *resp, name string) bool {
	for _, h := range r.Header.Values("Set-Cookie") {
		if strings.HasPrefix(h, name+"=") && !strings.HasPrefix(h, name+"=;") {
			return true
		}
	}
	return false
}

// signedOut checks that c has no session: /session says so and the
// protected route refuses an API call.
func (c *client) signedOut() {
	c.t.Helper()
	if r := c.get("/auth/session"); r.Status != http.StatusOK || r.str("authenticated") != "false" {
		c.t.Fatalf("/auth/session: %d %s, want authenticated false", r.Status, r.Body)
	}
	if r := c.get("/app/x"); r.Status != http.StatusUnauthorized {
		c.t.Fatalf("/app/x without a session: %d, want 401", r.Status)
	}
}

// upstreamIdentity GETs the protected route and returns the identity
// headers the upstream saw.
func (c *client) upstreamIdentity() http.Header {
	c.t.Helper()
	st, e := c.echo("/app/x")
	if st != http.StatusOK {
		c.t.Fatalf("/app/x: %d, want 200", st)
	}
	return e.Header
}

type identityJSON struct {
	Provider string `json:"provider"`
	Subject  string `json:"subject"`
	Email    string `json:"email"`
}

// identities is GET /auth/me/identities, without created_at.
func (c *client) identities() []identityJSON {
	c.t.Helper()
	r := c.get("/auth/me/identities")
	if r.Status != http.StatusOK {
		c.t.Fatalf("GET /auth/me/identities: %d %s", r.Status, r.Body)
	}
	var out []identityJSON
	if err := json.Unmarshal(r.Body, &out); err != nil {
		c.t.Fatalf("GET /auth/me/identities: %v: %s", err, r.Body)
	}
	return out
}

// identityCount counts the stored identities of a provider subject.
func (o *oauthStack) identityCount(t *testing.T, method, subject string) int64 {
	t.Helper()
	var n int64
	if err := o.App.DB.Model(&db.Identity{}).Where("provider = ? AND subject = ?", method, subject).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// userCount counts the users with an email.
func (o *oauthStack) userCount(t *testing.T, email string) int64 {
	t.Helper()
	var n int64
	if err := o.App.DB.Model(&db.User{}).Where("email = ?", email).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// passwordAccount registers and verifies email with a password in c (which
// ends signed in) and returns the user id.
func (o *oauthStack) passwordAccount(t *testing.T, c *client, email string) string {
	t.Helper()
	expect(t, c.post("/auth/register", map[string]any{"email": email, "password": pw}), 201, "")
	r := c.post("/auth/verify-email", map[string]any{"email": email, "code": o.nextCode(email)})
	expect(t, r, 200, "")
	return r.str("user.id")
}

func TestOAuthSignIn(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		for _, m := range oauthMethods {
			t.Run(m+"/new user", func(t *testing.T) {
				o := newOAuthStack(t, backend, nil)
				u := oauthUser("new")
				u.Email = strings.ToUpper(u.Email[:1]) + u.Email[1:] // the provider's case is not kept
				o.mock(m).SetUser(u)
				c := o.browser(t)
				rd := o.Base + "/app/x?q=1"
				id := c.oauthSignIn(m, rd)
				if id == "" {
					t.Fatal("no user id")
				}
				// The flow cookie is gone once the callback ran.
				jarURL, _ := url.Parse(o.Base + "/auth/oauth/" + m + "/callback")
				for _, ck := range c.http.Jar.Cookies(jarURL) {
					if ck.Name == "gatehouse_oauth" {
						t.Errorf("the gatehouse_oauth cookie outlived the callback")
					}
				}
				h := c.upstreamIdentity()
				got := map[string]string{
					"X-Auth-User-Id":        h.Get("X-Auth-User-Id"),
					"X-Auth-User-Email":     h.Get("X-Auth-User-Email"),
					"X-Auth-Email-Verified": h.Get("X-Auth-Email-Verified"),
					"X-Auth-Method":         h.Get("X-Auth-Method"),
				}
				want := map[string]string{
					"X-Auth-User-Id":        id,
					"X-Auth-User-Email":     strings.ToLower(u.Email),
					"X-Auth-Email-Verified": "true",
					"X-Auth-Method":         m,
				}
				if d := cmp.Diff(want, got); d != "" {
					t.Errorf("identity headers (-want +got):\n%s", d)
				}
				wantIDs := []identityJSON{{Provider: m, Subject: u.Subject, Email: strings.ToLower(u.Email)}}
				if d := cmp.Diff(wantIDs, c.identities()); d != "" {
					t.Errorf("identities (-want +got):\n%s", d)
				}
				me := c.get("/auth/me")
				if me.str("name") != u.Name || me.str("email_verified") != "true" {
					t.Errorf("/auth/me: %s", me.Body)
				}
				// The profile is filled from the provider: picture, and
				// preferred_username / the GitHub login (Google has none).
				wantUsername := u.Login
				if m == "google" {
					wantUsername = ""
				}
				if me.str("username") != wantUsername || me.str("avatar_url") != u.AvatarURL {
					t.Errorf("/auth/me username %q avatar %q, want %q %q", me.str("username"), me.str("avatar_url"), wantUsername, u.AvatarURL)
				}
			})
			t.Run(m+"/returning user", func(t *testing.T) {
				o := newOAuthStack(t, backend, nil)
				u := oauthUser("back")
				o.mock(m).SetUser(u)
				first := o.browser(t).oauthSignIn(m, "/app/x")
				// Another browser, another day: the same person.
				c := o.browser(t)
				if again := c.oauthSignIn(m, "/app/y"); again != first {
					t.Fatalf("returning user: id %s, want %s", again, first)
				}
				if h := c.upstreamIdentity(); h.Get("X-Auth-User-Id") != first || h.Get("X-Auth-Method") != m {
					t.Fatalf("upstream saw %v", h)
				}
				if n := o.identityCount(t, m, u.Subject); n != 1 {
					t.Fatalf("%d identities for %s %s, want 1", n, m, u.Subject)
				}
				if n := o.userCount(t, u.Email); n != 1 {
					t.Fatalf("%d users with %s, want 1", n, u.Email)
				}
			})
		}
	})
}

func TestOAuthLinking(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		t.Run("verified email links to a password account", func(t *testing.T) {
			o := newOAuthStack(t, backend, nil)
			for _, m := range oauthMethods {
				t.Run(m, func(t *testing.T) {
					email := uniqueEmail("pw")
					owner := o.browser(t)
					id := o.passwordAccount(t, owner, email)
					u := oauthUser("x")
					u.Email = email
					o.mock(m).SetUser(u)
					c := o.browser(t)
					if got := c.oauthSignIn(m, "/app/x"); got != id {
						t.Fatalf("signed in as %s, want the password account %s", got, id)
					}
					if h := c.upstreamIdentity(); h.Get("X-Auth-User-Id") != id || h.Get("X-Auth-Method") != m {
						t.Fatalf("upstream saw %v", h)
					}
					want := []identityJSON{{Provider: m, Subject: u.Subject, Email: email}}
					if d := cmp.Diff(want, owner.identities()); d != "" {
						t.Errorf("identities (-want +got):\n%s", d)
					}
					// The password is still a way in: unlinking is allowed.
					if r := c.do("DELETE", "/auth/me/identities/"+m, nil); r.Status != http.StatusNoContent {
						t.Fatalf("DELETE identity of a password account: %d %s", r.Status, r.Body)
					}
					expect(t, o.browser(t).post("/auth/login", map[string]any{"email": email, "password": pw}), 200, "")
				})
			}
		})
		t.Run("unverified email is refused", func(t *testing.T) {
			o := newOAuthStack(t, backend, nil)
			for _, m := range oauthMethods {
				for _, api := range []bool{false, true} {
					name := m + "/html"
					if api {
						name = m + "/json"
					}
					t.Run(name, func(t *testing.T) {
						email := uniqueEmail("victim")
						owner := o.browser(t)
						o.passwordAccount(t, owner, email)
						u := oauthUser("x")
						u.Email, u.EmailVerified = email, false
						o.mock(m).SetUser(u)
						c := o.browser(t)
						if api {
							expect(t, c.oauthFlow(m, url.Values{"rd": {"/app/x"}}, apiCall...), 409, "account_exists")
						} else {
							refusedTo(t, c.oauthFlow(m, url.Values{"rd": {"/app/x"}}), "account_exists")
						}
						c.signedOut()
						if got := owner.identities(); len(got) != 0 {
							t.Fatalf("an identity was linked: %v", got)
						}
						if n := o.identityCount(t, m, u.Subject); n != 0 {
							t.Fatalf("%d identities stored", n)
						}
					})
				}
			}
		})
		t.Run("link while signed in", func(t *testing.T) {
			o := newOAuthStack(t, backend, nil)
			for _, m := range oauthMethods {
				t.Run(m, func(t *testing.T) {
					email := uniqueEmail("linker")
					c := o.browser(t)
					id := o.passwordAccount(t, c, email)
					u := oauthUser("elsewhere") // another address than the account's
					o.mock(m).SetUser(u)
					r := c.oauthFlow(m, url.Values{"link": {"1"}, "rd": {"/auth/account"}})
					if r.Status != http.StatusFound || r.Header.Get("Location") != "/auth/account" {
						t.Fatalf("link callback: %d Location %q %s", r.Status, r.Header.Get("Location"), r.Body)
					}
					want := []identityJSON{{Provider: m, Subject: u.Subject, Email: u.Email}}
					if d := cmp.Diff(want, c.identities()); d != "" {
						t.Errorf("identities (-want +got):\n%s", d)
					}
					// The linking browser is still the same account.
					if h := c.upstreamIdentity(); h.Get("X-Auth-User-Id") != id || h.Get("X-Auth-Method") != "email_code" {
						t.Fatalf("after linking the upstream saw %v", h)
					}
					// Signing in with the provider lands on that account.
					other := o.browser(t)
					if got := other.oauthSignIn(m, "/app/x"); got != id {
						t.Fatalf("provider sign-in after linking: %s, want %s", got, id)
					}
					h := other.upstreamIdentity()
					if h.Get("X-Auth-User-Email") != email || h.Get("X-Auth-Method") != m {
						t.Fatalf("upstream saw %v", h)
					}
					if n := o.userCount(t, u.Email); n != 0 {
						t.Fatalf("an account was created for the provider's address")
					}
				})
			}
		})
		t.Run("link needs a session", func(t *testing.T) {
			o := newOAuthStack(t, backend, nil)
			r := o.browser(t).get("/auth/oauth/github?link=1", "Accept", "application/json")
			expect(t, r, http.StatusUnauthorized, "unauthenticated")
		})
		t.Run("link an identity of another user is refused", func(t *testing.T) {
			o := newOAuthStack(t, backend, nil)
			u := oauthUser("taken")
			o.mock("github").SetUser(u)
			first := o.browser(t).oauthSignIn("github", "/app/x")
			c := o.browser(t)
			id := o.passwordAccount(t, c, uniqueEmail("second"))
			expect(t, c.oauthFlow("github", url.Values{"link": {"1"}}, apiCall...), 409, "identity_in_use")
			refusedTo(t, c.oauthFlow("github", url.Values{"link": {"1"}}), "provider_error")
			if got := c.identities(); len(got) != 0 {
				t.Fatalf("linked to %s too: %v", id, got)
			}
			var idn db.Identity
			if err := o.App.DB.Where("provider = ? AND subject = ?", "github", u.Subject).Take(&idn).Error; err != nil || idn.UserID != first {
				t.Fatalf("the identity moved: %+v %v", idn, err)
			}
		})
	})
}

func TestOAuthEmails(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		t.Run("no email is email_required", func(t *testing.T) {
			o := newOAuthStack(t, backend, nil)
			for _, m := range oauthMethods {
				t.Run(m, func(t *testing.T) {
					u := oauthUser("none")
					u.Email, u.NoEmail = "", true
					if m == "github" {
						u.Emails = []oauthtest.GitHubEmail{}
					}
					o.mock(m).SetUser(u)
					c := o.browser(t)
					refusedTo(t, c.oauthFlow(m, url.Values{"rd": {"/app/x"}}), "email_required")
					expect(t, c.oauthFlow(m, nil, apiCall...), 400, "email_required")
					c.signedOut()
					if n := o.identityCount(t, m, u.Subject); n != 0 {
						t.Fatalf("%d identities stored", n)
					}
				})
			}
		})
		t.Run("github primary verified email", func(t *testing.T) {
			o := newOAuthStack(t, backend, nil)
			tests := []struct {
				name   string
				emails func(primary, other, public string) []oauthtest.GitHubEmail
			}{
				{name: "among several", emails: func(primary, other, public string) []oauthtest.GitHubEmail {
					return []oauthtest.GitHubEmail{
						{Email: other, Verified: true},
						{Email: public, Verified: false},
						{Email: strings.ToUpper(primary), Primary: true, Verified: true},
					}
				}},
				{name: "unverified primary skipped", emails: func(primary, other, public string) []oauthtest.GitHubEmail {
					return []oauthtest.GitHubEmail{
						{Email: other, Primary: true, Verified: false},
						{Email: primary, Verified: true},
					}
				}},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					u := oauthUser("gh")
					primary, other := uniqueEmail("primary"), uniqueEmail("other")
					u.Emails = tc.emails(primary, other, u.Email)
					o.mock("github").SetUser(u)
					c := o.browser(t)
					c.oauthSignIn("github", "/app/x")
					h := c.upstreamIdentity()
					if h.Get("X-Auth-User-Email") != primary || h.Get("X-Auth-Email-Verified") != "true" {
						t.Fatalf("upstream saw email %q verified %q, want %q true",
							h.Get("X-Auth-User-Email"), h.Get("X-Auth-Email-Verified"), primary)
					}
				})
			}
		})
		t.Run("github primary verified email links", func(t *testing.T) {
			o := newOAuthStack(t, backend, nil)
			email := uniqueEmail("owner")
			id := o.passwordAccount(t, o.browser(t), email)
			u := oauthUser("gh") // public profile email: another address
			u.Emails = []oauthtest.GitHubEmail{{Email: u.Email, Verified: false}, {Email: email, Primary: true, Verified: true}}
			o.mock("github").SetUser(u)
			if got := o.browser(t).oauthSignIn("github", "/app/x"); got != id {
				t.Fatalf("signed in as %s, want %s", got, id)
			}
		})
	})
}

func TestOAuthState(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		t.Run("replay in the same browser", func(t *testing.T) {
			o := newOAuthStack(t, backend, nil)
			o.mock("google").SetUser(oauthUser("replay"))
			c := o.browser(t)
			cb := c.oauthAuthorize(c.oauthStart("google", url.Values{"rd": {"/app/x"}}))
			if r := c.oauthCallback(cb); r.Status != http.StatusFound || r.Header.Get("Location") != "/app/x" {
				t.Fatalf("first callback: %d %q", r.Status, r.Header.Get("Location"))
			}
			n := o.mock("google").TokenRequests()
			refusedTo(t, c.oauthCallback(cb), "provider_error")
			expect(t, c.oauthCallback(cb, apiCall...), 400, "provider_error")
			if got := o.mock("google").TokenRequests(); got != n {
				t.Fatalf("a replayed callback reached the token endpoint")
			}
		})
		t.Run("replay in another browser", func(t *testing.T) {
			o := newOAuthStack(t, backend, nil)
			o.mock("github").SetUser(oauthUser("replay"))
			c := o.browser(t)
			cb := c.oauthAuthorize(c.oauthStart("github", url.Values{"rd": {"/app/x"}}))
			if r := c.oauthCallback(cb); r.Status != http.StatusFound || r.Header.Get("Location") != "/app/x" {
				t.Fatalf("first callback: %d %q", r.Status, r.Header.Get("Location"))
			}
			other := o.browser(t)
			refusedTo(t, other.oauthCallback(cb), "provider_error")
			other.signedOut()
		})
		t.Run("wrong state", func(t *testing.T) {
			o := newOAuthStack(t, backend, nil)
			o.mock("oidc:acme").SetUser(oauthUser("state"))
			c := o.browser(t)
			cb := c.oauthAuthorize(c.oauthStart("oidc:acme", url.Values{"rd": {"/app/x"}}))
			u, _ := url.Parse(cb)
			q := u.Query()
			state := q.Get("state")
			for _, bad := range []string{state + "x", state[:len(state)-1], strings.ToUpper(state), "", "aW52ZW50ZWQ"} {
				q.Set("state", bad)
				if bad == "" {
					q.Del("state")
				}
				u.RawQuery = q.Encode()
				refusedTo(t, c.oauthCallback(u.RequestURI()), "provider_error")
			}
			c.signedOut()
			// Forged states burn nothing: the real callback still works.
			if r := c.oauthCallback(cb); r.Status != http.StatusFound || r.Header.Get("Location") != "/app/x" {
				t.Fatalf("real callback after forged ones: %d %q %s", r.Status, r.Header.Get("Location"), r.Body)
			}
		})
		t.Run("state of another provider", func(t *testing.T) {
			o := newOAuthStack(t, backend, nil)
			o.mock("google").SetUser(oauthUser("cross"))
			c := o.browser(t)
			cb := c.oauthAuthorize(c.oauthStart("google", nil))
			refusedTo(t, c.oauthCallback(strings.Replace(cb, "/oauth/google/", "/oauth/github/", 1)), "provider_error")
			c.signedOut()
		})
		t.Run("callback in another browser", func(t *testing.T) {
			o := newOAuthStack(t, backend, nil)
			for _, m := range oauthMethods {
				t.Run(m, func(t *testing.T) {
					o.mock(m).SetUser(oauthUser("csrf"))
					attacker := o.browser(t)
					cb := attacker.oauthAuthorize(attacker.oauthStart(m, url.Values{"rd": {"/app/x"}}))
					n := o.mock(m).TokenRequests()
					victim := o.browser(t)
					refusedTo(t, victim.oauthCallback(cb), "provider_error")
					victim.signedOut()
					if o.mock(m).TokenRequests() != n {
						t.Fatalf("an unbound callback reached the token endpoint")
					}
				})
			}
		})
		t.Run("provider error", func(t *testing.T) {
			o := newOAuthStack(t, backend, nil)
			for _, m := range oauthMethods {
				t.Run(m, func(t *testing.T) {
					o.mock(m).SetUser(oauthUser("denied"))
					n := o.mock(m).TokenRequests()
					c := o.browser(t)
					o.mock(m).FailNext("access_denied")
					r := c.oauthFlow(m, url.Values{"rd": {"/app/x"}})
					refusedTo(t, r, "provider_error")
					page := c.get(strings.TrimPrefix(r.Header.Get("Location"), o.Base), "Accept", "text/html")
					if page.Status != http.StatusOK || !strings.Contains(string(page.Body), "provider refused or failed") {
						t.Fatalf("sign-in page: %d %s", page.Status, page.Body)
					}
					o.mock(m).FailNext("access_denied")
					expect(t, c.oauthFlow(m, nil, apiCall...), 400, "provider_error")
					c.signedOut()
					if o.mock(m).TokenRequests() != n {
						t.Fatalf("a refused authorization reached the token endpoint")
					}
				})
			}
		})
	})
}

func TestOAuthOIDCIDToken(t *testing.T) {
	o := newOAuthStack(t, "embedded", nil)
	const m = "oidc:acme"
	tests := []struct {
		name   string
		tamper oauthtest.Tampering
	}{
		{name: "bad signature", tamper: oauthtest.Tampering{BadSignature: true}},
		{name: "wrong aud", tamper: oauthtest.Tampering{WrongAudience: true}},
		{name: "expired", tamper: oauthtest.Tampering{Expired: true}},
		{name: "wrong nonce", tamper: oauthtest.Tampering{WrongNonce: true}},
		{name: "wrong issuer", tamper: oauthtest.Tampering{WrongIssuer: true}},
		{name: "alg none", tamper: oauthtest.Tampering{AlgNone: true}},
		{name: "HMAC with the client secret", tamper: oauthtest.Tampering{HMAC: true}},
		{name: "unknown kid", tamper: oauthtest.Tampering{UnknownKid: true}},
		{name: "azp of another client", tamper: oauthtest.Tampering{ExtraAudience: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := oauthUser("idt")
			o.mock(m).SetUser(u)
			o.mock(m).Tamper(tc.tamper)
			n := o.mock(m).TokenExchanges()
			c := o.browser(t)
			refusedTo(t, c.oauthFlow(m, url.Values{"rd": {"/app/x"}}), "provider_error")
			if o.mock(m).TokenExchanges() != n+1 {
				t.Fatalf("the id_token was not even fetched: the refusal came from elsewhere")
			}
			c.signedOut()
			if o.identityCount(t, m, u.Subject) != 0 || o.userCount(t, u.Email) != 0 {
				t.Fatalf("a refused id_token created an account")
			}
		})
	}
	t.Run("untampered token still accepted", func(t *testing.T) {
		o.mock(m).SetUser(oauthUser("idt"))
		o.browser(t).oauthSignIn(m, "/app/x")
	})
}

func TestOAuthPKCE(t *testing.T) {
	o := newOAuthStack(t, "embedded", nil)
	for _, m := range oauthMethods {
		t.Run(m, func(t *testing.T) {
			mk := o.mock(m)
			mk.SetUser(oauthUser("pkce"))
			c := o.browser(t)
			authURL := c.oauthStart(m, nil)
			au, _ := url.Parse(authURL)
			q := au.Query()
			if q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43 {
				t.Errorf("authorization request: code_challenge %q method %q, want an S256 challenge", q.Get("code_challenge"), q.Get("code_challenge_method"))
			}
			if want := o.Base + "/auth/oauth/" + m + "/callback"; q.Get("redirect_uri") != want {
				t.Errorf("redirect_uri %q, want %q", q.Get("redirect_uri"), want)
			}
			if len(q.Get("state")) < 32 {
				t.Errorf("state %q is too short", q.Get("state"))
			}
			if m != "github" && len(q.Get("nonce")) < 32 {
				t.Errorf("nonce %q, want a random one", q.Get("nonce"))
			}
			if strings.Contains(authURL, mk.ClientSecret) {
				t.Errorf("the client secret is in the authorization URL")
			}
			cb := c.oauthAuthorize(authURL)
			if got := mk.LastChallengeMethod(); got != "S256" {
				t.Errorf("the provider saw code_challenge_method %q, want S256", got)
			}
			// The token endpoint checks the verifier: the flow succeeding proves it matched.
			if r := c.oauthCallback(cb); r.Status != http.StatusFound || r.Header.Get("Location") != "/" {
				t.Fatalf("callback: %d %q %s", r.Status, r.Header.Get("Location"), r.Body)
			}
			// Every flow has its own state, challenge and nonce.
			q2, _ := url.Parse(o.browser(t).oauthStart(m, nil))
			for _, k := range []string{"state", "code_challenge", "nonce"} {
				if v := q.Get(k); v != "" && q2.Query().Get(k) == v {
					t.Errorf("%s repeated across flows", k)
				}
			}
		})
	}
}

func TestOAuthRedirectTarget(t *testing.T) {
	o := newOAuthStack(t, "embedded", nil)
	o.mock("google").SetUser(oauthUser("rd"))
	tests := []struct {
		name string
		rd   string
		want string
	}{
		{name: "foreign host", rd: "https://evil.example/x", want: "/"},
		{name: "scheme-relative", rd: "//evil.example/x", want: "/"},
		{name: "backslash", rd: "/\\evil.example", want: "/"},
		{name: "javascript", rd: "javascript:alert(1)", want: "/"},
		{name: "userinfo trick", rd: o.Base + "@evil.example/", want: "/"},
		{name: "none", rd: "", want: "/"},
		{name: "path", rd: "/app/x?a=1", want: "/app/x?a=1"},
		{name: "public_url", rd: o.Base + "/app/y", want: o.Base + "/app/y"},
		{name: "trusted origin", rd: "https://trusted.example/p", want: "https://trusted.example/p"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := o.browser(t)
			r := c.oauthFlow("google", url.Values{"rd": {tc.rd}})
			if r.Status != http.StatusFound || r.Header.Get("Location") != tc.want {
				t.Fatalf("rd %q: %d Location %q, want 302 to %q", tc.rd, r.Status, r.Header.Get("Location"), tc.want)
			}
		})
	}
}

func TestOAuthUnlink(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		t.Run("only method is last_method", func(t *testing.T) {
			o := newOAuthStack(t, backend, nil)
			o.mock("google").SetUser(oauthUser("only"))
			c := o.browser(t)
			c.oauthSignIn("google", "/app/x")
			expect(t, c.do("DELETE", "/auth/me/identities/google", nil), 400, "last_method")
			if got := c.identities(); len(got) != 1 {
				t.Fatalf("identities after a refused unlink: %v", got)
			}
		})
		t.Run("second provider then 204", func(t *testing.T) {
			o := newOAuthStack(t, backend, nil)
			g, gh := oauthUser("two"), oauthUser("two")
			o.mock("google").SetUser(g)
			o.mock("github").SetUser(gh)
			c := o.browser(t)
			id := c.oauthSignIn("google", "/app/x")
			if r := c.oauthFlow("github", url.Values{"link": {"1"}}); r.Status != http.StatusFound || r.Header.Get("Location") != "/" {
				t.Fatalf("link github: %d %q %s", r.Status, r.Header.Get("Location"), r.Body)
			}
			if got := c.identities(); len(got) != 2 {
				t.Fatalf("identities: %v", got)
			}
			expect(t, c.do("DELETE", "/auth/me/identities/google", nil), 204, "")
			want := []identityJSON{{Provider: "github", Subject: gh.Subject, Email: gh.Email}}
			if d := cmp.Diff(want, c.identities()); d != "" {
				t.Errorf("identities (-want +got):\n%s", d)
			}
			expect(t, c.do("DELETE", "/auth/me/identities/google", nil), 404, "not_found")
			expect(t, c.do("DELETE", "/auth/me/identities/github", nil), 400, "last_method")
			// GitHub still signs in to the account.
			if got := o.browser(t).oauthSignIn("github", "/app/x"); got != id {
				t.Fatalf("github sign-in: %s, want %s", got, id)
			}
		})
		t.Run("oidc name with a colon", func(t *testing.T) {
			o := newOAuthStack(t, backend, nil)
			o.mock("oidc:acme").SetUser(oauthUser("colon"))
			o.mock("google").SetUser(oauthUser("colon"))
			c := o.browser(t)
			c.oauthSignIn("oidc:acme", "/app/x")
			if r := c.oauthFlow("google", url.Values{"link": {"1"}}); r.Status != http.StatusFound {
				t.Fatalf("link google: %d %s", r.Status, r.Body)
			}
			expect(t, c.do("DELETE", "/auth/me/identities/oidc%3Aacme", nil), 204, "")
			if got := c.identities(); len(got) != 1 || got[0].Provider != "google" {
				t.Fatalf("identities: %v", got)
			}
		})
		t.Run("needs a session", func(t *testing.T) {
			o := newOAuthStack(t, backend, nil)
			expect(t, o.browser(t).do("DELETE", "/auth/me/identities/google", nil), 401, "unauthenticated")
			expect(t, o.browser(t).get("/auth/me/identities"), 401, "unauthenticated")
		})
	})
}

func TestOAuthUnknownProvider(t *testing.T) {
	o := newOAuthStack(t, "embedded", nil)
	c := o.browser(t)
	for _, p := range []string{"facebook", "oidc:nope", "oidc", "password"} {
		expect(t, c.get("/auth/oauth/"+p, "Accept", "application/json"), 404, "not_found")
		expect(t, c.get("/auth/oauth/"+p+"/callback?state=x&code=y", "Accept", "application/json"), 404, "not_found")
	}
}

// Regression tests for two bugs found by these tests: an unverified
// pre-registration must not share the account with the provider's person,
// and a deployment with only OAuth providers must still create accounts.
func TestOAuthRegressions(t *testing.T) {
	t.Run("pre-registered unverified password account is not hijacked", func(t *testing.T) {
		o := newOAuthStack(t, "embedded", nil)
		victim := uniqueEmail("victim")
		// The attacker registers the victim's address and never verifies it.
		expect(t, o.browser(t).post("/auth/register", map[string]any{"email": victim, "password": pw}), 201, "")
		u := oauthUser("victim")
		u.Email = victim
		o.mock("google").SetUser(u)
		o.browser(t).oauthSignIn("google", "/app/x")
		if r := o.browser(t).post("/auth/login", map[string]any{"email": victim, "password": pw}); r.Status == http.StatusOK {
			t.Fatalf("the pre-registered password opens the account the victim signed in to with Google")
		}
	})
	t.Run("OAuth-only deployment creates accounts", func(t *testing.T) {
		o := newOAuthStack(t, "embedded", func(cfg *config.Config) {
			cfg.Providers["password"] = optionsNode(t, "enabled: false")
			cfg.Providers["email_code"] = optionsNode(t, "enabled: false")
		})
		o.mock("google").SetUser(oauthUser("only"))
		o.browser(t).oauthSignIn("google", "/app/x")
	})
}

// TestOAuthSecondFactor: a browser back from the provider for a user with
// 2FA on is sent to the hosted code form with its rd, and the code
// finishes the sign-in with the provider as the method.
func TestOAuthSecondFactor(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		o := newOAuthStack(t, backend, nil)
		u := oauthUser("twofa")
		o.mock("github").SetUser(u)
		first := o.browser(t)
		id := first.oauthSignIn("github", "/app/x")
		secret, _ := o.enableMFA(first, strings.ToLower(u.Email))

		c := o.browser(t)
		rd := o.Base + "/app/report?q=1"
		r := c.oauthFlow("github", url.Values{"rd": {rd}})
		loc, err := url.Parse(r.Header.Get("Location"))
		if r.Status != http.StatusFound || err != nil || loc.Path != "/auth/mfa" || loc.Query().Get("token") == "" {
			t.Fatalf("callback: %d Location %q, want 302 to /auth/mfa?token=...", r.Status, r.Header.Get("Location"))
		}
		if got := loc.Query().Get("rd"); got != rd {
			t.Errorf("the code form's rd is %q, want %q", got, rd)
		}
		if setsCookie(r, "gatehouse_session") {
			t.Fatal("a session before the second factor")
		}
		r = c.post("/auth/login/mfa", map[string]any{"mfa_token": loc.Query().Get("token"), "code": totpAt(t, secret, 30*time.Second)})
		expect(t, r, 200, "")
		if h := c.upstreamIdentity(); h.Get("X-Auth-User-Id") != id || h.Get("X-Auth-Method") != "github" {
			t.Errorf("identity after the second step: %v", h)
		}
	})
}
