package tokens

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"gorm.io/gorm"

	"gatehouse/gateway"
	"gatehouse/gateway/db"
	"gatehouse/gateway/db/dbtest"
	"gatehouse/gateway/keys"
)

func isInvalidToken(err error) bool { return errors.Is(err, gateway.InvalidToken()) }

func TestIssueAndParse(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		uid := e.user(t, "a@example.com")
		p, err := e.tokens.IssuePair(t.Context(), nil, uid, "sess-1", 7, "ws-1")
		if err != nil {
			t.Fatalf("IssuePair: %v", err)
		}
		if p.TokenType != "Bearer" || p.ExpiresIn != 900 || len(p.RefreshToken) != 43 {
			t.Errorf("pair = type %q expires_in %d refresh len %d; want Bearer, 900, 43", p.TokenType, p.ExpiresIn, len(p.RefreshToken))
		}
		got, err := e.tokens.ParseAccess(p.AccessToken)
		if err != nil {
			t.Fatalf("ParseAccess: %v", err)
		}
		want := Claims{UserID: uid, SessionID: "sess-1", WorkspaceID: "ws-1", SessionVersion: 7, ExpiresAt: e.clock.Now().Add(15 * time.Minute)}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("claims (-want +got):\n%s", diff)
		}

		// Only the keyed hash is stored.
		var rows []db.RefreshToken
		if err := e.db.WithContext(t.Context()).Find(&rows).Error; err != nil {
			t.Fatal(err)
		}
		m := hmac.New(sha256.New, e.opts.HashKey)
		m.Write([]byte(p.RefreshToken))
		if len(rows) != 1 || !bytes.Equal(rows[0].TokenHash, m.Sum(nil)) {
			t.Fatalf("refresh_tokens = %+v, want one row holding HMAC(HashKey, token)", rows)
		}
		r := rows[0]
		if r.UserID != uid || r.SessionID != "sess-1" || r.FamilyID == "" || r.ParentID != nil || r.RevokedAt != nil ||
			!r.ExpiresAt.Equal(e.clock.Now().Add(720*time.Hour)) {
			t.Errorf("refresh row = %+v", r)
		}

		// Without a workspace, wid is absent and parses as "".
		p2, err := e.tokens.IssuePair(t.Context(), e.db, uid, "sess-2", 1, "")
		if err != nil {
			t.Fatal(err)
		}
		if c, err := e.tokens.ParseAccess(p2.AccessToken); err != nil || c.WorkspaceID != "" || c.SessionID != "sess-2" {
			t.Errorf("ParseAccess without workspace = %+v, %v", c, err)
		}
		var fam []string
		e.db.WithContext(t.Context()).Model(&db.RefreshToken{}).Distinct().Pluck("family_id", &fam)
		if len(fam) != 2 {
			t.Errorf("two logins made %d families, want 2", len(fam))
		}
	})
}

func TestIssuePairInCallerTransaction(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		uid := e.user(t, "a@example.com")
		rollback := errors.New("rollback")
		var p Pair
		err := e.db.WithContext(t.Context()).Transaction(func(tx *gorm.DB) error {
			var err error
			if p, err = e.tokens.IssuePair(t.Context(), tx, uid, "s", 1, ""); err != nil {
				return err
			}
			return rollback
		})
		if !errors.Is(err, rollback) {
			t.Fatal(err)
		}
		if _, _, _, err := e.tokens.Refresh(t.Context(), p.RefreshToken, lookupFixed(1, "")); !isInvalidToken(err) {
			t.Errorf("refresh token of a rolled-back sign-in: err = %v, want invalid_token", err)
		}
	})
}

