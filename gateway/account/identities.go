package account

import (
	"gatehouse/gateway"
	"gatehouse/gateway/db"
	"gatehouse/gateway/events"
	"net/url"
	"time"

	"github.com/gofiber/fiber/v2"
)

// IdentityJSON is a linked provider in GET /me/identities.
type IdentityJSON struct {
	Provider  string    `json:"provider"`
	Subject   string    `json:"subject"`
	Email     string    `json:"email"`
	CreatedAt time.Time `json:"created_at"`
}

func (s *Service) listIdentities(c *fiber.Ctx) error {
	cl, err := s.core.Caller(c)
	if err != nil {
		return err
	}
	var ids []db.Identity
	if err := s.db.WithContext(c.UserContext()).Where("user_id = ?", cl.Session.UserID).Order("created_at").Find(&ids).Error; err != nil {
		return gateway.Internal(err)
	}
	out := make([]IdentityJSON, 0, len(ids))
	for _, i := range ids {
		out = append(out, IdentityJSON{Provider: i.Provider, Subject: i.Subject, Email: i.Email, CreatedAt: i.CreatedAt.UTC()})
	}
	return c.JSON(out)
}

// unlinkIdentity is DELETE /me/identities/{provider}: refused (last_method)
// when it is the only way left to sign in (no password, no other provider,
// no passkey).
func (s *Service) unlinkIdentity(c *fiber.Ctx) error {
	ctx := c.UserContext()
	cl, err := s.core.Caller(c)
	if err != nil {
		return err
	}
	provider := c.Params("provider")
	if p, err := url.PathUnescape(provider); err == nil {
		provider = p
	}
	u, err := s.core.UserByID(ctx, cl.Session.UserID)
	if err != nil {
		return err
	}
	if u == nil {
		return gateway.Unauthenticated()
	}
	var ids []db.Identity
	if err := s.db.WithContext(ctx).Where("user_id = ?", u.ID).Find(&ids).Error; err != nil {
		return gateway.Internal(err)
	}
	found := false
	for _, i := range ids {
		if i.Provider == provider {
			found = true
		}
	}
	if !found {
		return gateway.NotFound()
	}
	if !u.HasPassword() && len(ids) <= 1 && !s.core.HasPasskey(ctx, u.ID) {
		return gateway.LastMethod()
	}
	if err := s.db.WithContext(ctx).Where("user_id = ? AND provider = ?", u.ID, provider).Delete(&db.Identity{}).Error; err != nil {
		return gateway.Internal(err)
	}
	s.core.Emit(c, nil, events.IdentityUnlinked, u.ID, u.Email, map[string]any{"provider": provider})
	return c.SendStatus(fiber.StatusNoContent)
}
