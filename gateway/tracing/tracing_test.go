package tracing

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"gatehouse/config"
)

const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

func provider(t *testing.T, incoming string) (*Provider, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	c := config.Default().Tracing
	c.Enabled, c.Incoming = true, incoming
	p, err := New(context.Background(), c, Options{Exporter: exp, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	return p, exp
}

func TestOffIsNil(t *testing.T) {
	p, err := New(context.Background(), config.Default().Tracing, Options{})
	if err != nil || p != nil {
		t.Fatalf("disabled: %v, %v", p, err)
	}
	// Every method works on the nil provider.
	if p.Enabled() || p.Tracer() != nil || p.Shutdown(context.Background()) != nil || p.Flush(context.Background()) != nil {
		t.Error("nil provider is not off")
	}
	carrier := propagation.MapCarrier{"traceparent": parent}
	if ctx := p.Extract(context.Background(), carrier, true); trace.SpanContextFromContext(ctx).IsValid() {
		t.Error("nil provider extracted a parent")
	}
	p.Inject(context.Background(), carrier)
	if carrier["traceparent"] != parent {
		t.Error("nil provider touched the headers")
	}
}

func TestExtractPolicy(t *testing.T) {
	for _, tc := range []struct {
		incoming string
		trusted  bool
		want     bool
	}{
		{config.IncomingTrustedProxies, true, true},
		{config.IncomingTrustedProxies, false, false},
		{config.IncomingAll, false, true},
		{config.IncomingNone, true, false},
	} {
		p, _ := provider(t, tc.incoming)
		ctx := p.Extract(context.Background(), propagation.MapCarrier{"traceparent": parent}, tc.trusted)
		if got := trace.SpanContextFromContext(ctx).IsValid(); got != tc.want {
			t.Errorf("incoming %s, trusted %v: continued %v, want %v", tc.incoming, tc.trusted, got, tc.want)
		}
	}
}

func TestInjectReplaces(t *testing.T) {
	p, _ := provider(t, config.IncomingNone)
	ctx, span := p.Tracer().Start(context.Background(), "x")
	defer span.End()
	carrier := propagation.MapCarrier{"traceparent": parent, "tracestate": "forged=1"}
	p.Inject(ctx, carrier)
	want := "00-" + span.SpanContext().TraceID().String() + "-" + span.SpanContext().SpanID().String() + "-01"
	if carrier["traceparent"] != want || carrier["tracestate"] != "" {
		t.Errorf("after Inject: %v, want traceparent %s and no tracestate", carrier, want)
	}
}

func TestChildOnly(t *testing.T) {
	p, exp := provider(t, config.IncomingNone)
	child := p.ChildOnly().Tracer("lib")
	_, orphan := child.Start(context.Background(), "orphan")
	orphan.End()
	ctx, root := p.Tracer().Start(context.Background(), "request")
	_, sp := child.Start(ctx, "inside")
	sp.End()
	root.End()
	if err := p.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range exp.GetSpans() {
		got = append(got, s.Name)
	}
	if len(got) != 2 || got[0] != "inside" || got[1] != "request" {
		t.Errorf("spans %v, want [inside request] (no orphan)", got)
	}
}

func TestOperation(t *testing.T) {
	for in, want := range map[string]string{
		`SELECT * FROM "users"`: "SELECT", "  insert into x": "INSERT", "(SELECT 1)": "SELECT", "": "SQL", "WITH a AS (x)": "WITH",
	} {
		if got := operation(in); got != want {
			t.Errorf("operation(%q) = %q, want %q", in, got, want)
		}
	}
}
