// Package httpx holds the small HTTP helpers every feature's handlers
// share: decoding a JSON or form body into a struct (Bind), refusing
// unknown keys (BindStrict), and telling a browser form post or an HTML
// client from an API client. Errors are the SPEC's validation_failed.
package httpx

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"gatehouse/gateway"
)

// Bind decodes a JSON or form-encoded (or multipart) body into v. An
// empty body is {}. Malformed JSON, or a value of the wrong type, is 400
// validation_failed naming the field ("body" when none).
func Bind(c *fiber.Ctx, v any) error {
	ct := strings.ToLower(string(c.Request().Header.ContentType()))
	body := c.Request().Body()
	switch {
	case strings.HasPrefix(ct, fiber.MIMEApplicationForm), strings.HasPrefix(ct, fiber.MIMEMultipartForm):
		m := map[string]any{}
		c.Request().PostArgs().VisitAll(func(k, val []byte) { m[string(k)] = string(val) })
		if mf, err := c.MultipartForm(); err == nil && mf != nil {
			for k, vs := range mf.Value {
				if len(vs) > 0 {
					m[k] = vs[0]
				}
			}
		}
		b, _ := json.Marshal(m)
		body = b
	case len(body) == 0:
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return gateway.ValidationFailed(map[string]string{te.Field: "has the wrong type"})
		}
		return gateway.ValidationFailed(map[string]string{"body": "malformed JSON"})
	}
	return nil
}

// BindStrict is Bind, refusing (all at once) any top-level key not in
// allowed.
func BindStrict(c *fiber.Ctx, v any, allowed ...string) error {
	var raw map[string]json.RawMessage
	if err := Bind(c, &raw); err != nil {
		return err
	}
	fields := map[string]string{}
	for k := range raw {
		if !slices.Contains(allowed, k) {
			fields[k] = "unknown field; allowed: " + strings.Join(allowed, ", ")
		}
	}
	if len(fields) > 0 {
		return gateway.ValidationFailed(fields)
	}
	return Bind(c, v)
}

// IsForm reports a browser form post (form-encoded or multipart body).
func IsForm(c *fiber.Ctx) bool {
	ct := strings.ToLower(string(c.Request().Header.ContentType()))
	return strings.HasPrefix(ct, fiber.MIMEApplicationForm) || strings.HasPrefix(ct, fiber.MIMEMultipartForm)
}

// AcceptsHTML reports a client that asks for HTML (a browser).
func AcceptsHTML(c *fiber.Ctx) bool {
	return strings.Contains(strings.ToLower(c.Get(fiber.HeaderAccept)), "text/html")
}

// Clip makes text from the network storable: invalid UTF-8 and NUL
// become U+FFFD, and s is cut to at most n bytes on a rune boundary. A
// user agent with a NUL or a character split by the cut would otherwise
// make Postgres refuse the row it is stored in (an audit record lost).
func Clip(s string, n int) string {
	if len(s) <= n && utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
	if len(s) > n {
		cut := n
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	return s
}
