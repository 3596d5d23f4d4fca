package passkeys_test

import (
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"gatehouse/gateway"
	"gatehouse/gateway/db"
	"gatehouse/gateway/db/dbtest"
	"gatehouse/gateway/passkeys"
	"gatehouse/gateway/passkeys/passkeystest"
	"gatehouse/gateway/store"
)

const origin = "https://auth.example.com"

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// factor records FactorAdded / FactorRemoved.
type factor struct{ added, removed int }

func (f *factor) FactorAdded(*gorm.DB, string) ([]string, error) {
	f.added++
	if f.added == 1 {
		return []string{"aaaaa-bbbbb"}, nil
	}
	return nil, nil
}

func (f *factor) FactorRemoved(tx *gorm.DB, userID string) (bool, error) {
	f.removed++
	var n int64
	err := tx.Model(&db.Passkey{}).Where("user_id = ?", userID).Count(&n).Error
	return n > 0, err
}

type fixture struct {
	pk     *passkeys.Service
	db     *gorm.DB
	clock  *clock
	factor *factor
	user   *db.User
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	gdb, err := db.Open(t.Context(), db.Options{Driver: db.DriverSQLite, DSN: dbtest.SQLiteDSN(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close(gdb) })
	if _, err := db.Up(t.Context(), gdb, db.DriverSQLite); err != nil {
		t.Fatal(err)
	}
	f := &fixture{db: gdb, clock: &clock{now: time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)}, factor: &factor{}}
	f.pk, err = passkeys.New(gdb, store.NewMemory(), passkeys.Options{
		RelyingParty: gateway.RelyingParty{ID: "example.com", Name: "Acme", UserVerification: "preferred"},
		Origins:      []string{origin},
		Key:          func(kind, v string) string { return kind + ":" + v },
		SecondFactor: f.factor, Clock: f.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.user = &db.User{Email: "ada@example.com", Name: "Ada"}
	if err := gdb.Create(f.user).Error; err != nil {
		t.Fatal(err)
	}
	return f
}

func raw(t *testing.T, b passkeys.Begun) []byte {
	t.Helper()
	out, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// register adds a passkey of a new software authenticator for f.user.
func (f *fixture) register(t *testing.T, binding string) (*passkeystest.Authenticator, *db.Passkey) {
	t.Helper()
	begun, err := f.pk.BeginRegistration(t.Context(), f.user, binding, "Laptop")
	if err != nil {
		t.Fatalf("BeginRegistration: %v", err)
	}
	a := passkeystest.New(origin)
	cred, err := a.Create(raw(t, begun))
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := f.pk.FinishRegistration(t.Context(), f.user, binding, begun.FlowID, cred, "")
	if err != nil {
		t.Fatalf("FinishRegistration: %v", err)
	}
	return a, p
}

func TestRegister(t *testing.T) {
	f := newFixture(t)
	begun, err := f.pk.BeginRegistration(t.Context(), f.user, "sess-1", "Laptop")
	if err != nil {
		t.Fatal(err)
	}
	var opts struct {
		PublicKey struct {
			RP                     struct{ ID, Name string }
			User                   struct{ ID, Name string }
			Challenge              string
			AuthenticatorSelection struct {
				ResidentKey      string `json:"residentKey"`
				UserVerification string `json:"userVerification"`
			} `json:"authenticatorSelection"`
			ExcludeCredentials []struct{ ID string } `json:"excludeCredentials"`
		} `json:"public_key"`
	}
	if err := json.Unmarshal(raw(t, begun), &opts); err != nil {
		t.Fatal(err)
	}
	pk := opts.PublicKey
	if pk.RP.ID != "example.com" || pk.RP.Name != "Acme" || pk.User.Name != "ada@example.com" || len(pk.Challenge) < 22 {
		t.Errorf("creation options = %+v", pk)
	}
	if pk.AuthenticatorSelection.ResidentKey != "required" || pk.AuthenticatorSelection.UserVerification != "preferred" {
		t.Errorf("authenticatorSelection = %+v, want a required resident key", pk.AuthenticatorSelection)
	}
	a := passkeystest.New(origin)
	cred, err := a.Create(raw(t, begun))
	if err != nil {
		t.Fatal(err)
	}
	p, codes, err := f.pk.FinishRegistration(t.Context(), f.user, "sess-1", begun.FlowID, cred, "")
	if err != nil {
		t.Fatalf("FinishRegistration: %v", err)
	}
	if p.Name != "Laptop" || p.Transports != "internal,hybrid" || p.AttestationType != "none" || !p.UserVerified || len(codes) != 1 {
		t.Errorf("passkey = %+v, recovery codes %v", p, codes)
	}
	// The second registration excludes the first credential, and issues no codes.
	begun, err = f.pk.BeginRegistration(t.Context(), f.user, "sess-1", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw(t, begun), &opts); err != nil {
		t.Fatal(err)
	}
	if len(opts.PublicKey.ExcludeCredentials) != 1 {
		t.Errorf("excludeCredentials = %v, want the registered passkey", opts.PublicKey.ExcludeCredentials)
	}
	second := passkeystest.New(origin)
	cred, _ = second.Create(raw(t, begun))
	p2, codes, err := f.pk.FinishRegistration(t.Context(), f.user, "sess-1", begun.FlowID, cred, "Phone")
	if err != nil || p2.Name != "Phone" || codes != nil {
		t.Errorf("second passkey = %+v, codes %v, err %v", p2, codes, err)
	}
	// Registering the same credential id again is refused.
	begun, _ = f.pk.BeginRegistration(t.Context(), f.user, "sess-1", "")
	cred, _ = a.Create(raw(t, begun))
	if _, _, err := f.pk.FinishRegistration(t.Context(), f.user, "sess-1", begun.FlowID, cred, ""); !errors.Is(err, gateway.ErrValidationFailed) {
		t.Errorf("the same credential twice: %v, want validation_failed", err)
	}
}

func TestRegisterRefusals(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name    string
		binding string // at finish
		advance time.Duration
		origin  string
		reuse   bool
		want    error
	}{
		{name: "another client", binding: "sess-2", want: gateway.ErrInvalidToken},
		{name: "expired", binding: "sess-1", advance: passkeys.FlowTTL + time.Second, want: gateway.ErrInvalidToken},
		{name: "used twice", binding: "sess-1", reuse: true, want: gateway.ErrInvalidToken},
		{name: "another origin", binding: "sess-1", origin: "https://evil.example.net", want: gateway.ErrInvalidCredentials},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			begun, err := f.pk.BeginRegistration(t.Context(), f.user, "sess-1", "")
			if err != nil {
				t.Fatal(err)
			}
			a := passkeystest.New(origin)
			if tc.origin != "" {
				a.Origin = tc.origin
			}
			cred, _ := a.Create(raw(t, begun))
			f.clock.Advance(tc.advance)
			if tc.reuse {
				if _, _, err := f.pk.FinishRegistration(t.Context(), f.user, tc.binding, begun.FlowID, cred, ""); err != nil {
					t.Fatalf("first use: %v", err)
				}
			}
			_, _, err = f.pk.FinishRegistration(t.Context(), f.user, tc.binding, begun.FlowID, cred, "")
			if !errors.Is(err, tc.want) {
				t.Errorf("FinishRegistration: %v, want %v", err, tc.want)
			}
		})
	}
}

