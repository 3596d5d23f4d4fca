package auth

import (
	"context"
	"strings"

	"github.com/gofiber/fiber/v2"
	"gorm.io/gorm"

	"gatehouse/gateway"
	"gatehouse/gateway/events"
	"gatehouse/gateway/httpx"
)

// Emitter records events (audit rows) and hands them to the audit and
// webhooks plugins through the outbox.
type Emitter interface {
	Emit(ctx context.Context, tx *gorm.DB, r events.Record) error
}

// Emit records an event of a request after the change it describes is
// done: ip, user agent and request id come from c. A failure to record is
// logged (the change stands; answering an error would mislead); pass a tx
// to make the event part of the change, or use Record.
func (s *Service) Emit(c *fiber.Ctx, tx *gorm.DB, typ, subjectID, email string, data map[string]any) {
	if err := s.Record(c, tx, typ, subjectID, email, data); err != nil {
		s.log.Error("event not recorded", "type", typ, "error", err)
	}
}

// Record is Emit for events the request must not go on without (a
// sign-in, a failed sign-in): a failure to record is the request's error,
// so that no input can make an attempt go unaudited.
func (s *Service) Record(c *fiber.Ctx, tx *gorm.DB, typ, subjectID, email string, data map[string]any) error {
	if s.events == nil {
		return nil
	}
	r := events.Record{Type: typ, SubjectID: subjectID, Email: email, Data: data}
	ctx := context.Background()
	if c != nil {
		ctx = c.UserContext()
		r.IP = gateway.ClientIP(c).String()
		r.UserAgent = strings.Clone(httpx.Clip(c.Get(fiber.HeaderUserAgent), 256))
		r.RequestID = gateway.RequestID(c)
		if cl, ok, _ := s.caller(c); ok && cl.Session.UserID != subjectID {
			r.ActorID = cl.Session.UserID
		}
	}
	if err := s.events.Emit(ctx, tx, r); err != nil {
		return gateway.AsError(err)
	}
	return nil
}
