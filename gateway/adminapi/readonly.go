package adminapi

import (
	"bytes"
	"encoding/json"
	"slices"
	"time"

	"gatehouse/gateway/auth"
)

// msgReadOnly is the message of a read-only field sent with another value.
const msgReadOnly = "read-only: send it back unchanged or leave it out"

// readOnly are the fields of the user object that PATCH and PUT do not
// change. react-admin's edit form sends the whole record back, so each may
// be sent with the value the API gave; a different value is refused. Each
// compares its sent value with the current one by meaning, not by bytes.
var readOnly = map[string]func(raw json.RawMessage, cur auth.UserJSON) bool{
	"id":            func(raw json.RawMessage, cur auth.UserJSON) bool { return sameText(raw, cur.ID) },
	"avatar_url":    func(raw json.RawMessage, cur auth.UserJSON) bool { return sameText(raw, cur.AvatarURL) },
	"mfa_enabled":   func(raw json.RawMessage, cur auth.UserJSON) bool { return sameBool(raw, cur.MFAEnabled) },
	"auth_methods":  func(raw json.RawMessage, cur auth.UserJSON) bool { return sameSet(raw, cur.AuthMethods) },
	"created_at":    func(raw json.RawMessage, cur auth.UserJSON) bool { return sameInstant(raw, &cur.CreatedAt) },
	"updated_at":    func(raw json.RawMessage, cur auth.UserJSON) bool { return sameInstant(raw, &cur.UpdatedAt) },
	"last_login_at": func(raw json.RawMessage, cur auth.UserJSON) bool { return sameInstant(raw, cur.LastLoginAt) },
}

// sameText: a string equal to cur; null stands for "" (what the API
// renders for an absent value).
func sameText(raw json.RawMessage, cur string) bool {
	if isNull(raw) {
		return cur == ""
	}
	s, ok := stringValue(raw)
	return ok && s == cur
}

// sameBool: a JSON boolean equal to cur.
func sameBool(raw json.RawMessage, cur bool) bool {
	var b bool
	return json.Unmarshal(raw, &b) == nil && !isNull(raw) && b == cur
}

// sameSet: a list of strings holding the same strings as cur, in any
// order (null: the empty list).
func sameSet(raw json.RawMessage, cur []string) bool {
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return false
	}
	a, b := slices.Clone(list), slices.Clone(cur)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

// sameInstant: null when cur is nil, else an RFC 3339 date-time of the
// same instant, in any zone. The API gives microseconds; a value cut to
// milliseconds (a JavaScript Date's round trip) is the same instant too.
func sameInstant(raw json.RawMessage, cur *time.Time) bool {
	if isNull(raw) || cur == nil {
		return isNull(raw) && cur == nil
	}
	s, ok := stringValue(raw)
	if !ok {
		return false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return false
	}
	return t.Equal(*cur) || t.Equal(cur.Truncate(time.Millisecond))
}

// readOnlyChanges puts under fields each read-only key of raw whose value
// is not cur's; the checked keys are removed from raw.
func readOnlyChanges(raw map[string]json.RawMessage, cur auth.UserJSON, fields map[string]string) {
	for k, v := range raw {
		same, ok := readOnly[k]
		if !ok {
			continue
		}
		if !same(bytes.TrimSpace(v), cur) {
			fields[k] = msgReadOnly
		}
		delete(raw, k)
	}
}
