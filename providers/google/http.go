package google

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// maxBody caps the answers read from the provider.
const maxBody = 1 << 20

// getJSON GETs u with a bearer token and decodes a 200 JSON answer into v.
func getJSON(ctx context.Context, c *http.Client, u, token string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return err
	}
	if len(body) > maxBody {
		return errors.New("answer too large")
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("bad JSON: %w", err)
	}
	return nil
}

// endpoint is the override val checked as an absolute http(s) URL, or def
// when val is empty; errors name the config key.
func endpoint(key, val, def string) (string, error) {
	if val == "" {
		return def, nil
	}
	u, err := url.Parse(val)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Fragment != "" {
		return "", fmt.Errorf("%s: not an absolute http(s) URL: %q", key, val)
	}
	return val, nil
}

// checkVerifier checks a PKCE code verifier: 43 to 128 characters of
// [A-Za-z0-9-._~] (RFC 7636 §4.1).
func checkVerifier(v string) error {
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

// boolish is a JSON boolean that also accepts "true" and "false" strings,
// as some providers send email_verified.
type boolish bool

func (b *boolish) UnmarshalJSON(data []byte) error {
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
