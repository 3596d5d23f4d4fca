// Package events records Gatehouse's security and account events and hands
// them to event sinks (the audit and webhooks plugins).
//
// Emit does two things in the caller's transaction, so an event exists
// exactly when the change it describes was committed:
//
//   - it writes the audit_events row (actor, subject, email, ip, user
//     agent, request id, time, type, data) — the audit log and the admin
//     metrics read these rows;
//   - it enqueues one durable outbox item per sink (kind "event:<sink
//     id>"), so each sink receives the event at least once, retried with
//     backoff, independently of the others and across restarts.
package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"gorm.io/gorm"

	"gatehouse/gateway"
	"gatehouse/gateway/db"
	"gatehouse/gateway/outbox"
)

// Event types (SPEC §8 lists those webhooks carry; the rest are audit only).
const (
	UserCreated      = "user.created"
	UserVerified     = "user.verified"
	UserLogin        = "user.login"
	UserLoginFailed  = "user.login_failed"
	UserLocked       = "user.locked"
	UserLogout       = "user.logout"
	UserUpdated      = "user.updated"
	UserDeleted      = "user.deleted"
	PasswordChanged  = "user.password_changed"
	PasswordReset    = "user.password_reset"
	EmailChanged     = "user.email_changed"
	MFAEnabled       = "user.mfa_enabled"
	MFADisabled      = "user.mfa_disabled"
	IdentityLinked   = "user.identity_linked"
	IdentityUnlinked = "user.identity_unlinked"
	PasskeyAdded     = "user.passkey_added"
	PasskeyRemoved   = "user.passkey_removed"
	PasskeyCloned    = "user.passkey_clone_detected" // a sign counter that did not grow; refused
	MemberAdded      = "workspace.member_added"
	MemberRemoved    = "workspace.member_removed"
	MemberRole       = "workspace.member_role_changed"
	WorkspaceEvent   = "workspace.changed"
	InviteEvent      = "workspace.invite_changed"
	AdminAction      = "admin.action"
	// The OpenID Connect provider (audit only).
	OIDCAuthorized   = "oidc.authorized"      // a user signed in to a client
	OIDCConsent      = "oidc.consent_granted" // explicit consent given
	OIDCDisconnected = "oidc.app_disconnected"
	OIDCReplayed     = "oidc.token_replayed" // a used code or refresh token came back; its grant is revoked
)

// Record is one event as the caller describes it.
type Record struct {
	Type      string
	ActorID   string // who did it ("" = the subject itself or the system)
	SubjectID string // whom it concerns
	Email     string // the subject's email at the time
	IP        string
	UserAgent string
	RequestID string
	Data      map[string]any // event-specific fields (no secrets)
}

// Emitter writes events and fans them out to sinks.
type Emitter struct {
	db       *gorm.DB
	ob       *outbox.Queue
	log      *slog.Logger
	now      func() time.Time
	sinks    []string
	counters *counters
}

// New builds an emitter on the database and its outbox.
func New(gdb *gorm.DB, ob *outbox.Queue, log *slog.Logger) *Emitter {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Emitter{db: gdb, ob: ob, log: log, now: time.Now, counters: newCounters()}
}

// AddSink delivers every later event to sink through the outbox, under
// kind "event:"+id. Call before the outbox worker starts.
func (e *Emitter) AddSink(id string, sink gateway.EventSink) {
	kind := db.OutboxEvent + ":" + id
	for _, k := range e.sinks {
		if k == kind {
			// Two sinks under one id would share one outbox kind, and one
			// handler would receive both sinks' items: keep the first.
			e.log.Error("event sink id used twice: the second is ignored; give plugin instances distinct ids", "id", id)
			return
		}
	}
	e.sinks = append(e.sinks, kind)
	e.ob.Handle(kind, func(ctx context.Context, payload []byte) error {
		var ev gateway.Event
		if err := json.Unmarshal(payload, &ev); err != nil {
			return outbox.Permanent(fmt.Errorf("events: undecodable payload: %w", err))
		}
		return sink.OnEvent(ctx, ev)
	})
}

// Emit records r in tx (nil: its own write) and queues it for every sink.
func (e *Emitter) Emit(ctx context.Context, tx *gorm.DB, r Record) error {
	if r.Type == "" {
		return errors.New("events: empty type")
	}
	now := e.now().UTC()
	data, err := json.Marshal(orEmpty(r.Data))
	if err != nil {
		return fmt.Errorf("events: data: %w", err)
	}
	row := db.AuditEvent{ID: db.NewID(), Time: now, Type: r.Type, RequestID: r.RequestID, Data: string(data),
		ActorID: ptr(r.ActorID), SubjectID: ptr(r.SubjectID), Email: ptr(r.Email), IP: ptr(r.IP), UserAgent: ptr(r.UserAgent)}
	write := func(tx *gorm.DB) error {
		if err := tx.Create(&row).Error; err != nil {
			return err
		}
		if len(e.sinks) == 0 {
			return nil
		}
		payload, err := json.Marshal(gateway.Event{ID: row.ID, Type: r.Type, Time: now, Data: eventData(r)})
		if err != nil {
			return err
		}
		for _, kind := range e.sinks {
			if err := e.ob.Enqueue(ctx, tx, kind, payload); err != nil {
				return err
			}
		}
		return nil
	}
	if tx != nil {
		err = write(tx.WithContext(ctx))
	} else {
		err = e.db.WithContext(ctx).Transaction(write)
	}
	if err == nil {
		e.counters.count(r)
	}
	return err
}

// eventData is what sinks see: the subject and the event's own fields.
func eventData(r Record) map[string]any {
	d := map[string]any{}
	for k, v := range r.Data {
		d[k] = v
	}
	if r.SubjectID != "" {
		if _, ok := d["user_id"]; !ok {
			d["user_id"] = r.SubjectID
		}
	}
	if r.Email != "" {
		if _, ok := d["email"]; !ok {
			d["email"] = r.Email
		}
	}
	if r.ActorID != "" && r.ActorID != r.SubjectID {
		d["actor_id"] = r.ActorID
	}
	return d
}

// Erase removes a user's personal data (email, ip, user agent) from the
// earlier records about it, keeping the rest (SPEC §4 admin).
func Erase(ctx context.Context, gdb *gorm.DB, userID string) error {
	return gdb.WithContext(ctx).Model(&db.AuditEvent{}).
		Where("subject_id = ? OR actor_id = ?", userID, userID).
		Updates(map[string]any{"email": nil, "ip": nil, "user_agent": nil}).Error
}

func orEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

func ptr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
