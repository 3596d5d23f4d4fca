package auth

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"gatehouse/gateway"
	"gatehouse/gateway/db"
	"gatehouse/gateway/events"
	"gatehouse/gateway/passkeys"
)

// Passkeys is the WebAuthn relying party when passkeys are on.
func (s *Service) Passkeys() (*passkeys.Service, bool) {
	return s.passkeys, s.passkeys != nil
}

// flowCookieSuffix names the cookie that binds a passkey sign-in flow to
// the browser (or client) that began it: session.cookie_name + "_pk".
const flowCookieSuffix = "_pk"

// PasskeyBinding is the passkey sign-in flow binding of the request's
// client: a random value in an HttpOnly cookie on auth_prefix. begin makes
// one when the client has none (and refreshes its expiry); a finish
// without one gets "", which matches no flow. Flows begun by one page
// (conditional UI, then the button) share it.
func (s *Service) PasskeyBinding(c *fiber.Ctx, begin bool) string {
	name := s.o.Session.CookieName + flowCookieSuffix
	v := c.Cookies(name)
	if len(v) != 43 { // 32 random bytes, base64url
		v = ""
	}
	if !begin {
		return strings.Clone(v)
	}
	if v == "" {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		v = b64(b)
	}
	c.Cookie(&fiber.Cookie{
		Name: name, Value: v, Path: s.o.AuthPrefix + "/", MaxAge: int(passkeys.FlowTTL / time.Second),
		HTTPOnly: true, Secure: s.secure, SameSite: fiber.CookieSameSiteStrictMode,
	})
	return strings.Clone(v)
}

func strings_Clone(v string) string { return string(append([]byte(nil), v...)) }

// MFAMethods are the second factors u may use now, as mfa_required's
// mfa_methods lists them: totp, recovery_code, passkey.
func (s *Service) MFAMethods(ctx context.Context, u *db.User) []string {
	var out []string
	if u.HasTOTP() {
		out = append(out, "totp")
	}
	out = append(out, "recovery_code")
	if s.HasPasskey(ctx, u.ID) {
		out = append(out, "passkey")
	}
	return out
}

// HasPasskey reports whether userID has a passkey (false when passkeys
// are off).
func (s *Service) HasPasskey(ctx context.Context, userID string) bool {
	if s.passkeys == nil {
		return false
	}
	n, err := s.passkeys.Count(ctx, userID)
	return err == nil && n > 0
}

// PasskeyRefused records a passkey assertion that did not verify: a
// failed sign-in (user.login_failed, method passkey) and, for a sign
// counter that did not grow, user.passkey_clone_detected naming the
// passkey. A failure to record is the request's error.
func (s *Service) PasskeyRefused(c *fiber.Ctx, a passkeys.Assertion, email string, cause error) error {
	if errors.Is(cause, passkeys.ErrCloned) {
		if err := s.Record(c, nil, events.PasskeyCloned, a.UserID, email, map[string]any{"passkey_id": a.PasskeyID}); err != nil {
			return err
		}
	}
	return s.Record(c, nil, events.UserLoginFailed, a.UserID, email, map[string]any{"method": "passkey"})
}

// MFACode is a step-up's mfa_code: a TOTP or recovery code (a JSON
// string), or a passkey assertion {flow_id, credential} from POST
// /me/step-up/passkey/begin, as an object or as a string holding that
// object (a form field).
type MFACode struct {
	Code       string
	FlowID     string
	Credential json.RawMessage
}

// UnmarshalJSON reads a string or an object.
func (m *MFACode) UnmarshalJSON(b []byte) error {
	*m = MFACode{}
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if t := bytes.TrimSpace([]byte(s)); len(t) == 0 || t[0] != '{' {
			m.Code = s
			return nil
		}
		b = []byte(s)
	}
	var p struct {
		FlowID     string          `json:"flow_id"`
		Credential json.RawMessage `json:"credential"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return &json.UnmarshalTypeError{Value: "mfa_code", Field: "mfa_code"}
	}
	m.FlowID, m.Credential = p.FlowID, p.Credential
	return nil
}

// IsZero reports an absent mfa_code.
func (m MFACode) IsZero() bool {
	return m.Code == "" && m.FlowID == "" && len(m.Credential) == 0
}

// Passkey reports a passkey assertion.
func (m MFACode) Passkey() bool { return m.FlowID != "" || len(m.Credential) > 0 }

// stepUpPasskey checks a passkey assertion as u's step-up: the flow must
// have been begun by this session for u.
func (s *Service) stepUpPasskey(c *fiber.Ctx, u *db.User, code MFACode) error {
	if s.passkeys == nil {
		return gateway.InvalidCredentials()
	}
	cl, err := s.Caller(c)
	if err != nil {
		return err
	}
	a, err := s.passkeys.FinishLogin(c.UserContext(), passkeys.PurposeStepUp, cl.Session.ID, code.FlowID, code.Credential)
	if err != nil {
		if errors.Is(err, gateway.ErrInvalidCredentials) {
			if rerr := s.PasskeyRefused(c, passkeys.Assertion{UserID: u.ID, PasskeyID: a.PasskeyID}, u.Email, err); rerr != nil {
				return rerr
			}
		}
		return err
	}
	if a.UserID != u.ID {
		return gateway.InvalidCredentials()
	}
	return nil
}
