package account

import (
	"context"
	"net/url"
	"time"

	"github.com/gofiber/fiber/v2"

	"gatehouse/gateway"
)

// ConnectedApp is an app a user signed in to through Gatehouse's OpenID
// Connect provider, or consented to.
type ConnectedApp struct {
	ClientID string    `json:"client_id"`
	Name     string    `json:"name"`
	Scopes   []string  `json:"scopes"`
	Since    time.Time `json:"since"`
}

// ConnectedApps is what the account page asks the OpenID Connect provider
// (nil when it is off): the user's apps, and forgetting one (its consent
// and every grant it holds).
type ConnectedApps interface {
	List(ctx context.Context, userID string) ([]ConnectedApp, error)
	Disconnect(ctx context.Context, userID, clientID string) error
}

// listApps is GET /me/apps.
func (s *Service) listApps(c *fiber.Ctx) error {
	cl, err := s.core.Caller(c)
	if err != nil {
		return err
	}
	apps, err := s.apps.List(c.UserContext(), cl.Session.UserID)
	if err != nil {
		return err
	}
	if apps == nil {
		apps = []ConnectedApp{}
	}
	return c.JSON(fiber.Map{"apps": apps})
}

// disconnectApp is DELETE /me/apps/{client_id}: the app's consent is
// forgotten and its tokens stop working.
func (s *Service) disconnectApp(c *fiber.Ctx) error {
	cl, err := s.core.Caller(c)
	if err != nil {
		return err
	}
	client := c.Params("client_id")
	if p, err := url.PathUnescape(client); err == nil {
		client = p
	}
	ctx := c.UserContext()
	apps, err := s.apps.List(ctx, cl.Session.UserID)
	if err != nil {
		return err
	}
	found := false
	for _, a := range apps {
		found = found || a.ClientID == client
	}
	if !found {
		return gateway.NotFound()
	}
	if err := s.apps.Disconnect(ctx, cl.Session.UserID, client); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}
