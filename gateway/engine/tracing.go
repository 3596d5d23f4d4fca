package engine

import (
	"errors"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"gatehouse/config"
	"gatehouse/gateway"
)

// headerCarrier lets the trace-context propagator read and write a
// fasthttp request's headers. Set removes every copy first (fasthttp's
// Set replaces only the first), and Set(k, "") only removes.
type headerCarrier struct{ h *fasthttp.RequestHeader }

func (hc headerCarrier) Get(k string) string { return string(hc.h.Peek(k)) }

func (hc headerCarrier) Set(k, v string) {
	hc.h.Del(k)
	if v != "" {
		hc.h.Set(k, v)
	}
}

func (hc headerCarrier) Keys() []string {
	var keys []string
	hc.h.VisitAll(func(k, _ []byte) { keys = append(keys, string(k)) })
	return keys
}

// startSpan opens the request's server span (from start, once the route
// is known) and makes its context the request's. A traceparent is
// continued only as tracing.incoming allows for this peer.
func (s *Server) startSpan(c *fiber.Ctx, st *state, start time.Time) trace.Span {
	parent := s.tracing.Extract(c.UserContext(), headerCarrier{&c.Request().Header}, s.trust.Trusted(ClientPeer(c)))
	method := c.Method()
	attrs := []attribute.KeyValue{attribute.String("http.request.method", method)}
	name := method
	if r := st.route; r != nil {
		// A proxied path is the app's; Gatehouse's own paths are named by
		// their template (an invite code travels in one). Never the query.
		name += " " + r.Name
		attrs = append(attrs, attribute.String("gatehouse.route", r.Name),
			attribute.String("gatehouse.policy", r.Auth), attribute.String("url.path", c.Path()))
	}
	ctx, span := s.tracing.Tracer().Start(parent, name, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithTimestamp(start), trace.WithAttributes(attrs...))
	c.SetUserContext(ctx)
	return span
}

// endSpan records the outcome: status, the policy decision, the caller's
// id (an opaque user id, never an email), and ends the span.
func (s *Server) endSpan(c *fiber.Ctx, st *state, span trace.Span) {
	status := c.Response().StatusCode()
	if st.route == nil {
		if p := c.Route().Path; p != "" && s.isOwnPath(c.Path()) {
			span.SetName(c.Method() + " " + p)
			span.SetAttributes(attribute.String("http.route", p))
		}
	}
	span.SetAttributes(attribute.Int("http.response.status_code", status))
	if st.decision != "" {
		span.SetAttributes(attribute.String("gatehouse.decision", st.decision))
	}
	if id, ok := gateway.IdentityFrom(c); ok && id.UserID != "" {
		span.SetAttributes(attribute.String("enduser.id", id.UserID))
	}
	if status >= 500 {
		span.SetStatus(codes.Error, "")
	}
	span.End()
}

// decision names the outcome of the policy for the span: allow (a caller),
// anonymous (optional route, nobody signed in), public, or the refusal's
// error code (unauthenticated, forbidden, role_required, unavailable…).
func decision(r *Route, id bool, err error) string {
	if err != nil {
		var ge *gateway.Error
		if errors.As(err, &ge) && ge.Code != "" {
			return ge.Code
		}
		return "error"
	}
	switch {
	case r.Auth == config.AuthPublic:
		return "public"
	case id:
		return "allow"
	}
	return "anonymous"
}

// upstreamSpan opens the upstream call's span and writes its traceparent
// into the request, replacing any the client sent.
func (s *Server) upstreamSpan(c *fiber.Ctx, r *Route) trace.Span {
	ctx, span := s.tracing.Tracer().Start(c.UserContext(), "upstream "+r.Name, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("gatehouse.route", r.Name), attribute.String("server.address", r.upstream.host),
			attribute.String("http.request.method", c.Method())))
	s.tracing.Inject(ctx, headerCarrier{&c.Request().Header})
	return span
}

// endUpstreamSpan records the upstream's answer, or its failure.
func endUpstreamSpan(span trace.Span, status int, err error) {
	if err != nil {
		span.SetAttributes(attribute.String("error.type", "upstream_unreachable"))
		if isTimeout(err) || errors.Is(err, fasthttp.ErrTimeout) {
			span.SetAttributes(attribute.String("error.type", "timeout"))
		}
		span.SetStatus(codes.Error, "upstream failed")
	} else {
		span.SetAttributes(attribute.Int("http.response.status_code", status))
		if status >= 500 {
			span.SetStatus(codes.Error, "")
		}
	}
	span.End()
}