func TestPairRedacted(t *testing.T) {
	p := Pair{AccessToken: "eyJ.access.secret", RefreshToken: "refresh-secret", TokenType: "Bearer", ExpiresIn: 900}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("issued", "pair", p)
	for _, s := range []string{fmt.Sprint(p), fmt.Sprintf("%v %+v %#v %s", p, p, p, p), logged.String()} {
		if strings.Contains(s, "secret") {
			t.Errorf("tokens leak in %q", s)
		}
	}
	b, _ := json.Marshal(p)
	want := `{"access_token":"eyJ.access.secret","refresh_token":"refresh-secret","token_type":"Bearer","expires_in":900}`
	if string(b) != want {
		t.Errorf("JSON = %s, want %s", b, want)
	}
}

func TestParseAccessRejects(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		uid := e.user(t, "a@example.com")
		good := e.issue(t, uid, "s").AccessToken
		parts := strings.Split(good, ".")
		enc := base64.RawURLEncoding
		header, _ := enc.DecodeString(parts[0])
		payload, _ := enc.DecodeString(parts[1])

		// A token from another Gatehouse (its own database and keys).
		other := newEnv(t, db.DriverSQLite, dbtest.SQLiteDSN(t))
		foreign := other.issue(t, other.user(t, "a@example.com"), "s").AccessToken

		// Same keys, another issuer.
		o := e.opts
		o.Issuer = "https://elsewhere.example"
		elsewhere := e.issueWith(t, New(e.db, o), uid)

		assertion, err := e.keys.SignAssertion(keys.Assertion{Issuer: issuer, Audience: "app", Subject: uid}, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		noSID, _ := e.keys.Sign(map[string]any{"iss": issuer, "sub": uid, "sv": 1, "exp": e.clock.Now().Add(time.Minute).Unix()})
		fractionalSV, _ := e.keys.Sign(map[string]any{"iss": issuer, "sub": uid, "sid": "s", "sv": 1.5, "exp": e.clock.Now().Add(time.Minute).Unix()})

		for _, tc := range []struct {
			name  string
			token string
		}{
			{name: "empty", token: ""},
			{name: "garbage", token: "Bearer xyz"},
			{name: "signed by an unknown key", token: foreign},
			{name: "payload tampered", token: parts[0] + "." + enc.EncodeToString(bytes.Replace(payload, []byte(`"sv":1`), []byte(`"sv":2`), 1)) + "." + parts[2]},
			{name: "signature tampered", token: parts[0] + "." + parts[1] + "." + flip(parts[2])},
			{name: "alg none", token: enc.EncodeToString(bytes.Replace(header, []byte(`"ES256"`), []byte(`"none"`), 1)) + "." + parts[1] + "."},
			{name: "alg none, signature kept", token: enc.EncodeToString(bytes.Replace(header, []byte(`"ES256"`), []byte(`"none"`), 1)) + "." + parts[1] + "." + parts[2]},
			{name: "other issuer", token: elsewhere},
			{name: "an assertion", token: assertion},
			{name: "no sid", token: string(noSID)},
			{name: "fractional sv", token: string(fractionalSV)},
		} {
			t.Run(tc.name, func(t *testing.T) {
				c, err := e.tokens.ParseAccess(tc.token)
				if !isInvalidToken(err) {
					t.Errorf("ParseAccess = %+v, %v; want invalid_token", c, err)
				}
			})
		}

		// Expired: valid up to exp (plus the keys' 5 s leeway), not after.
		e.clock.Advance(15*time.Minute - time.Second)
		if _, err := e.tokens.ParseAccess(good); err != nil {
			t.Errorf("1s before exp: %v", err)
		}
		e.clock.Advance(keys.DefaultLeeway + 2*time.Second)
		if _, err := e.tokens.ParseAccess(good); !isInvalidToken(err) {
			t.Errorf("expired access token: err = %v, want invalid_token", err)
		}
	})
}

func (e *env) issueWith(t *testing.T, tk *Issuer, uid string) string {
	t.Helper()
	p, err := tk.IssuePair(t.Context(), nil, uid, "s", 1, "")
	if err != nil {
		t.Fatal(err)
	}
	return p.AccessToken
}

