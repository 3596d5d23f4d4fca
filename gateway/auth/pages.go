package auth

import "github.com/gofiber/fiber/v2"

// AfterSignIn is where a signed-in browser goes: a safe rd, else "/".
func (s *Service) AfterSignIn(c *fiber.Ctx) string {
	return s.SafeRedirect(c.FormValue("rd"))
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
