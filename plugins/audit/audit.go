// Package audit is the audit plugin. Gatehouse always records its
// security and account events in the audit_events table (GET
// /admin/audit reads it); this plugin adds a retention period, after
// which a background purge deletes older records, and an optional log
// stream: one "audit" line per event with its type, ids and request id —
// never an email, IP address or user agent, because a log cannot be
// erased when a user is deleted and the audit table can.
//
//	plugins:
//	  - name: audit
//	    options:
//	      retention: 2160h   # 90 days; 0 (default) keeps records forever
//	      log: true
package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"gorm.io/gorm"

	"gatehouse/config"
	"gatehouse/gateway"
	"gatehouse/gateway/db"
)

// Info registers the plugin as audit. It is an event sink, not a
// middleware: the phase only satisfies the registry.
func Info() gateway.PluginInfo {
	return gateway.PluginInfo{
		Name:  "audit",
		Phase: gateway.PhaseEdge,
		New:   func() gateway.Plugin { return new(Plugin) },
	}
}

// MinRetention is the shortest retention: the purge runs hourly.
const MinRetention = time.Hour

// purgeEvery is how often the purge runs.
const purgeEvery = time.Hour

// purgeBatch is how many records one DELETE removes, so that a first
// purge of a large table never holds a long lock.
const purgeBatch = 1000

// Plugin keeps the audit log to its retention and mirrors it to the log.
type Plugin struct {
	// Retention is how long audit records are kept, e.g. 2160h (90 days);
	// 0 keeps them forever. At least 1h when set.
	Retention config.Duration `yaml:"retention"`
	// Log writes one "audit" line per event (type, event id, actor,
	// subject, request id) through the instance's logger.
	Log bool `yaml:"log"`

	db    *gorm.DB
	log   *slog.Logger
	clock gateway.Clock
	every time.Duration
	stop  context.CancelFunc
	wg    sync.WaitGroup
}

var (
	_ gateway.EventSink = (*Plugin)(nil)
	_ gateway.Validator = (*Plugin)(nil)
)

// Validate checks the retention.
func (p *Plugin) Validate() error {
	if r := p.Retention.Std(); r != 0 && r < MinRetention {
		return fmt.Errorf("retention: want 0 (keep forever) or at least %s, got %s", config.Duration(MinRetention), p.Retention)
	}
	return nil
}

// Provision keeps the database and logger and, with a retention, starts
// the purge (once at start, then hourly) until Close.
func (p *Plugin) Provision(ctx context.Context, h *gateway.Host) error {
	p.db, p.log, p.clock = h.DB, h.Logger, h.Clock
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.clock == nil {
		p.clock = gateway.SystemClock{}
	}
	if p.Retention == 0 {
		return nil
	}
	if p.db == nil {
		return errors.New("retention: needs the database")
	}
	if p.every <= 0 {
		p.every = purgeEvery
	}
	// The purge outlives Provision's context: Close stops it.
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p.stop = cancel
	p.wg.Go(func() { p.run(rctx) })
	return nil
}

// run purges at once, then every p.every, until ctx ends.
func (p *Plugin) run(ctx context.Context) {
	t := time.NewTicker(p.every)
	defer t.Stop()
	for {
		if n, err := p.Purge(ctx); err != nil && ctx.Err() == nil {
			p.log.Error("audit: purge failed; will retry", "error", err)
		} else if n > 0 {
			p.log.Info("audit: purged old records", "deleted", n, "retention", p.Retention.String())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Purge deletes the audit records older than the retention, a batch at a
// time, and returns how many it deleted. Every replica may run it: the
// deletes are idempotent.
func (p *Plugin) Purge(ctx context.Context) (int64, error) {
	if p.Retention == 0 || p.db == nil {
		return 0, nil
	}
	cutoff := p.clock.Now().UTC().Add(-p.Retention.Std())
	var total int64
	for {
		res := p.db.WithContext(ctx).Exec(`DELETE FROM audit_events WHERE id IN
			(SELECT id FROM audit_events WHERE "time" < ? LIMIT ?)`, cutoff, purgeBatch)
		if res.Error != nil {
			return total, fmt.Errorf("audit: purge: %w", res.Error)
		}
		total += res.RowsAffected
		if res.RowsAffected == purgeBatch {
			continue
		}
		// A short batch is not the end when another replica (or the
		// background purge) deletes at the same time: its rows were
		// skipped here. Done only when no old record is left.
		var left int64
		if err := p.db.WithContext(ctx).Raw(`SELECT COUNT(*) FROM (SELECT 1 FROM audit_events WHERE "time" < ? LIMIT 1) AS o`, cutoff).
			Scan(&left).Error; err != nil {
			return total, fmt.Errorf("audit: purge: %w", err)
		}
		if left == 0 {
			return total, nil
		}
	}
}

// Close stops the purge and waits for it.
func (p *Plugin) Close() error {
	if p.stop != nil {
		p.stop()
		p.wg.Wait()
		p.stop = nil
	}
	return nil
}

// OnEvent writes the event's log line when log is on. The actor, subject
// and request id come from the event's audit record (the event carries
// only what sinks may see); a record already purged falls back to the
// event's user_id and actor_id. Delivery is at least once: a line may
// repeat, with the same event_id.
func (p *Plugin) OnEvent(ctx context.Context, e gateway.Event) error {
	if !p.Log {
		return nil
	}
	if p.log == nil {
		return errors.New("audit: not provisioned")
	}
	var row db.AuditEvent
	found := false
	if p.db != nil {
		err := p.db.WithContext(ctx).Select("id", "actor_id", "subject_id", "request_id").
			Where("id = ?", e.ID).Limit(1).Find(&row).Error
		if err != nil {
			return fmt.Errorf("audit: read record %s: %w", e.ID, err)
		}
		found = row.ID != ""
	}
	actor, subject, requestID := "", "", ""
	if found {
		actor, subject, requestID = deref(row.ActorID), deref(row.SubjectID), row.RequestID
	} else {
		actor, _ = e.Data["actor_id"].(string)
		subject, _ = e.Data["user_id"].(string)
	}
	p.log.LogAttrs(ctx, slog.LevelInfo, "audit",
		slog.String("type", e.Type),
		slog.String("event_id", e.ID),
		slog.Time("event_time", e.Time.UTC()),
		slog.String("actor_id", actor),
		slog.String("subject_id", subject),
		slog.String("request_id", requestID),
	)
	return nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