// flip changes the first character of a base64url string.
func flip(s string) string {
	if s[0] == 'A' {
		return "B" + s[1:]
	}
	return "A" + s[1:]
}

func TestRefreshRotates(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		uid := e.user(t, "a@example.com")
		p0 := e.issue(t, uid, "sess-1")
		e.clock.Advance(time.Minute)

		var gotUser, gotSession string
		lookup := func(_ context.Context, u, s string) (int64, string, bool, error) {
			gotUser, gotSession = u, s
			return 3, "ws-9", true, nil
		}
		p1, u, s, err := e.tokens.Refresh(ctx, p0.RefreshToken, lookup)
		if err != nil {
			t.Fatalf("Refresh: %v", err)
		}
		if u != uid || s != "sess-1" || gotUser != uid || gotSession != "sess-1" {
			t.Errorf("Refresh returned (%s, %s), lookup got (%s, %s); want (%s, sess-1) twice", u, s, gotUser, gotSession, uid)
		}
		if p1.RefreshToken == p0.RefreshToken || p1.AccessToken == p0.AccessToken {
			t.Error("Refresh returned the old tokens")
		}
		c, err := e.tokens.ParseAccess(p1.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		want := Claims{UserID: uid, SessionID: "sess-1", WorkspaceID: "ws-9", SessionVersion: 3, ExpiresAt: e.clock.Now().Add(15 * time.Minute)}
		if diff := cmp.Diff(want, c); diff != "" {
			t.Errorf("refreshed claims (-want +got):\n%s", diff)
		}

		// The child row continues the family.
		var parent, child db.RefreshToken
		e.db.WithContext(ctx).Where("parent_id IS NULL").Take(&parent)
		e.db.WithContext(ctx).Where("parent_id IS NOT NULL").Take(&child)
		if child.ParentID == nil || *child.ParentID != parent.ID || child.FamilyID != parent.FamilyID ||
			child.SessionID != "sess-1" || parent.RevokedAt == nil || child.RevokedAt != nil {
			t.Errorf("parent %+v, child %+v", parent, child)
		}

		// The new refresh token works; the old one is dead.
		if _, _, _, err := e.tokens.Refresh(ctx, p1.RefreshToken, lookupFixed(3, "")); err != nil {
			t.Errorf("Refresh with the new token: %v", err)
		}
	})
}

func TestRefreshReuseRevokesFamily(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		uid := e.user(t, "a@example.com")
		p0 := e.issue(t, uid, "sess-1")
		otherLogin := e.issue(t, uid, "sess-2")
		p1, _, _, err := e.tokens.Refresh(ctx, p0.RefreshToken, lookupFixed(1, ""))
		if err != nil {
			t.Fatal(err)
		}
		p2, _, _, err := e.tokens.Refresh(ctx, p1.RefreshToken, lookupFixed(1, ""))
		if err != nil {
			t.Fatal(err)
		}

		// Replaying the first token: invalid_token, reuse detected.
		_, _, _, err = e.tokens.Refresh(ctx, p0.RefreshToken, lookupFixed(1, ""))
		var reuse *ReuseError
		if !isInvalidToken(err) || !errors.As(err, &reuse) {
			t.Fatalf("reused token: err = %v, want invalid_token wrapping *ReuseError", err)
		}
		if reuse.UserID != uid || reuse.SessionID != "sess-1" {
			t.Errorf("ReuseError = %+v", reuse)
		}
		// The newest token of the family is dead too; another family lives.
		if _, _, _, err := e.tokens.Refresh(ctx, p2.RefreshToken, lookupFixed(1, "")); !isInvalidToken(err) {
			t.Errorf("newest token after reuse: err = %v, want invalid_token", err)
		}
		if _, _, _, err := e.tokens.Refresh(ctx, otherLogin.RefreshToken, lookupFixed(1, "")); err != nil {
			t.Errorf("token of another family after reuse: %v", err)
		}
		// Once the family is dead, presenting its tokens is a plain refusal.
		_, _, _, err = e.tokens.Refresh(ctx, p1.RefreshToken, lookupFixed(1, ""))
		if !isInvalidToken(err) || errors.As(err, &reuse) {
			t.Errorf("token of a dead family: err = %v, want invalid_token without ReuseError", err)
		}
	})
}

