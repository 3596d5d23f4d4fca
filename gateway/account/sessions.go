package account

import (
	"context"
	"errors"
	"time"

	"github.com/gofiber/fiber/v2"

	"gatehouse/gateway"
	"gatehouse/gateway/session"
)

// ---- sessions ----

// SessionJSON is one session in GET /me/sessions.
type SessionJSON struct {
	ID         string    `json:"id"`
	Current    bool      `json:"current"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	IP         string    `json:"ip"`
	UserAgent  string    `json:"user_agent"`
	Method     string    `json:"method"`
}

func (s *Service) sessionsOf(ctx context.Context, userID, current string) ([]SessionJSON, error) {
	recs, err := s.sessions.List(ctx, userID)
	if err != nil {
		return nil, gateway.Internal(err)
	}
	out := make([]SessionJSON, 0, len(recs))
	for _, r := range recs {
		out = append(out, SessionJSON{ID: r.ID, Current: r.ID == current, CreatedAt: r.CreatedAt.UTC(),
			LastSeenAt: r.LastSeenAt.UTC(), IP: r.IP, UserAgent: r.UserAgent, Method: r.Method})
	}
	return out, nil
}

// listMySessions is GET /me/sessions, newest first.
func (s *Service) listMySessions(c *fiber.Ctx) error {
	cl, err := s.core.Caller(c)
	if err != nil {
		return err
	}
	out, err := s.sessionsOf(c.UserContext(), cl.Session.UserID, cl.Session.ID)
	if err != nil {
		return err
	}
	return c.JSON(out)
}

// endMySession is DELETE /me/sessions/{id}: ends one of the caller's
// sessions (another user's id is 404) with its refresh tokens.
func (s *Service) endMySession(c *fiber.Ctx) error {
	ctx := c.UserContext()
	cl, err := s.core.Caller(c)
	if err != nil {
		return err
	}
	id := c.Params("id")
	if err := s.sessions.DeleteByID(ctx, cl.Session.UserID, id); errors.Is(err, session.ErrNotFound) {
		return gateway.NotFound()
	} else if err != nil {
		return gateway.Internal(err)
	}
	if err := s.core.RevokeSessionTokens(ctx, id); err != nil {
		return gateway.Internal(err)
	}
	if id == cl.Session.ID && !cl.Bearer {
		s.core.ClearSessionCookie(c)
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// Device names the session's browser and operating system ("Chrome on
// macOS"), "" when the user agent says neither.
func (j SessionJSON) Device() string { return session.DeviceName(j.UserAgent) }