func TestSignIn(t *testing.T) {
	f := newFixture(t)
	a, p := f.register(t, "sess-1")
	t.Run("discoverable", func(t *testing.T) {
		begun, err := f.pk.BeginLogin(t.Context(), passkeys.PurposeLogin, nil, "", "cookie-1")
		if err != nil {
			t.Fatal(err)
		}
		var opts struct {
			PublicKey struct {
				AllowCredentials []any  `json:"allowCredentials"`
				RPID             string `json:"rpId"`
			} `json:"public_key"`
		}
		_ = json.Unmarshal(raw(t, begun), &opts)
		if len(opts.PublicKey.AllowCredentials) != 0 || opts.PublicKey.RPID != "example.com" {
			t.Errorf("discoverable request options = %+v", opts.PublicKey)
		}
		cred, _ := a.Get(raw(t, begun))
		got, err := f.pk.FinishLogin(t.Context(), passkeys.PurposeLogin, "cookie-1", begun.FlowID, cred)
		if err != nil {
			t.Fatalf("FinishLogin: %v", err)
		}
		if got.UserID != f.user.ID || got.PasskeyID != p.ID || !got.UserVerified {
			t.Errorf("assertion = %+v", got)
		}
	})
	t.Run("with email", func(t *testing.T) {
		begun, err := f.pk.BeginLogin(t.Context(), passkeys.PurposeLogin, f.user, "", "cookie-1")
		if err != nil {
			t.Fatal(err)
		}
		cred, _ := a.Get(raw(t, begun))
		if _, err := f.pk.FinishLogin(t.Context(), passkeys.PurposeLogin, "cookie-1", begun.FlowID, cred); err != nil {
			t.Fatalf("FinishLogin: %v", err)
		}
		var stored db.Passkey
		f.db.First(&stored, "id = ?", p.ID)
		if stored.SignCount != int64(a.Counter) || stored.LastUsedAt == nil {
			t.Errorf("stored passkey = %+v, want counter %d and last_used_at", stored, a.Counter)
		}
	})
	t.Run("unknown email looks the same and never verifies", func(t *testing.T) {
		begun, err := f.pk.BeginLogin(t.Context(), passkeys.PurposeLogin, nil, "nobody@example.com", "cookie-1")
		if err != nil {
			t.Fatal(err)
		}
		var opts struct {
			PublicKey struct {
				AllowCredentials []any `json:"allowCredentials"`
			} `json:"public_key"`
		}
		_ = json.Unmarshal(raw(t, begun), &opts)
		if len(opts.PublicKey.AllowCredentials) != 1 {
			t.Errorf("allowCredentials = %v, want one (made up)", opts.PublicKey.AllowCredentials)
		}
		cred, _ := a.Get(raw(t, begun))
		if _, err := f.pk.FinishLogin(t.Context(), passkeys.PurposeLogin, "cookie-1", begun.FlowID, cred); !errors.Is(err, gateway.ErrInvalidCredentials) {
			t.Errorf("FinishLogin: %v, want invalid_credentials", err)
		}
	})
	t.Run("counter going backwards", func(t *testing.T) {
		begun, _ := f.pk.BeginLogin(t.Context(), passkeys.PurposeLogin, nil, "", "cookie-1")
		a.Counter -= 2
		cred, _ := a.Get(raw(t, begun))
		got, err := f.pk.FinishLogin(t.Context(), passkeys.PurposeLogin, "cookie-1", begun.FlowID, cred)
		if !errors.Is(err, gateway.ErrInvalidCredentials) || !errors.Is(err, passkeys.ErrCloned) {
			t.Fatalf("FinishLogin: %v, want invalid_credentials wrapping ErrCloned", err)
		}
		if got.PasskeyID != p.ID || got.UserID != f.user.ID {
			t.Errorf("assertion of the clone = %+v, want it named", got)
		}
		a.Counter += 5
	})
	t.Run("unknown credential", func(t *testing.T) {
		stranger := passkeystest.New(origin)
		b2, _ := f.pk.BeginRegistration(t.Context(), f.user, "sess-9", "")
		_, _ = stranger.Create(raw(t, b2)) // never finished: not stored
		begun, _ := f.pk.BeginLogin(t.Context(), passkeys.PurposeLogin, nil, "", "cookie-1")
		cred, _ := stranger.Get(raw(t, begun))
		if _, err := f.pk.FinishLogin(t.Context(), passkeys.PurposeLogin, "cookie-1", begun.FlowID, cred); !errors.Is(err, gateway.ErrInvalidCredentials) {
			t.Errorf("FinishLogin: %v, want invalid_credentials", err)
		}
	})
	t.Run("bad signature", func(t *testing.T) {
		begun, _ := f.pk.BeginLogin(t.Context(), passkeys.PurposeLogin, nil, "", "cookie-1")
		other, _ := f.pk.BeginLogin(t.Context(), passkeys.PurposeLogin, nil, "", "cookie-1")
		cred, _ := a.Get(raw(t, other)) // signed over another challenge
		if _, err := f.pk.FinishLogin(t.Context(), passkeys.PurposeLogin, "cookie-1", begun.FlowID, cred); !errors.Is(err, gateway.ErrInvalidCredentials) {
			t.Errorf("FinishLogin: %v, want invalid_credentials", err)
		}
	})
	t.Run("garbage", func(t *testing.T) {
		begun, _ := f.pk.BeginLogin(t.Context(), passkeys.PurposeLogin, nil, "", "cookie-1")
		if _, err := f.pk.FinishLogin(t.Context(), passkeys.PurposeLogin, "cookie-1", begun.FlowID, json.RawMessage(`{"id":1}`)); !errors.Is(err, gateway.ErrInvalidCredentials) {
			t.Errorf("FinishLogin: %v, want invalid_credentials", err)
		}
	})
}

