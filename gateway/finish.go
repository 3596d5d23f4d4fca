package gateway

import "github.com/gofiber/fiber/v2"

// Finish lets the app's error handler render err now (nil: nothing to do),
// so that a middleware that works on the response after c.Next (headers,
// logging) sees the final one:
//
//	gateway.Finish(c, c.Next())
//	c.Response().Header.Set("X-Frame-Options", "DENY")
//	return nil
//
// Like Fiber itself, it falls back to a bare 500 when the error handler
// fails. The error is then answered: the middleware returns nil.
func Finish(c *fiber.Ctx, err error) {
	if err == nil {
		return
	}
	if herr := c.App().ErrorHandler(c, err); herr != nil {
		_ = c.SendStatus(fiber.StatusInternalServerError)
	}
}