func TestRefreshConcurrent(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		p := e.issue(t, e.user(t, "a@example.com"), "sess-1")
		const n = 10
		var (
			wg      sync.WaitGroup
			start   = make(chan struct{})
			results = make([]error, n)
			pairs   = make([]Pair, n)
		)
		for i := range n {
			wg.Go(func() {
				<-start
				pairs[i], _, _, results[i] = e.tokens.Refresh(ctx, p.RefreshToken, lookupFixed(1, ""))
			})
		}
		close(start)
		wg.Wait()
		won := -1
		for i, err := range results {
			switch {
			case err == nil:
				if won >= 0 {
					t.Errorf("calls %d and %d both succeeded", won, i)
				}
				won = i
			case !isInvalidToken(err):
				t.Errorf("call %d: err = %v, want invalid_token", i, err)
			}
		}
		if won < 0 {
			t.Fatal("no call succeeded")
		}
		// As documented, the losers revoked the family, the winner's new
		// refresh token included.
		if _, _, _, err := e.tokens.Refresh(ctx, pairs[won].RefreshToken, lookupFixed(1, "")); !isInvalidToken(err) {
			t.Errorf("winner's refresh token after the race: err = %v, want invalid_token", err)
		}
	})
}

func TestRevoke(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		u1, u2 := e.user(t, "a@example.com"), e.user(t, "b@example.com")
		s1, s2, s3 := e.issue(t, u1, "s1"), e.issue(t, u1, "s2"), e.issue(t, u2, "s3")
		// s2's family has rotated once: revocation reaches the child.
		s2, _, _, err := e.tokens.Refresh(ctx, s2.RefreshToken, lookupFixed(1, ""))
		if err != nil {
			t.Fatal(err)
		}
		works := func(name string, p Pair, want bool) {
			t.Helper()
			_, _, _, err := e.tokens.Refresh(ctx, p.RefreshToken, lookupFixed(1, ""))
			var reuse *ReuseError
			switch {
			case want && err != nil:
				t.Errorf("%s: %v", name, err)
			case !want && (!isInvalidToken(err) || errors.As(err, &reuse)):
				t.Errorf("%s: err = %v, want invalid_token (no reuse)", name, err)
			}
		}

		if err := e.tokens.RevokeSession(ctx, "s1"); err != nil {
			t.Fatal(err)
		}
		works("s1 after RevokeSession(s1)", s1, false)
		if err := e.tokens.RevokeUser(ctx, u1); err != nil {
			t.Fatal(err)
		}
		works("s2 after RevokeUser(u1)", s2, false)
		works("other user after RevokeUser(u1)", s3, true)
	})
}

func TestRefreshExpiry(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		uid := e.user(t, "a@example.com")
		p := e.issue(t, uid, "s")
		idle := e.issue(t, uid, "s-idle")

		// Each refresh starts a new RefreshTTL.
		e.clock.Advance(e.opts.RefreshTTL - time.Second)
		p, _, _, err := e.tokens.Refresh(ctx, p.RefreshToken, lookupFixed(1, ""))
		if err != nil {
			t.Fatalf("refresh 1s before expiry: %v", err)
		}
		e.clock.Advance(time.Second)
		if _, _, _, err := e.tokens.Refresh(ctx, idle.RefreshToken, lookupFixed(1, "")); !isInvalidToken(err) {
			t.Errorf("refresh token at RefreshTTL: err = %v, want invalid_token", err)
		}
		e.clock.Advance(e.opts.RefreshTTL - 2*time.Second)
		if _, _, _, err := e.tokens.Refresh(ctx, p.RefreshToken, lookupFixed(1, "")); err != nil {
			t.Errorf("refreshed token inside its own RefreshTTL: %v", err)
		}
	})
}