func TestFlowRefusals(t *testing.T) {
	f := newFixture(t)
	a, _ := f.register(t, "sess-1")
	tests := []struct {
		name    string
		purpose string // at finish
		binding string // at finish
		advance time.Duration
		reuse   bool
	}{
		{name: "another client", purpose: passkeys.PurposeLogin, binding: "cookie-2"},
		{name: "no binding", purpose: passkeys.PurposeLogin, binding: ""},
		{name: "another purpose", purpose: passkeys.PurposeMFA, binding: "cookie-1"},
		{name: "expired", purpose: passkeys.PurposeLogin, binding: "cookie-1", advance: passkeys.FlowTTL},
		{name: "reused", purpose: passkeys.PurposeLogin, binding: "cookie-1", reuse: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			begun, err := f.pk.BeginLogin(t.Context(), passkeys.PurposeLogin, nil, "", "cookie-1")
			if err != nil {
				t.Fatal(err)
			}
			cred, _ := a.Get(raw(t, begun))
			f.clock.Advance(tc.advance)
			if tc.reuse {
				if _, err := f.pk.FinishLogin(t.Context(), passkeys.PurposeLogin, "cookie-1", begun.FlowID, cred); err != nil {
					t.Fatalf("first use: %v", err)
				}
			}
			if _, err := f.pk.FinishLogin(t.Context(), tc.purpose, tc.binding, begun.FlowID, cred); !errors.Is(err, gateway.ErrInvalidToken) {
				t.Errorf("FinishLogin: %v, want invalid_token", err)
			}
		})
	}
	t.Run("a refused flow is gone", func(t *testing.T) {
		begun, _ := f.pk.BeginLogin(t.Context(), passkeys.PurposeLogin, nil, "", "cookie-1")
		cred, _ := a.Get(raw(t, begun))
		_, _ = f.pk.FinishLogin(t.Context(), passkeys.PurposeLogin, "cookie-2", begun.FlowID, cred)
		if _, err := f.pk.FinishLogin(t.Context(), passkeys.PurposeLogin, "cookie-1", begun.FlowID, cred); !errors.Is(err, gateway.ErrInvalidToken) {
			t.Errorf("after a try from another client: %v, want invalid_token", err)
		}
	})
}

