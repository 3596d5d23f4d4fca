package app_test

import (
	"context"
	"net/url"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"gatehouse/gateway/browsertest"
)

// virtualAuthenticator gives the tab a platform authenticator that holds
// discoverable credentials, verifies the user and is always touched.
func virtualAuthenticator(tb *browsertest.Tab) {
	tb.Do("add a virtual authenticator", chromedp.Func(func(ctx context.Context, tt *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tt, webauthn.Enable, webauthn.EnableParams{}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, tt, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
			Options: &webauthn.VirtualAuthenticatorOptions{
				Protocol: webauthn.AuthenticatorProtocolCtap2, Transport: webauthn.AuthenticatorTransportInternal,
				HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
			}})
		return err
	}))
}

// TestBrowserPasskey: a person adds a passkey on the account page, signs
// out, signs in with the passkey button (the upstream sees X-Auth-Method
// passkey), then signs in with the password and confirms with the passkey
// on the second-step page; after removing the passkey, it no longer signs
// in. The pages run on localhost: WebAuthn wants a domain, not an IP.
func TestBrowserPasskey(t *testing.T) {
	t.Parallel()
	browsertest.Shared(t)
	s, origin := passkeyStack(t, "embedded")
	email := s.account(uniqueEmail("browser-passkey"))
	tb := tab(t)
	virtualAuthenticator(tb)

	signInPage := func(rd string) {
		t.Helper()
		tb.Open(origin + "/auth/sign-in?" + url.Values{"rd": {origin + rd}}.Encode())
		tb.WaitFor(`[data-passkey-signin]:not([hidden])`)
	}
	signOut := func() {
		t.Helper()
		tb.Open(origin + "/auth/account")
		tb.Click(`form[action$="/logout"] [type="submit"]`)
		atPage(t, tb, origin, "sign-in")
	}
	signInPage("/app/first")
	tb.Fill("email", email)
	tb.Fill("password", pw)
	tb.Click("Sign in")
	tb.WaitURL(origin + "/app/first")

	// Add a passkey: the account's first second factor, so the page shows
	// the recovery codes.
	tb.Open(origin + "/auth/account")
	tb.WaitFor(`[data-passkey-register]:not([hidden])`)
	tb.Fill("#new_passkey_name", "Chromium")
	tb.Click("Add a passkey")
	tb.WaitText("The passkey was added.")
	if !tb.Has(`#recovery-codes li`) || !tb.Has(`input[value="Chromium"]`) {
		t.Fatalf("after adding the passkey:\n%s", tb.PageText())
	}
	tb.Inspect(t, "account-passkeys")

	// Sign out, then in with the passkey button (conditional mediation
	// off: the virtual authenticator would answer the autofill request at
	// once; conditional UI is checked at the end).
	var noConditional page.ScriptIdentifier
	conditionalOff := func() {
		t.Helper()
		tb.Do("turn conditional mediation off", chromedp.Func(func(ctx context.Context, tt *chromedp.Target) error {
			res, err := cdp.Call(ctx, tt, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
				Source: "PublicKeyCredential.isConditionalMediationAvailable = undefined;"})
			noConditional = res.Identifier
			return err
		}))
	}
	conditionalOff()
	signOut()
	signInPage("/app/passkey")
	tb.Inspect(t, "sign-in-passkey")
	tb.Click("Sign in with a passkey")
	tb.WaitURL(origin + "/app/passkey")
	signedInAtUpstream(t, upstreamSaw(t, tb), email, "passkey")

	// The password is now a first factor: the passkey confirms it.
	signOut()
	signInPage("/app/second")
	tb.Fill("email", email)
	tb.Fill("password", pw)
	tb.Click("Sign in")
	tb.WaitFor(`[data-passkey-mfa]:not([hidden])`)
	tb.Inspect(t, "mfa-passkey")
	tb.Click("Use a passkey")
	tb.WaitURL(origin + "/app/second")
	signedInAtUpstream(t, upstreamSaw(t, tb), email, "password")

	// Conditional UI: opening the sign-in page is enough, as the
	// authenticator answers the email field's autofill request.
	signOut()
	tb.Do("turn conditional mediation on, open the sign-in page", chromedp.Func(func(ctx context.Context, tt *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tt, page.RemoveScriptToEvaluateOnNewDocument, page.RemoveScriptToEvaluateOnNewDocumentParams{Identifier: noConditional}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, tt, page.Navigate, page.NavigateParams{URL: origin + "/auth/sign-in?" + url.Values{"rd": {origin + "/app/conditional"}}.Encode()})
		return err
	}))
	tb.WaitURL(origin + "/app/conditional")
	signedInAtUpstream(t, upstreamSaw(t, tb), email, "passkey")

	// A removed passkey signs no one in (the authenticator still has it).
	conditionalOff()
	tb.Open(origin + "/auth/account")
	tb.Click(`form[action*="/account/passkeys/"][action$="/delete"] [type="submit"]`)
	tb.WaitText("The passkey was removed.")
	tb.Click(`form[action$="/logout"] [type="submit"]`)
	atPage(t, tb, origin, "sign-in")
	signInPage("/app/third")
	tb.Click("Sign in with a passkey")
	tb.WaitFor(`[role="alert"]`)
	if u, _ := url.Parse(tb.URL()); u.Path == "/app/third" {
		t.Fatalf("a removed passkey signed in")
	}
	// The page names the passkey, not a password the person never typed.
	tb.WaitText("That passkey was not accepted.")
}

// TestBrowserPasskeyLastMethod: someone who signed up by emailed code
// (no password) adds a passkey on /account; removing it, their only way
// in, is refused with a sentence, and the passkey stays.
func TestBrowserPasskeyLastMethod(t *testing.T) {
	t.Parallel()
	browsertest.Shared(t)
	s, origin := passkeyStack(t, "embedded")
	email := uniqueEmail("browser-pk-last")
	tb := tab(t)
	virtualAuthenticator(tb)
	tb.Open(origin + "/auth/sign-in/code?" + url.Values{"rd": {origin + "/app/code"}}.Encode())
	tb.Fill("email", email)
	submit(tb, "email")
	atPage(t, tb, origin, "sign-in/code")
	tb.Fill("code", s.nextCode(email))
	submit(tb, "code")
	tb.WaitURL(origin + "/app/code")

	tb.Open(origin + "/auth/account")
	tb.WaitFor(`[data-passkey-register]:not([hidden])`)
	if tb.Has(`form[action$="/me/mfa/totp/disable"]`) {
		t.Error("the account page offers to turn off an authenticator app that is not on")
	}
	tb.Fill("#new_passkey_name", "Only key")
	tb.Click("Add a passkey")
	tb.WaitText("The passkey was added.")
	if tb.Has(`form[action$="/me/mfa/totp/disable"]`) {
		t.Error("with 2FA on by a passkey alone, the page offers to turn off an authenticator app")
	}
	tb.Click(`form[action*="/account/passkeys/"][action$="/delete"] [type="submit"]`)
	tb.WaitText("This is your only way to sign in.")
	tb.Inspect(t, "account-passkey-last-method")
	if !tb.Has(`input[value="Only key"]`) {
		t.Fatalf("the only passkey is gone:\n%s", tb.PageText())
	}
}
