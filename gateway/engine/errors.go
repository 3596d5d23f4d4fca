package engine

import (
	"errors"
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"gatehouse/gateway"
)

// errorHandler renders every error in SPEC §4's shape; it is the one place
// that logs a failed request. A dependency that did not answer (the
// database, the store, the request's deadline) is 503 unavailable with
// Retry-After (gateway.Classify), never 500 and never a verdict.
func (s *Server) errorHandler(c *fiber.Ctx, err error) error {
	var ge *gateway.Error
	var fe *fiber.Error
	switch {
	case errors.As(err, &ge):
		ge = gateway.Classify(ge)
	case errors.As(err, &fe):
		ge = fromFiberError(fe)
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		ge = gateway.PayloadTooLarge()
	default:
		ge = gateway.Classify(err)
	}
	l := gateway.Log(c)
	if ge.Status >= 500 {
		l.Error("request failed", "code", ge.Code, "status", ge.Status, "error", err)
	} else if ge.Err != nil {
		l.Debug("request refused", "code", ge.Code, "status", ge.Status, "error", ge.Err)
	}
	if !stateOf(c).noRedirect {
		if loc, ok := s.redirect(c, ge, c.Method(), ""); ok {
			return c.Redirect(loc, fiber.StatusFound)
		}
	}
	resp := c.Response()
	if resp.IsBodyStream() {
		resp.ResetBody()
	}
	if ge.RetryAfter > 0 {
		c.Set(fiber.HeaderRetryAfter, gateway.RetryAfterHeader(ge.RetryAfter))
	}
	if ge.Status == fiber.StatusUnauthorized {
		c.Set(fiber.HeaderWWWAuthenticate, "Bearer")
	}
	body := ge.Body()
	if ge.Status >= 500 {
		body["request_id"] = gateway.RequestID(c)
	}
	return c.Status(ge.Status).JSON(body)
}

func fromFiberError(fe *fiber.Error) *gateway.Error {
	switch fe.Code {
	case fiber.StatusNotFound:
		return gateway.NotFound()
	case fiber.StatusRequestEntityTooLarge:
		return gateway.PayloadTooLarge()
	case fiber.StatusMethodNotAllowed:
		return gateway.NewError(fe.Code, "method_not_allowed", "method not allowed")
	case fiber.StatusRequestHeaderFieldsTooLarge:
		return gateway.NewError(fe.Code, "headers_too_large", "request headers too large")
	case fiber.StatusRequestTimeout:
		return gateway.NewError(fe.Code, "request_timeout", "request timeout")
	case fiber.StatusBadGateway:
		return gateway.BadGateway()
	}
	if fe.Code >= 500 {
		return gateway.Internal(fe)
	}
	return gateway.ValidationFailed(map[string]string{"request": fe.Message})
}

// redirect is the one "302 instead of the error" decision (SPEC §3): a
// browser request (method GET or HEAD, Accept including text/html)
// refused as unauthenticated goes to {auth_prefix}/sign-in?rd=<rd>, one
// refused for want of a platform role to {auth_prefix}/onboarding. rd ""
// is this request's own URL; forward-auth passes the described request's
// method and URL. ok is false when the error is to be answered as is.
func (s *Server) redirect(c *fiber.Ctx, err error, method, rd string) (loc string, ok bool) {
	if method != fiber.MethodGet && method != fiber.MethodHead {
		return "", false
	}
	if !strings.Contains(strings.ToLower(c.Get(fiber.HeaderAccept)), "text/html") {
		return "", false
	}
	var ge *gateway.Error
	if !errors.As(err, &ge) {
		return "", false
	}
	page := ""
	switch ge.Code {
	case "unauthenticated":
		page = "/sign-in"
	case "role_required":
		page = "/onboarding"
	default:
		return "", false
	}
	if rd == "" {
		rd = gateway.ClientProto(c) + "://" + gateway.ClientHost(c) + string(c.Request().RequestURI())
	}
	return s.publicURL + s.authPrefix + page + "?rd=" + url.QueryEscape(rd), true
}
