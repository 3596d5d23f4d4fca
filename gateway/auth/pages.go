package auth

import "github.com/gofiber/fiber/v2"

// afterSignIn is where a signed-in browser goes: a safe rd, else "/".
func (s *Service) afterSignIn(c *fiber.Ctx) string {
	return s.safeRedirect(c.FormValue("rd"))
}
