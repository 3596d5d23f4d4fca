package db

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// slowQuery is the duration above which a statement is logged at Warn.
const slowQuery = 200 * time.Millisecond

// gormLogger routes gorm's logging to slog:
//   - statements slower than slowQuery: Warn;
//   - failed statements: Debug only, because the caller returns the error
//     and the edge logs it once (STYLE B6);
//   - every other statement: Debug.
//
// SQL is logged with its placeholders, never with parameter values
// (ParamsFilter drops them), so no password hash, code or token can reach a
// log line.
type gormLogger struct {
	log   *slog.Logger
	level logger.LogLevel
	slow  time.Duration
}

var (
	_ logger.Interface  = (*gormLogger)(nil)
	_ gorm.ParamsFilter = (*gormLogger)(nil)
)

func newGormLogger(l *slog.Logger) *gormLogger {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	// Info lets every trace through to slog, whose handler level decides.
	return &gormLogger{log: l, level: logger.Info, slow: slowQuery}
}

func (l *gormLogger) LogMode(level logger.LogLevel) logger.Interface {
	c := *l
	c.level = level
	return &c
}

func (l *gormLogger) Info(ctx context.Context, msg string, data ...any) {
	if l.level >= logger.Info {
		l.log.DebugContext(ctx, "gorm: "+fmt.Sprintf(msg, data...))
	}
}

func (l *gormLogger) Warn(ctx context.Context, msg string, data ...any) {
	if l.level >= logger.Warn {
		l.log.WarnContext(ctx, "gorm: "+fmt.Sprintf(msg, data...))
	}
}

func (l *gormLogger) Error(ctx context.Context, msg string, data ...any) {
	if l.level >= logger.Error {
		l.log.ErrorContext(ctx, "gorm: "+fmt.Sprintf(msg, data...))
	}
}

func (l *gormLogger) Trace(ctx context.Context, begin time.Time, fc func() (string, int64), err error) {
	if l.level <= logger.Silent {
		return
	}
	elapsed := time.Since(begin)
	level, msg := slog.LevelDebug, "sql"
	switch {
	case l.slow > 0 && elapsed > l.slow && l.level >= logger.Warn:
		level, msg = slog.LevelWarn, "slow sql"
	case err != nil && !errors.Is(err, gorm.ErrRecordNotFound):
		msg = "sql failed"
	case l.level < logger.Info:
		return
	}
	if !l.log.Enabled(ctx, level) {
		return
	}
	sql, rows := fc()
	attrs := []slog.Attr{
		slog.Duration("duration", elapsed),
		slog.String("sql", sql),
		slog.Int64("rows", rows),
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	l.log.LogAttrs(ctx, level, msg, attrs...)
}

// ParamsFilter drops the parameter values, so the SQL gorm hands to Trace
// keeps its placeholders.
func (l *gormLogger) ParamsFilter(_ context.Context, sql string, _ ...any) (string, []any) {
	return sql, nil
}
