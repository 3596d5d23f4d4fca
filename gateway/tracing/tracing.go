// Package tracing is Gatehouse's OpenTelemetry tracing: a tracer provider
// that exports over OTLP/HTTP when tracing.enabled, the W3C trace-context
// rules for incoming and outgoing requests, and spans for database
// statements (a gorm plugin). Redis commands are traced by go-redis's own
// redisotel hook on the same provider.
//
// There is no global provider: the composition root builds one Provider
// and hands it to the engine, the database and the Redis client. A nil
// *Provider is tracing off; every method works on it and does nothing.
//
// What spans carry is chosen so that nothing secret leaves: no query
// strings (codes, tokens and rd values travel there), no SQL arguments,
// no Redis arguments, only route templates for Gatehouse's own paths
// (invite codes travel in a path), no emails.
package tracing

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"gatehouse/config"
)

// Name is the instrumentation scope of Gatehouse's own spans.
const Name = "gatehouse"

// Provider is the tracer provider of a running Gatehouse.
type Provider struct {
	tp       *sdktrace.TracerProvider
	tracer   trace.Tracer
	incoming string
	prop     propagation.TextMapPropagator
}

// Options are what New needs besides the config section.
type Options struct {
	// Version is service.version.
	Version string
	// Exporter replaces the OTLP exporter (tests).
	Exporter sdktrace.SpanExporter
	// Logger receives export errors.
	Logger *slog.Logger
}

// New builds the provider of c, or nil when tracing is off. The exporter
// connects lazily: a collector that is down costs dropped spans (logged),
// never a failed start or a slow request.
func New(ctx context.Context, c config.Tracing, o Options) (*Provider, error) {
	if !c.Enabled {
		return nil, nil
	}
	exp := o.Exporter
	if exp == nil {
		headers := make(map[string]string, len(c.Headers))
		for k, v := range c.Headers {
			headers[k] = v.Value()
		}
		var err error
		exp, err = otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(c.Endpoint.String()),
			otlptracehttp.WithHeaders(headers), otlptracehttp.WithTimeout(10*time.Second))
		if err != nil {
			return nil, fmt.Errorf("tracing: %w", err)
		}
	}
	if o.Logger != nil {
		// The SDK reports export failures (a collector down) here; spans
		// are dropped, requests go on.
		log := o.Logger
		otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { log.Warn("tracing: export failed", "error", err) }))
	}
	res := resource.NewSchemaless(attribute.String("service.name", c.ServiceName),
		attribute.String("service.version", o.Version))
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(c.SampleRatio))),
	)
	return &Provider{tp: tp, tracer: tp.Tracer(Name), incoming: c.Incoming, prop: propagation.TraceContext{}}, nil
}

// TracerProvider is the provider for libraries (redisotel); a no-op one
// when p is nil.
func (p *Provider) TracerProvider() trace.TracerProvider {
	if p == nil {
		return noop.NewTracerProvider()
	}
	return p.tp
}

// Tracer is Gatehouse's tracer, or nil when tracing is off.
func (p *Provider) Tracer() trace.Tracer {
	if p == nil {
		return nil
	}
	return p.tracer
}

// Enabled reports whether spans are made.
func (p *Provider) Enabled() bool { return p != nil }

// Extract is ctx continuing the trace that carrier's traceparent names,
// when the policy (tracing.incoming) lets this peer continue one; else
// ctx unchanged, and the request starts a trace of its own.
func (p *Provider) Extract(ctx context.Context, carrier propagation.TextMapCarrier, fromTrustedProxy bool) context.Context {
	if p == nil {
		return ctx
	}
	switch p.incoming {
	case config.IncomingAll:
	case config.IncomingTrustedProxies:
		if !fromTrustedProxy {
			return ctx
		}
	default:
		return ctx
	}
	return p.prop.Extract(ctx, carrier)
}

// Inject writes ctx's span as traceparent (and tracestate) into carrier,
// replacing whatever the client sent.
func (p *Provider) Inject(ctx context.Context, carrier propagation.TextMapCarrier) {
	if p == nil {
		return
	}
	for _, k := range p.prop.Fields() {
		carrier.Set(k, "")
	}
	p.prop.Inject(ctx, carrier)
}

// Shutdown flushes the spans still queued and stops the exporter.
func (p *Provider) Shutdown(ctx context.Context) error {
	if p == nil {
		return nil
	}
	return p.tp.Shutdown(ctx)
}

// Flush exports the spans queued so far.
func (p *Provider) Flush(ctx context.Context) error {
	if p == nil {
		return nil
	}
	return p.tp.ForceFlush(ctx)
}
