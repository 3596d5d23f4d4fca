// Package oauthclient is what the OAuth 2 sign-in providers (google,
// github, oidc) share: App, a client registration that runs the
// authorization code flow with PKCE; GetJSON, a bounded bearer GET;
// Boolish; and the checks of endpoint overrides and PKCE verifiers.
package oauthclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// MaxBody caps the answers read from a provider.
const MaxBody = 1 << 20

// DefaultTimeout bounds every call to a provider (goth and x/oauth2 take
// no deadline of their own).
const DefaultTimeout = 10 * time.Second

// HTTPClient is c, or a client with DefaultTimeout when c is nil.
func HTTPClient(c *http.Client) *http.Client {
	if c == nil {
		return &http.Client{Timeout: DefaultTimeout}
	}
	return c
}

// StatusError is a non-200 answer to GetJSON.
type StatusError struct{ Code int }

func (e *StatusError) Error() string { return fmt.Sprintf("status %d", e.Code) }

// GetJSON GETs u through c with token as a bearer token and decodes a 200
// JSON answer into v; another status is a *StatusError. It asks for
// application/json; header adds to or replaces the request's headers.
// An answer over MaxBody is an error.
func GetJSON(ctx context.Context, c *http.Client, u, token string, header http.Header, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	for k, vs := range header {
		req.Header[http.CanonicalHeaderKey(k)] = slices.Clone(vs)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
	if err != nil {
		return err
	}
	if len(body) > MaxBody {
		return errors.New("answer too large")
	}
	if resp.StatusCode != http.StatusOK {
		return &StatusError{resp.StatusCode}
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("bad JSON: %w", err)
	}
	return nil
}

// Endpoint is the override val checked as an absolute http(s) URL, or def
// when val is empty; errors name the config key.
func Endpoint(key, val, def string) (string, error) {
	if val == "" {
		return def, nil
	}
	u, err := url.Parse(val)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Fragment != "" {
		return "", fmt.Errorf("%s: not an absolute http(s) URL: %q", key, val)
	}
	return val, nil
}

// CheckVerifier checks a PKCE code verifier: 43 to 128 characters of
// [A-Za-z0-9-._~] (RFC 7636 §4.1).
func CheckVerifier(v string) error {
	if len(v) < 43 || len(v) > 128 {
		return errors.New("PKCE verifier must be 43 to 128 characters")
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~", c) >= 0) {
			return errors.New("PKCE verifier has a character outside [A-Za-z0-9-._~]")
		}
	}
	return nil
}

// Boolish is a JSON boolean that also accepts "true" and "false" strings,
// as some providers send email_verified.
type Boolish bool

func (b *Boolish) UnmarshalJSON(data []byte) error {
	s := strings.Trim(string(data), `"`)
	switch {
	case strings.EqualFold(s, "true"):
		*b = true
	case strings.EqualFold(s, "false"), s == "null", s == "":
		*b = false
	default:
		return fmt.Errorf("want a boolean, got %s", data)
	}
	return nil
}
