package app_test

import (
	"net/url"
	"strings"
	"testing"

	"gatehouse/gateway/lang"
)

// The hosted pages' forms, as a browser without JavaScript posts them:
// sign-up lands on the verification page (not forward-auth's /verify),
// whose code lands on rd; sign-out is a page with two POST buttons that
// answer 303.
func TestPagesSignUpVerifySignOut(t *testing.T) {
	s := newStack(t, "embedded", nil)
	b := s.client()
	email := uniqueEmail("pages")
	rd := s.Base + "/app/after?q=a&page=2"
	r := b.post("/auth/register", url.Values{"email": {email}, "password": {pw}, "username": {"bad name!"}, "rd": {rd}})
	if r.Status != 400 || !containsAll(string(r.Body), `value="bad name!"`, `aria-describedby="username-error"`, `value="`+email+`"`) {
		t.Fatalf("sign-up with a bad username: %d %s", r.Status, r.Body)
	}
	if strings.Contains(string(r.Body), pw) {
		t.Fatal("the sign-up page shows the password again")
	}
	r = b.post("/auth/register", url.Values{"email": {email}, "password": {pw}, "rd": {rd}})
	want := s.Base + "/auth/verify-email?" + url.Values{"email": {email}, "rd": {rd}}.Encode()
	if r.Status != 303 || r.Header.Get("Location") != want {
		t.Fatalf("sign-up: %d %q, want %q", r.Status, r.Header.Get("Location"), want)
	}
	r = b.get(strings.TrimPrefix(want, s.Base), "Accept", "text/html")
	if r.Status != 200 || !containsAll(string(r.Body), `action="/auth/verify-email"`, email, `name="code"`) {
		t.Fatalf("verification page: %d %s", r.Status, r.Body)
	}
	r = b.post("/auth/verify-email", url.Values{"email": {email}, "code": {"000000"}, "rd": {rd}})
	if r.Status != 400 || !strings.Contains(string(r.Body), "That code is not right.") {
		t.Fatalf("wrong code: %d %s", r.Status, r.Body)
	}
	r = b.post("/auth/verify-email", url.Values{"email": {email}, "code": {s.nextCode(email)}, "rd": {rd}})
	if r.Status != 303 || r.Header.Get("Location") != rd {
		t.Fatalf("verify: %d %q", r.Status, r.Header.Get("Location"))
	}
	r = b.get("/auth/sign-out", "Accept", "text/html")
	if r.Status != 200 || !containsAll(string(r.Body), email, `action="/auth/logout"`, `action="/auth/logout/all"`, "Sign out everywhere") {
		t.Fatalf("sign-out page: %d %s", r.Status, r.Body)
	}
	r = b.post("/auth/logout", url.Values{"rd": {""}})
	if r.Status != 303 || r.Header.Get("Location") != s.Base+"/auth/sign-in?notice=signed_out" {
		t.Fatalf("sign-out form: %d %q", r.Status, r.Header.Get("Location"))
	}
	b.signedOut()
	// Sign out everywhere, back to a (safe) rd; an unsafe one is refused.
	other := s.client()
	expect(t, other.post("/auth/login", map[string]any{"email": email, "password": pw}), 200, "")
	expect(t, b.post("/auth/login", map[string]any{"email": email, "password": pw}), 200, "")
	r = b.post("/auth/logout/all", url.Values{"rd": {"https://evil.example/"}})
	if r.Status != 303 || r.Header.Get("Location") != "/" {
		t.Fatalf("sign-out everywhere: %d %q", r.Status, r.Header.Get("Location"))
	}
	b.signedOut()
	other.signedOut()
}

