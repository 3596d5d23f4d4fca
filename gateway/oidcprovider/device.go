package oidcprovider

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"gatehouse/gateway/store"
)

// deviceState is a device authorization (RFC 8628) in the ephemeral store,
// under the keyed hash of its device code; the user code points at it.
type deviceState struct {
	ClientID string    `json:"client_id"`
	Scopes   []string  `json:"scopes"`
	Expires  time.Time `json:"expires"`
	UserCode string    `json:"user_code"`
	Done     bool      `json:"done,omitempty"`
	Denied   bool      `json:"denied,omitempty"`
	Subject  string    `json:"subject,omitempty"`
	AMR      []string  `json:"amr,omitempty"`
	AuthTime time.Time `json:"auth_time,omitzero"`
}

// deviceGrace is how long an expired device authorization is kept.
const deviceGrace = 10 * time.Minute

// normalizeUserCode is a user code as typed (any case, spaces or dashes)
// in the form the store keys it by.
func normalizeUserCode(code string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(code) {
		if r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func (st storage) deviceKey(deviceCode string) string { return st.keyed("oidc-device", deviceCode) }

func (st storage) StoreDeviceAuthorization(ctx context.Context, clientID, deviceCode, userCode string, expires time.Time, scopes []string) error {
	cl, ok := st.clients[clientID]
	if !ok {
		return oidc.ErrInvalidClient()
	}
	ttl := expires.Sub(st.now())
	if ttl <= 0 {
		return errors.New("oidcprovider: device authorization expires at once")
	}
	dk := st.deviceKey(deviceCode)
	first, err := st.kv.SetNX(ctx, keyDeviceUser+normalizeUserCode(userCode), []byte(dk), ttl)
	if err != nil {
		return err
	}
	if !first {
		return op.ErrDuplicateUserCode
	}
	d := deviceState{ClientID: clientID, Scopes: cl.restrict(scopes), Expires: expires.UTC(), UserCode: userCode}
	return st.saveDevice(ctx, dk, &d)
}

func (st storage) saveDevice(ctx context.Context, dk string, d *deviceState) error {
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	// Kept a while after it expires, so that a late poll hears
	// expired_token rather than an unknown code.
	ttl := d.Expires.Sub(st.now()) + deviceGrace
	if ttl <= deviceGrace/2 {
		return errNotFound
	}
	return st.kv.Set(ctx, keyDevice+dk, b, ttl)
}

func (st storage) device(ctx context.Context, dk string) (*deviceState, error) {
	b, err := st.kv.Get(ctx, keyDevice+dk)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, err
	}
	var d deviceState
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// deviceByUserCode finds the pending authorization a user code names.
func (st storage) deviceByUserCode(ctx context.Context, userCode string) (string, *deviceState, error) {
	code := normalizeUserCode(userCode)
	if code == "" || len(code) > 16 {
		return "", nil, errNotFound
	}
	dk, err := st.kv.Get(ctx, keyDeviceUser+code)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil, errNotFound
	}
	if err != nil {
		return "", nil, err
	}
	d, err := st.device(ctx, string(dk))
	if err != nil {
		return "", nil, err
	}
	if d.Done || d.Denied || !st.now().Before(d.Expires) {
		return "", nil, errNotFound
	}
	return string(dk), d, nil
}

// GetDeviceAuthorizatonState answers the device's polling. An approved
// authorization is handed out once: it is deleted as it is read.
func (st storage) GetDeviceAuthorizatonState(ctx context.Context, clientID, deviceCode string) (*op.DeviceAuthorizationState, error) {
	dk := st.deviceKey(deviceCode)
	d, err := st.device(ctx, dk)
	if err != nil {
		return nil, err
	}
	if d.ClientID != clientID {
		return nil, errNotFound
	}
	if d.Done || d.Denied {
		if _, err := st.kv.GetDel(ctx, keyDevice+dk); err != nil {
			return nil, errNotFound // another poll took it
		}
		_ = st.kv.Del(ctx, keyDeviceUser+normalizeUserCode(d.UserCode))
	}
	return &op.DeviceAuthorizationState{ClientID: d.ClientID, Audience: []string{d.ClientID}, Scopes: d.Scopes,
		Expires: d.Expires, Done: d.Done, Denied: d.Denied, Subject: d.Subject, AMR: d.AMR, AuthTime: d.AuthTime}, nil
}

var _ op.DeviceAuthorizationStorage = storage{}
