package signin

import (
	"context"
	"errors"

	"github.com/gofiber/fiber/v2"

	"gatehouse/gateway"
	"gatehouse/gateway/httpx"
)

// Refresher rotates refresh tokens (POST /token/refresh).
type Refresher interface {
	Refresh(ctx context.Context, refreshToken string) (map[string]any, error)
}

// JWKSource publishes the signing keys.
type JWKSource interface {
	JWKS() []byte
}

type refreshReq struct {
	RefreshToken string `json:"refresh_token"`
}

// refresh is POST /token/refresh {refresh_token}: a new access and refresh
// token; the old refresh token dies, and reusing a dead one ends its whole
// family (and session).
func (s *Service) refresh(c *fiber.Ctx) error {
	r, ok := s.tokens.(Refresher)
	if s.tokens == nil || !ok {
		return gateway.NotFound()
	}
	var req refreshReq
	if err := httpx.Bind(c, &req); err != nil {
		return err
	}
	if req.RefreshToken == "" {
		return gateway.ValidationFailed(map[string]string{"refresh_token": "required"})
	}
	pair, err := r.Refresh(c.UserContext(), req.RefreshToken)
	if err != nil {
		var ge *gateway.Error
		if errors.As(err, &ge) && ge.Status < 500 {
			return gateway.InvalidToken()
		}
		return gateway.Internal(err)
	}
	return c.JSON(pair)
}

// jwks is GET /.well-known/jwks.json: the published signing keys.
func (s *Service) jwks(c *fiber.Ctx) error {
	if s.jwkSource == nil {
		return gateway.NotFound()
	}
	c.Set(fiber.HeaderContentType, "application/jwk-set+json")
	c.Set(fiber.HeaderCacheControl, "public, max-age=30")
	return c.Send(s.jwkSource.JWKS())
}
