package mfa

import (
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"gatehouse/gateway"
)

func testRedeem(t *testing.T, gdb *gorm.DB) {
	e := newEnv(t, gdb, func(o *Options) { o.MaxAttempts = 3; o.TokenTTL = time.Minute })
	ctx := t.Context()
	id := newUser(t, gdb)
	secret, recovery := e.enable(t, id)
	issue := func(t *testing.T) string {
		t.Helper()
		tok, err := e.m.IssueToken(ctx, id, "password")
		if err != nil {
			t.Fatalf("IssueToken: %v", err)
		}
		return tok
	}
	nextCode := func() string {
		e.clock.Advance(30 * time.Second)
		return codeAt(t, secret, e.clock.Now())
	}

	t.Run("totp", func(t *testing.T) {
		tok := issue(t)
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil || len(raw) != 32 {
			t.Fatalf("token %d bytes, %v; want 32 bytes of base64url", len(raw), err)
		}
		userID, method, err := e.m.Redeem(ctx, tok, nextCode())
		if err != nil || userID != id || method != "password" {
			t.Fatalf("Redeem = %q, %q, %v", userID, method, err)
		}
		_, _, err = e.m.Redeem(ctx, tok, nextCode())
		wantCode(t, err, "invalid_token")
	})

	t.Run("recovery code", func(t *testing.T) {
		tok, err := e.m.IssueToken(ctx, id, "email_code")
		if err != nil {
			t.Fatal(err)
		}
		userID, method, err := e.m.Redeem(ctx, tok, recovery[0])
		if err != nil || userID != id || method != "email_code" {
			t.Fatalf("Redeem = %q, %q, %v", userID, method, err)
		}
	})

	t.Run("wrong code keeps the token", func(t *testing.T) {
		tok := issue(t)
		_, _, err := e.m.Redeem(ctx, tok, "000000")
		wantRemaining(t, err, 2)
		if _, _, err := e.m.Redeem(ctx, tok, nextCode()); err != nil {
			t.Fatalf("Redeem after a wrong code: %v", err)
		}
	})

	t.Run("token dies at max attempts", func(t *testing.T) {
		tok := issue(t)
		for _, want := range []int{2, 1, 0} {
			_, _, err := e.m.Redeem(ctx, tok, "000000")
			wantRemaining(t, err, want)
		}
		_, _, err := e.m.Redeem(ctx, tok, nextCode())
		wantCode(t, err, "invalid_token")
	})

	t.Run("a used code is wrong", func(t *testing.T) {
		code := nextCode()
		if _, err := e.m.Verify(ctx, id, code); err != nil {
			t.Fatal(err)
		}
		_, _, err := e.m.Redeem(ctx, issue(t), code)
		wantRemaining(t, err, 2)
		_, _, err = e.m.Redeem(ctx, issue(t), recovery[0])
		wantRemaining(t, err, 2)
	})

	t.Run("expired", func(t *testing.T) {
		tok := issue(t)
		e.clock.Advance(time.Minute + time.Second)
		_, _, err := e.m.Redeem(ctx, tok, codeAt(t, secret, e.clock.Now()))
		wantCode(t, err, "invalid_token")
	})

	t.Run("unknown or malformed", func(t *testing.T) {
		unknown := base64.RawURLEncoding.EncodeToString(make([]byte, 32))
		for _, tok := range []string{"", "x", unknown, issue(t) + "x", strings.Repeat("a", 10000)} {
			_, _, err := e.m.Redeem(ctx, tok, nextCode())
			wantCode(t, err, "invalid_token")
		}
	})

	t.Run("parallel redeems, one code", func(t *testing.T) {
		tok, code := issue(t), nextCode()
		wins := redeemAll(t, e, tok, []string{code, code, code, code, code, code})
		if wins != 1 {
			t.Errorf("%d redeems succeeded, want 1", wins)
		}
	})

	t.Run("parallel redeems, different right codes", func(t *testing.T) {
		fresh, err := e.m.RegenerateRecoveryCodes(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		tok := issue(t)
		wins := redeemAll(t, e, tok, fresh[:3]) // MaxAttempts is 3
		if wins != 1 {
			t.Errorf("%d redeems succeeded, want 1", wins)
		}
	})

	t.Run("parallel wrong guesses", func(t *testing.T) {
		tok := issue(t)
		const n = 10
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() { _, _, errs[i] = e.m.Redeem(ctx, tok, "000000") })
		}
		wg.Wait()
		guesses := 0
		for _, err := range errs {
			switch {
			case hasCode(err, "invalid_code"):
				guesses++
			case hasCode(err, "invalid_token"):
			default:
				t.Errorf("Redeem: %v", err)
			}
		}
		// Guess on, one at a time, until the token dies: MaxAttempts
		// guesses in all are checked.
		for i := 0; i < 10; i++ {
			_, _, err := e.m.Redeem(ctx, tok, "000000")
			if hasCode(err, "invalid_token") {
				break
			}
			wantCode(t, err, "invalid_code")
			guesses++
		}
		if guesses != 3 {
			t.Errorf("%d guesses were checked, want MaxAttempts = 3", guesses)
		}
		_, _, err := e.m.Redeem(ctx, tok, nextCode())
		wantCode(t, err, "invalid_token")
	})

	t.Run("token never in a key", func(t *testing.T) {
		tok := issue(t)
		_, _, _ = e.m.Redeem(ctx, tok, "000000")
		_, _, _ = e.m.Redeem(ctx, tok, nextCode())
		keys := e.kv.seen()
		if len(keys) == 0 {
			t.Fatal("no keys recorded")
		}
		for _, k := range keys {
			if strings.Contains(k, tok) || strings.Contains(k, tok[:16]) {
				t.Errorf("KV key %q holds the token", k)
			}
			if !strings.HasPrefix(k, "mfa:tok:") && !strings.HasPrefix(k, "mfa:pending:") {
				t.Errorf("KV key %q outside the mfa namespace", k)
			}
		}
	})

	if _, err := e.m.IssueToken(ctx, "", "password"); err == nil {
		t.Error("IssueToken without a user succeeded")
	}
}

// wantRemaining fails unless err is invalid_code with attempts_remaining n.
func wantRemaining(t *testing.T, err error, n int) {
	t.Helper()
	var ge *gateway.Error
	if !errors.As(err, &ge) || ge.Code != "invalid_code" || ge.Status != 400 || ge.AttemptsRemaining == nil || *ge.AttemptsRemaining != n {
		t.Fatalf("err = %v, want invalid_code with %d attempts remaining", err, n)
	}
}

// redeemAll redeems tok with each code at once and counts the successes;
// every other answer must be invalid_token.
func redeemAll(t *testing.T, e *env, tok string, codes []string) int {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, len(codes))
	for i, code := range codes {
		wg.Go(func() { _, _, errs[i] = e.m.Redeem(t.Context(), tok, code) })
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case hasCode(err, "invalid_token"):
		default:
			t.Errorf("Redeem: %v", err)
		}
	}
	return wins
}