func TestSecondFactorOfOneUser(t *testing.T) {
	f := newFixture(t)
	a, _ := f.register(t, "sess-1")
	other := &db.User{Email: "bob@example.com"}
	if err := f.db.Create(other).Error; err != nil {
		t.Fatal(err)
	}
	// A flow begun for another user (bob, no passkeys) does not accept ada's passkey.
	begun, _ := f.pk.BeginLogin(t.Context(), passkeys.PurposeMFA, other, "", "tok")
	cred, _ := a.Get(raw(t, begun))
	if _, err := f.pk.FinishLogin(t.Context(), passkeys.PurposeMFA, "tok", begun.FlowID, cred); !errors.Is(err, gateway.ErrInvalidCredentials) {
		t.Errorf("ada's passkey for bob's second step: %v, want invalid_credentials", err)
	}
	begun, _ = f.pk.BeginLogin(t.Context(), passkeys.PurposeMFA, f.user, "", "tok")
	cred, _ = a.Get(raw(t, begun))
	got, err := f.pk.FinishLogin(t.Context(), passkeys.PurposeMFA, "tok", begun.FlowID, cred)
	if err != nil || got.UserID != f.user.ID {
		t.Errorf("ada's second step: %+v, %v", got, err)
	}
}

func TestManage(t *testing.T) {
	f := newFixture(t)
	_, p1 := f.register(t, "sess-1")
	_, p2 := f.register(t, "sess-1")
	if got, err := f.pk.Rename(t.Context(), f.user.ID, p1.ID, "  Work   laptop "); err != nil || got.Name != "Work laptop" {
		t.Errorf("Rename: %+v, %v", got, err)
	}
	if _, err := f.pk.Rename(t.Context(), f.user.ID, p1.ID, ""); !errors.Is(err, gateway.ErrValidationFailed) {
		t.Errorf("Rename to nothing: %v", err)
	}
	if _, err := f.pk.Rename(t.Context(), "someone-else", p1.ID, "x"); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("Rename of another's passkey: %v", err)
	}
	last := errors.New("last")
	refuseLast := func(_ *gorm.DB, left int64) error {
		if left == 0 {
			return last
		}
		return nil
	}
	if on, err := f.pk.Delete(t.Context(), f.user.ID, p1.ID, refuseLast); err != nil || !on {
		t.Errorf("Delete the first: on %v, %v", on, err)
	}
	if _, err := f.pk.Delete(t.Context(), f.user.ID, p2.ID, refuseLast); !errors.Is(err, last) {
		t.Errorf("Delete the last: %v, want the refusal", err)
	}
	if n, _ := f.pk.Count(t.Context(), f.user.ID); n != 1 {
		t.Errorf("%d passkeys after a refused deletion, want 1", n)
	}
	if _, err := f.pk.Delete(t.Context(), f.user.ID, p1.ID, nil); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("Delete again: %v, want not_found", err)
	}
	if on, err := f.pk.Delete(t.Context(), f.user.ID, p2.ID, nil); err != nil || on {
		t.Errorf("Delete the last (allowed): on %v, %v", on, err)
	}
}
