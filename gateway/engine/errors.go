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
// that logs a failed request.
func (s *Server) errorHandler(c *fiber.Ctx, err error) error {
	var ge *gateway.Error
	var fe *fiber.Error
	switch {
	case errors.As(err, &ge):
	case errors.As(err, &fe):
		ge = fromFiberError(fe)
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		ge = gateway.PayloadTooLarge()
	default:
		ge = gateway.Internal(err)
	}
	l := gateway.Log(c)
	if ge.Status >= 500 {
		l.Error("request failed", "code", ge.Code, "status", ge.Status, "error", err)
	} else if ge.Err != nil {
		l.Debug("request refused", "code", ge.Code, "status", ge.Status, "error", ge.Err)
	}
	if st := stateOf(c); (st == nil || !st.noRedirect) && s.wantsRedirect(c) {
		switch ge.Code {
		case "unauthenticated":
			return c.Redirect(s.signInURL(c, ""), fiber.StatusFound)
		case "role_required":
			return c.Redirect(s.publicURL+s.authPrefix+"/onboarding", fiber.StatusFound)
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

// wantsRedirect: a GET/HEAD that accepts HTML gets a 302 to sign-in.
func (s *Server) wantsRedirect(c *fiber.Ctx) bool {
	m := c.Method()
	if m != fiber.MethodGet && m != fiber.MethodHead {
		return false
	}
	return strings.Contains(strings.ToLower(c.Get(fiber.HeaderAccept)), "text/html")
}

// signInURL is {public_url}{auth_prefix}/sign-in?rd=<the URL the client
// asked for> (rd given, or this request's own URL).
func (s *Server) signInURL(c *fiber.Ctx, rd string) string {
	if rd == "" {
		rd = gateway.ClientProto(c) + "://" + gateway.ClientHost(c) + string(c.Request().RequestURI())
	}
	return s.publicURL + s.authPrefix + "/sign-in?rd=" + url.QueryEscape(rd)
}
