package tracing

import (
	"fmt"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"gorm.io/gorm"
)

// GormPlugin is a span per database statement inside a traced request:
// the operation and table as its name ("SELECT users"), the SQL with its
// placeholders (never the values: password hashes, code hashes and
// emails travel there) and the rows affected. gorm.io/plugin/opentelemetry
// would do the same but compiles the MySQL and ClickHouse drivers into
// the binary (docs/decisions.md).
func (p *Provider) GormPlugin(system string) gorm.Plugin {
	return &gormPlugin{tracer: p.ChildOnly().Tracer(Name + "/db"), system: system}
}

type gormPlugin struct {
	tracer trace.Tracer
	system string // db.system.name: postgresql or sqlite
}

func (*gormPlugin) Name() string { return "gatehouse:tracing" }

const spanKey = "gatehouse:tracing:span"

func (g *gormPlugin) Initialize(db *gorm.DB) error {
	cb := db.Callback()
	type hook struct {
		before, after interface {
			Register(string, func(*gorm.DB)) error
		}
	}
	for _, h := range []hook{
		{cb.Create().Before("gorm:create"), cb.Create().After("gorm:create")},
		{cb.Query().Before("gorm:query"), cb.Query().After("gorm:query")},
		{cb.Update().Before("gorm:update"), cb.Update().After("gorm:update")},
		{cb.Delete().Before("gorm:delete"), cb.Delete().After("gorm:delete")},
		{cb.Row().Before("gorm:row"), cb.Row().After("gorm:row")},
		{cb.Raw().Before("gorm:raw"), cb.Raw().After("gorm:raw")},
	} {
		if err := h.before.Register("gatehouse:tracing:before", g.start); err != nil {
			return err
		}
		if err := h.after.Register("gatehouse:tracing:after", g.end); err != nil {
			return err
		}
	}
	return nil
}

func (g *gormPlugin) start(tx *gorm.DB) {
	ctx := tx.Statement.Context
	if ctx == nil || !trace.SpanContextFromContext(ctx).IsValid() {
		return
	}
	ctx, span := g.tracer.Start(ctx, "db", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("db.system.name", g.system)))
	tx.Statement.Context = ctx
	tx.InstanceSet(spanKey, span)
}

func (g *gormPlugin) end(tx *gorm.DB) {
	v, ok := tx.InstanceGet(spanKey)
	if !ok {
		return
	}
	span := v.(trace.Span)
	defer span.End()
	sql := tx.Statement.SQL.String()
	op := operation(sql)
	name := op
	if t := tx.Statement.Table; t != "" {
		name += " " + t
		span.SetAttributes(attribute.String("db.collection.name", t))
	}
	span.SetName(name)
	span.SetAttributes(attribute.String("db.operation.name", op), attribute.String("db.query.text", sql),
		attribute.Int64("db.response.returned_rows", tx.Statement.RowsAffected))
	if err := tx.Error; err != nil && err != gorm.ErrRecordNotFound {
		// The error's text may quote a value (a duplicate key's): only its type.
		span.SetAttributes(attribute.String("error.type", fmt.Sprintf("%T", err)))
		span.SetStatus(codes.Error, "database error")
	}
}

// operation is the statement's first word, upper-case ("SELECT").
func operation(sql string) string {
	sql = strings.TrimLeft(sql, " \t\r\n(")
	if i := strings.IndexAny(sql, " \t\r\n("); i > 0 {
		sql = sql[:i]
	}
	if sql == "" {
		return "SQL"
	}
	return strings.ToUpper(sql)
}