func TestRefreshLookup(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		uid := e.user(t, "a@example.com")
		gone := func(context.Context, string, string) (int64, string, bool, error) { return 0, "", false, nil }
		broken := errors.New("database down")
		failing := func(context.Context, string, string) (int64, string, bool, error) { return 0, "", false, broken }

		p := e.issue(t, uid, "s")
		if _, _, _, err := e.tokens.Refresh(ctx, p.RefreshToken, gone); !isInvalidToken(err) {
			t.Errorf("lookup !ok: err = %v, want invalid_token", err)
		}
		if _, _, _, err := e.tokens.Refresh(ctx, p.RefreshToken, failing); !errors.Is(err, broken) || isInvalidToken(err) {
			t.Errorf("lookup error: err = %v, want it returned as is", err)
		}
		// Neither refusal used the token up.
		if _, _, _, err := e.tokens.Refresh(ctx, p.RefreshToken, lookupFixed(1, "")); err != nil {
			t.Errorf("refresh after refused attempts: %v", err)
		}
		for _, tok := range []string{"", "short", strings.Repeat("A", 43), strings.Repeat("!", 43)} {
			if _, _, _, err := e.tokens.Refresh(ctx, tok, lookupFixed(1, "")); !isInvalidToken(err) {
				t.Errorf("Refresh(%q): err = %v, want invalid_token", tok, err)
			}
		}
	})
}

func TestOptionsRequired(t *testing.T) {
	k := keys.New(nil, keys.Options{Secret: []byte("x")})
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{name: "no keys", o: Options{Issuer: issuer, HashKey: []byte("k")}, want: "Keys"},
		{name: "no issuer", o: Options{Keys: k, HashKey: []byte("k")}, want: "Issuer"},
		{name: "no hash key", o: Options{Keys: k, Issuer: issuer}, want: "HashKey"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tk := New(nil, tc.o)
			_, err := tk.IssuePair(t.Context(), nil, "u", "s", 1, "")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("IssuePair: err = %v, want it to name %s", err, tc.want)
			}
			if _, err := tk.ParseAccess("x"); err == nil {
				t.Error("ParseAccess succeeded")
			}
		})
	}
}

// TestRevokeUserDuringRotation: a revocation racing with rotations of the
// same user leaves no live refresh token, whichever commits first.
func TestRevokeUserDuringRotation(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		uid := e.user(t, "a@example.com")
		for round := range 20 {
			var revoked atomic.Bool
			var wg sync.WaitGroup
			for i := range 3 {
				p := e.issue(t, uid, fmt.Sprintf("s%d-%d", round, i))
				wg.Go(func() {
					for {
						after := revoked.Load()
						next, _, _, err := e.tokens.Refresh(ctx, p.RefreshToken, lookupFixed(1, ""))
						if err != nil {
							if !isInvalidToken(err) {
								t.Errorf("Refresh: %v", err)
							}
							return
						}
						if after {
							t.Errorf("round %d: a refresh token outlived RevokeUser", round)
							return
						}
						p = next
					}
				})
			}
			wg.Go(func() {
				if err := e.tokens.RevokeUser(ctx, uid); err != nil {
					t.Errorf("RevokeUser: %v", err)
				}
				revoked.Store(true)
			})
			wg.Wait()
			var live int64
			e.db.WithContext(ctx).Model(&db.RefreshToken{}).Where("user_id = ? AND revoked_at IS NULL", uid).Count(&live)
			if live != 0 {
				t.Fatalf("round %d: %d refresh tokens outlived RevokeUser", round, live)
			}
		}
	})
}
