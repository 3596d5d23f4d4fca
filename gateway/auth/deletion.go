package auth

import (
	"context"
	"encoding/json"
	"errors"
	"gatehouse/gateway"
	"gatehouse/gateway/db"
	"gatehouse/gateway/events"
	"strings"

	"gorm.io/gorm"
)

// DeleteAccount deletes a user: its memberships, identities, passkeys,
// recovery codes, refresh tokens and codes go with it (the database
// cascades), its sessions end on every replica, its personal data (email,
// IP, user agent) is erased from earlier audit records, and a user.deleted
// record without personal data remains. The owner of a workspace is
// refused (owns_workspaces); an unknown user is not_found. actorID is who
// deleted it (the user itself, or an admin).
func (s *Service) DeleteAccount(ctx context.Context, userID, actorID, requestID string) error {
	var owned int64
	if err := s.db.WithContext(ctx).Model(&db.Workspace{}).Where("owner_id = ?", userID).Count(&owned).Error; err != nil {
		return gateway.Internal(err)
	}
	if owned > 0 {
		return gateway.OwnsWorkspaces()
	}
	// Sessions first: should the rest fail, the user is only signed out.
	if err := s.EndAllSessions(ctx, userID); err != nil {
		return err
	}
	now := s.clock().UTC()
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var u db.User
		if err := tx.Where("id = ?", userID).Take(&u).Error; err != nil {
			return err
		}
		if err := scrubAudit(tx, userID, u.Email); err != nil {
			return err
		}
		// Codes sent to the address without naming the user (a first
		// login code) are personal data too.
		if err := tx.Where("email = ?", u.Email).Delete(&db.OneTimeCode{}).Error; err != nil {
			return err
		}
		if err := tx.Where("id = ?", userID).Delete(&db.User{}).Error; err != nil {
			return err
		}
		// What happened stays, not who it was: no email, IP or user agent.
		if s.events != nil {
			ev := events.Record{Type: events.UserDeleted, SubjectID: userID, RequestID: requestID}
			if actorID != userID {
				ev.ActorID = actorID
			}
			return s.events.Emit(ctx, tx, ev)
		}
		ev := db.AuditEvent{ID: db.NewID(), Time: now, Type: events.UserDeleted, SubjectID: &userID, RequestID: requestID, Data: "{}"}
		if actorID != "" && actorID != userID {
			ev.ActorID = &actorID
		}
		return tx.Create(&ev).Error
	})
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		return gateway.NotFound()
	case errors.Is(err, gorm.ErrForeignKeyViolated):
		return gateway.OwnsWorkspaces() // a workspace created meanwhile
	case err != nil:
		return gateway.Internal(err)
	}
	// A sign-in that raced with the deletion may have started a session.
	if err := s.sessions.DeleteUser(ctx, userID); err != nil {
		return gateway.Internal(err)
	}
	_ = s.kv.Del(ctx, s.devicesKey(userID))
	return nil
}

// scrubAudit erases a user's personal data from the audit records about
// it or by it, and those naming its address: the email, IP and user agent
// columns, and the address wherever it appears as a value in data.
func scrubAudit(tx *gorm.DB, userID, email string) error {
	where := tx.Where("actor_id = ? OR subject_id = ? OR email = ?", userID, userID, email)
	var rows []db.AuditEvent
	if err := tx.Model(&db.AuditEvent{}).Select("id", "data").Where(where).Find(&rows).Error; err != nil {
		return err
	}
	if err := tx.Model(&db.AuditEvent{}).Where(where).
		Updates(map[string]any{"email": nil, "ip": nil, "user_agent": nil}).Error; err != nil {
		return err
	}
	for _, r := range rows {
		if !strings.Contains(strings.ToLower(r.Data), email) {
			continue
		}
		var data any
		if err := json.Unmarshal([]byte(r.Data), &data); err != nil {
			data = map[string]any{}
		}
		clean, _ := json.Marshal(withoutValue(data, email))
		if err := tx.Model(&db.AuditEvent{}).Where("id = ?", r.ID).Update("data", string(clean)).Error; err != nil {
			return err
		}
	}
	return nil
}

// withoutValue drops every string equal to v (any case) from a decoded
// JSON value.
func withoutValue(x any, v string) any {
	switch t := x.(type) {
	case map[string]any:
		for k, e := range t {
			if s, ok := e.(string); ok && strings.EqualFold(s, v) {
				delete(t, k)
				continue
			}
			t[k] = withoutValue(e, v)
		}
		return t
	case []any:
		out := t[:0]
		for _, e := range t {
			if s, ok := e.(string); ok && strings.EqualFold(s, v) {
				continue
			}
			out = append(out, withoutValue(e, v))
		}
		return out
	}
	return x
}
