// Package passkeystest is a software WebAuthn authenticator for tests: an
// ES256 key, "none" attestation, discoverable credentials. It answers the
// options Gatehouse's passkey endpoints give ({flow_id, public_key}) with
// the JSON navigator.credentials.create and get would, for a page on
// Origin. Test code only: it checks nothing a real authenticator checks.
package passkeystest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// Authenticator flags (WebAuthn §6.1).
const (
	FlagUP = 0x01
	FlagUV = 0x04
	FlagBE = 0x08
	FlagBS = 0x10
	FlagAT = 0x40
)

// Authenticator holds one credential, created by Create.
type Authenticator struct {
	// Origin is the page origin the client data names.
	Origin string
	// Flags are the flags of assertions (default UP|UV).
	Flags byte
	// Counter is the signature counter of the next assertion (incremented
	// before each; set it back to play a clone).
	Counter uint32

	RPID         string
	CredentialID []byte
	UserHandle   []byte
	key          *ecdsa.PrivateKey
}

// New is an authenticator for pages on origin.
func New(origin string) *Authenticator {
	return &Authenticator{Origin: origin, Flags: FlagUP | FlagUV}
}

var b64 = base64.RawURLEncoding

// options reads the public_key of a begin answer (raw JSON of
// {flow_id, public_key} or of public_key itself).
func options(begun []byte) (map[string]any, error) {
	var wrap struct {
		PublicKey map[string]any `json:"public_key"`
	}
	if err := json.Unmarshal(begun, &wrap); err != nil {
		return nil, err
	}
	if wrap.PublicKey == nil {
		return nil, fmt.Errorf("passkeystest: no public_key in %s", begun)
	}
	return wrap.PublicKey, nil
}

func clientData(typ, challenge, origin string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": origin, "crossOrigin": false})
	return b
}

// Create makes a new credential for the creation options in begun and
// returns the credential JSON to post. The key is new; the credential id
// too, unless CredentialID is set (a second Create reuses it).
func (a *Authenticator) Create(begun []byte) (json.RawMessage, error) {
	o, err := options(begun)
	if err != nil {
		return nil, err
	}
	rp, _ := o["rp"].(map[string]any)
	user, _ := o["user"].(map[string]any)
	challenge, _ := o["challenge"].(string)
	a.RPID, _ = rp["id"].(string)
	uid, _ := user["id"].(string)
	if a.UserHandle, err = b64.DecodeString(uid); err != nil || a.RPID == "" || challenge == "" {
		return nil, fmt.Errorf("passkeystest: creation options without rp.id, user.id or challenge: %v", o)
	}
	if a.key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return nil, err
	}
	if a.CredentialID == nil {
		a.CredentialID = make([]byte, 32)
		_, _ = rand.Read(a.CredentialID)
	}
	pub, err := a.key.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		return nil, err
	}
	cose, err := cbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: pub[1:33], -3: pub[33:]})
	if err != nil {
		return nil, err
	}
	auth := a.authData(a.Flags|FlagAT, 0)
	auth = append(auth, make([]byte, 16)...) // AAGUID: zero
	auth = binary.BigEndian.AppendUint16(auth, uint16(len(a.CredentialID)))
	auth = append(auth, a.CredentialID...)
	auth = append(auth, cose...)
	att, err := cbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": auth})
	if err != nil {
		return nil, err
	}
	return a.credential(map[string]any{
		"clientDataJSON":    b64.EncodeToString(clientData("webauthn.create", challenge, a.Origin)),
		"attestationObject": b64.EncodeToString(att),
		"transports":        []string{"internal", "hybrid"},
	})
}

// credential is the PublicKeyCredential JSON around response.
func (a *Authenticator) credential(response map[string]any) (json.RawMessage, error) {
	id := b64.EncodeToString(a.CredentialID)
	return json.Marshal(map[string]any{
		"id": id, "rawId": id, "type": "public-key", "clientExtensionResults": map[string]any{}, "response": response,
	})
}

func (a *Authenticator) authData(flags byte, counter uint32) []byte {
	h := sha256.Sum256([]byte(a.RPID))
	out := append([]byte{}, h[:]...)
	out = append(out, flags)
	return binary.BigEndian.AppendUint32(out, counter)
}

// Get signs the request options in begun with the credential and returns
// the assertion JSON to post. The counter goes up by one first.
func (a *Authenticator) Get(begun []byte) (json.RawMessage, error) {
	if a.key == nil {
		return nil, fmt.Errorf("passkeystest: no credential yet (Create first)")
	}
	o, err := options(begun)
	if err != nil {
		return nil, err
	}
	challenge, _ := o["challenge"].(string)
	if challenge == "" {
		return nil, fmt.Errorf("passkeystest: request options without a challenge: %v", o)
	}
	a.Counter++
	auth := a.authData(a.Flags, a.Counter)
	cd := clientData("webauthn.get", challenge, a.Origin)
	h := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, auth...), h[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, a.key, digest[:])
	if err != nil {
		return nil, err
	}
	return a.credential(map[string]any{
		"clientDataJSON":    b64.EncodeToString(cd),
		"authenticatorData": b64.EncodeToString(auth),
		"signature":         b64.EncodeToString(sig),
		"userHandle":        b64.EncodeToString(a.UserHandle),
	})
}