// An invite link: a new person signs up into the workspace; a signed-in
// one gets an Accept button.
func TestPagesInviteLink(t *testing.T) {
	s, owner, wid := wsStack(t, "embedded")
	r := owner.post("/auth/workspaces/"+wid+"/invites", map[string]any{"role": "member"})
	expect(t, r, 201, "")
	code, link := r.str("code"), r.str("url")
	if link != s.Base+"/auth/sign-up?invite="+code {
		t.Fatalf("invite url %q", link)
	}
	anon := s.client()
	r = anon.get("/auth/sign-up?invite="+code, "Accept", "text/html")
	if r.Status != 200 || !containsAll(string(r.Body), "Acme Corp", `action="/auth/register/invite/`+code+`"`) {
		t.Fatalf("invite page: %d %s", r.Status, r.Body)
	}
	email := uniqueEmail("invited")
	// An error renders the invite's sign-up page again, workspace named.
	r = anon.post("/auth/register/invite/"+code, url.Values{"email": {email}, "password": {"short"}})
	if r.Status != 400 || !containsAll(string(r.Body), "Acme Corp", `action="/auth/register/invite/`+code+`"`, `aria-describedby="password-error"`) {
		t.Fatalf("invite sign-up with a short password: %d %s", r.Status, r.Body)
	}
	r = anon.post("/auth/register/invite/"+code, url.Values{"email": {email}, "password": {pw}, "rd": {"/app/x"}})
	if r.Status != 303 || !strings.HasPrefix(r.Header.Get("Location"), s.Base+"/auth/verify-email?") {
		t.Fatalf("invite sign-up: %d %q %s", r.Status, r.Header.Get("Location"), r.Body)
	}
	// A signed-in visitor accepts.
	r = owner.post("/auth/workspaces/"+wid+"/invites", map[string]any{"role": "member"})
	code = r.str("code")
	member := s.client()
	s.signUp(member, uniqueEmail("signedin"))
	r = member.get("/auth/sign-up?invite="+code, "Accept", "text/html")
	if r.Status != 200 || !containsAll(string(r.Body), `action="/auth/invites/`+code+`/accept"`, "Accept the invitation") {
		t.Fatalf("invite page when signed in: %d %s", r.Status, r.Body)
	}
	r = member.post("/auth/invites/"+code+"/accept", url.Values{})
	if r.Status != 303 || r.Header.Get("Location") != s.Base+"/auth/workspaces" {
		t.Fatalf("accept form: %d %q %s", r.Status, r.Header.Get("Location"), r.Body)
	}
	r = member.get("/auth/workspaces", "Accept", "text/html")
	if !strings.Contains(string(r.Body), "Acme Corp") {
		t.Fatalf("workspaces after accepting: %s", r.Body)
	}
}

// Emails are written in the language the person last used on the pages:
// the sign-up's language first, then the one of their latest sign-in.
func TestEmailsInTheUsersLanguage(t *testing.T) {
	s := newStack(t, "embedded", nil)
	cat, err := lang.New(lang.Builtin, "en")
	if err != nil {
		t.Fatal(err)
	}
	subject := func(l, id string) string { return cat.In(l).T(id, "Product", "Gatehouse") }
	b := s.client()
	email := uniqueEmail("sprache")
	if r := b.post("/auth/register?lang=de", url.Values{"email": {email}, "password": {pw}}); r.Status != 303 {
		t.Fatalf("sign-up: %d %s", r.Status, r.Body)
	}
	m := s.nextMail(email)
	if want := subject("de", "mail.verify_email.subject"); m.Subject != want || want == subject("en", "mail.verify_email.subject") {
		t.Fatalf("verification mail %q, want the German %q", m.Subject, want)
	}
	if r := b.post("/auth/verify-email", url.Values{"email": {email}, "code": {m.Code()}}); r.Status != 303 {
		t.Fatalf("verify: %d %s", r.Status, r.Body)
	}
	// A sign-in from a French browser: the next mails are French.
	fr := s.client()
	if r := fr.post("/auth/login", url.Values{"email": {email}, "password": {pw}}, "Accept-Language", "fr-FR,fr;q=0.9"); r.Status != 303 {
		t.Fatalf("sign-in: %d %s", r.Status, r.Body)
	}
	expect(t, s.client().post("/auth/password/forgot", map[string]any{"email": email}), 202, "")
	want := subject("fr", "mail.reset_password.subject")
	for {
		m = s.nextMail(email)
		if m.Subject == want {
			break
		}
		if m.Subject != subject("fr", "mail.new_sign_in.subject") {
			t.Fatalf("mail %q, want the French %q", m.Subject, want)
		}
	}
}
