package auth

import (
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"

	"gatehouse/gateway"
	"gatehouse/gateway/pages"
)

// AfterSignIn is where a signed-in browser goes: a safe rd; without one,
// the app's home (ui.home_url, else public_url).
func (s *Service) AfterSignIn(c *fiber.Ctx) string {
	if strings.TrimSpace(c.FormValue("rd")) == "" {
		return s.pages.Home()
	}
	return s.SafeRedirect(c.FormValue("rd"))
}

// SignedOut reports whether err (from Caller) says the visitor has no
// session: a page then sends them to sign in. Any other error (an
// outage) is the page's error, never a trip to the sign-in page.
func SignedOut(err error) bool {
	return errors.Is(err, gateway.ErrUnauthenticated) || errors.Is(err, gateway.ErrInvalidToken)
}

// callerEmail is the signed-in visitor's email for the pages ("" for
// none, or when the session cannot be read).
func (s *Service) callerEmail(c *fiber.Ctx) string {
	cl, ok, err := s.caller(c)
	if err != nil || !ok {
		return ""
	}
	return cl.Session.Email
}

// PageLanguage is the language the request asks for (?lang=, the
// language cookie or Accept-Language, matched against ui.languages); ok
// is false when it asks for none, so that an API client without the
// headers does not change a user's language.
func (s *Service) PageLanguage(c *fiber.Ctx) (string, bool) {
	if c.Query("lang") == "" && c.Cookies(pages.LangCookie) == "" && c.Get(fiber.HeaderAcceptLanguage) == "" {
		return "", false
	}
	return s.pages.Language(c), true
}

// RequestLanguage is PageLanguage, "" when the request asks for none.
func (s *Service) RequestLanguage(c *fiber.Ctx) string {
	l, _ := s.PageLanguage(c)
	return l
}
