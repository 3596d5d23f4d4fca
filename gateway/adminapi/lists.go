package adminapi

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"gorm.io/gorm"

	"gatehouse/gateway"
	"gatehouse/gateway/auth"
	"gatehouse/gateway/db"
	"gatehouse/gateway/events"
)

// ---- lists ----

// listParams parses the request's list parameters.
func listParams(c *fiber.Ctx) (ListParams, error) {
	q, err := url.ParseQuery(string(c.Request().URI().QueryString()))
	if err != nil {
		return ListParams{}, gateway.ValidationFailed(map[string]string{"query": "malformed query string"})
	}
	return ParseListParams(q)
}

// listHeaders sets react-admin's paging headers.
func listHeaders(c *fiber.Ctx, total int64, start, end int) {
	c.Set("Content-Range", ContentRange("items", start, end, total))
	c.Set("X-Total-Count", strconv.FormatInt(total, 10))
	c.Set("Access-Control-Expose-Headers", "Content-Range, X-Total-Count")
}

// adminListUsers is GET /admin/users.
func (s *Service) adminListUsers(c *fiber.Ctx) error {
	ctx := c.UserContext()
	p, err := listParams(c)
	if err != nil {
		return err
	}
	var users []db.User
	total, start, end, err := List(ctx, s.db, Users, p, &users)
	if err != nil {
		return gateway.AsError(err)
	}
	out, err := s.usersJSON(ctx, users)
	if err != nil {
		return err
	}
	listHeaders(c, total, start, end)
	return c.JSON(fiber.Map{"data": out, "total": total})
}

// usersJSON renders a page of users with their sign-in methods, loading
// the linked providers of the whole page in one query.
func (s *Service) usersJSON(ctx context.Context, users []db.User) ([]auth.UserJSON, error) {
	ids := make([]string, len(users))
	for i := range users {
		ids[i] = users[i].ID
	}
	providers, err := Providers(ctx, s.db, ids)
	if err != nil {
		return nil, gateway.Internal(err)
	}
	out := make([]auth.UserJSON, len(users))
	for i := range users {
		out[i] = s.core.UserJSONWith(&users[i], providers[users[i].ID])
	}
	return out, nil
}

// adminListCodes is GET /admin/verification-requests: the emailed codes,
// never the code itself (only its keyed hash is stored, and that is not
// selected either).
func (s *Service) adminListCodes(c *fiber.Ctx) error {
	p, err := listParams(c)
	if err != nil {
		return err
	}
	var rows []VerificationRequest
	total, start, end, err := List(c.UserContext(), s.db, VerificationRequests, p, &rows)
	if err != nil {
		return gateway.AsError(err)
	}
	listHeaders(c, total, start, end)
	return c.JSON(fiber.Map{"data": rows, "total": total})
}

// adminDeleteCode is DELETE /admin/verification-requests/{id}: the code
// stops working at once.
func (s *Service) adminDeleteCode(c *fiber.Ctx) error {
	ctx := c.UserContext()
	id := c.Params("id")
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var code db.OneTimeCode
		if err := tx.Select("id", "user_id", "email", "purpose").Where("id = ?", id).Take(&code).Error; err != nil {
			return err
		}
		if err := tx.Where("id = ?", code.ID).Delete(&db.OneTimeCode{}).Error; err != nil {
			return err
		}
		return s.record(ctx, tx, adminEvent(c, events.AdminAction, db.Text(code.UserID), code.Email,
			map[string]any{"action": actionDeleteCode, "id": code.ID, "purpose": code.Purpose}))
	})
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return gateway.NotFound()
	}
	if err != nil {
		return gateway.Internal(err)
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// adminAudit is GET /admin/audit: the audit log, newest first by default.
func (s *Service) adminAudit(c *fiber.Ctx) error {
	p, err := listParams(c)
	if err != nil {
		return err
	}
	var rows []AuditEntry
	total, start, end, err := List(c.UserContext(), s.db, Audit, p, &rows)
	if err != nil {
		return gateway.AsError(err)
	}
	listHeaders(c, total, start, end)
	return c.JSON(fiber.Map{"data": rows, "total": total})
}

// ---- metrics ----

// adminMetrics is GET /admin/metrics.
func (s *Service) adminMetrics(c *fiber.Ctx) error {
	m, err := s.metrics(c.UserContext(), s.clock().UTC())
	if err != nil {
		return err
	}
	return c.JSON(m)
}

// metrics are the dashboard figures at now, as GET /admin/metrics and
// the console's activity page show them: email_code is among the sign-in
// methods only when that provider is on.
func (s *Service) metrics(ctx context.Context, now time.Time) (MetricsResult, error) {
	active, err := s.activeSessions(ctx, now)
	if err != nil {
		return MetricsResult{}, gateway.Internal(err)
	}
	m, err := Metrics(ctx, s.db, now, active)
	if err != nil {
		return MetricsResult{}, gateway.Internal(err)
	}
	if !s.core.EmailCodeLogin() {
		delete(m.UsersByAuthMethod, MethodEmailCode)
	}
	return m, nil
}

// activeSessions counts the live sessions. The session store has no
// global index (a Redis SCAN would walk every key of every replica's
// data), but every session starts at a sign-in that sets last_login_at,
// and none outlives session.max_lifetime, so only users who signed in
// within max_lifetime (and are not blocked: a block ends every session)
// can have one. For each of them the store's per-user index is read
// (which also prunes ended sessions), a few users at a time. At most
// maxSessionScan users are read, the most recent first; beyond that the
// figure is a lower bound.
func (s *Service) activeSessions(ctx context.Context, now time.Time) (int64, error) {
	life := s.maxLifetime
	var ids []string
	err := s.db.WithContext(ctx).Model(&db.User{}).
		Where("last_login_at >= ? AND blocked = ?", now.Add(-life), false).
		Order("last_login_at DESC").Limit(maxSessionScan).Pluck("id", &ids).Error
	if err != nil {
		return 0, err
	}
	var (
		total    atomic.Int64
		firstErr error
		once     sync.Once
		wg       sync.WaitGroup
	)
	next := make(chan string)
	for range min(sessionScanWorkers, len(ids)) {
		wg.Go(func() {
			for id := range next {
				recs, err := s.sessions.List(ctx, id)
				if err != nil {
					once.Do(func() { firstErr = err })
					continue
				}
				total.Add(int64(len(recs)))
			}
		})
	}
	for _, id := range ids {
		next <- id
	}
	close(next)
	wg.Wait()
	return total.Load(), firstErr
}
