package tracing

import (
	"context"

	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"
)

// ChildOnly is the provider for the libraries that trace every call they
// make (database, Redis): its spans exist only inside a request's trace.
// Work without one (the outbox worker's polls, the session
// invalidation subscription, migrations) would otherwise start a root
// trace per statement.
func (p *Provider) ChildOnly() trace.TracerProvider {
	return childOnlyProvider{tp: p.TracerProvider()}
}

type childOnlyProvider struct {
	embedded.TracerProvider
	tp trace.TracerProvider
}

func (c childOnlyProvider) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	return childOnlyTracer{t: c.tp.Tracer(name, opts...)}
}

type childOnlyTracer struct {
	embedded.Tracer
	t trace.Tracer
}

// Start is the wrapped tracer's Start under a span, else a no-op span.
func (c childOnlyTracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx, trace.SpanFromContext(ctx)
	}
	return c.t.Start(ctx, name, opts...)
}
