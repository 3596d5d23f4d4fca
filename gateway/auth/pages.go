package auth

import "github.com/gofiber/fiber/v2"

// AfterSignIn is where a signed-in browser goes: a safe rd, else "/".
func (s *Service) AfterSignIn(c *fiber.Ctx) string {
	return s.SafeRedirect(c.FormValue("rd"))
}
