package app_test

import (
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	collectorpb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"gatehouse/config"
)

// otlpReceiver is a collector's OTLP/HTTP traces endpoint: it keeps every
// span it is sent, with its resource's service.name, and the API key
// header of each export.
type otlpReceiver struct {
	URL   string
	mu    sync.Mutex
	spans []receivedSpan
	keys  []string
}

type receivedSpan struct {
	*tracepb.Span
	Service string
}

func startReceiver(t *testing.T) *otlpReceiver {
	r := &otlpReceiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var msg collectorpb.ExportTraceServiceRequest
		if req.URL.Path != "/v1/traces" || req.Header.Get("Content-Type") != "application/x-protobuf" || proto.Unmarshal(body, &msg) != nil {
			http.Error(w, "not an OTLP/HTTP protobuf export", http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.keys = append(r.keys, req.Header.Get("X-Api-Key"))
		for _, rs := range msg.ResourceSpans {
			service := ""
			for _, kv := range rs.GetResource().GetAttributes() {
				if kv.Key == "service.name" {
					service = kv.GetValue().GetStringValue()
				}
			}
			for _, ss := range rs.ScopeSpans {
				for _, sp := range ss.Spans {
					r.spans = append(r.spans, receivedSpan{sp, service})
				}
			}
		}
		r.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		out, _ := proto.Marshal(&collectorpb.ExportTraceServiceResponse{})
		_, _ = w.Write(out)
	}))
	t.Cleanup(srv.Close)
	r.URL = srv.URL
	return r
}

func (r *otlpReceiver) all() []receivedSpan {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]receivedSpan(nil), r.spans...)
}

// named is the spans called name.
func (r *otlpReceiver) named(name string) []receivedSpan {
	var out []receivedSpan
	for _, s := range r.all() {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

func attr(s receivedSpan, key string) (string, bool) {
	for _, kv := range s.Attributes {
		if kv.Key == key {
			switch v := kv.GetValue().GetValue().(type) {
			case *commonpb.AnyValue_StringValue:
				return v.StringValue, true
			case *commonpb.AnyValue_IntValue:
				return strconv.FormatInt(v.IntValue, 10), true
			}
			return kv.GetValue().String(), true
		}
	}
	return "", false
}

func withTracing(recv *otlpReceiver, incoming string) func(*config.Config) {
	return func(c *config.Config) {
		c.Tracing.Enabled = true
		c.Tracing.Endpoint, _ = config.ParseURL(recv.URL + "/v1/traces")
		c.Tracing.Headers = map[string]config.Secret{"X-Api-Key": config.NewSecret("collector-key-1")}
		c.Tracing.ServiceName = "gatehouse-test"
		c.Tracing.Incoming = incoming
	}
}

const clientTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
const clientTraceparent = "00-" + clientTraceID + "-00f067aa0ba902b7-01"

// TestTracing sends a request's spans (route, decision, status; the
// upstream call as a child; database statements and, on the real backend,
// Redis commands inside the request's trace) to a real OTLP/HTTP endpoint,
// and gives the upstream the upstream span's traceparent. No span carries
// an email, a password or a code.
func TestTracing(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		t.Parallel()
		recv := startReceiver(t)
		s := newStack(t, backend, withTracing(recv, config.IncomingTrustedProxies))
		c := s.client()
		email := uniqueEmail("trace")
		id := s.signUp(c, email)

		// The test client is 127.0.0.1, a trusted proxy by default: its
		// traceparent is continued.
		status, e := c.echo("/app?code=secret-query", "traceparent", clientTraceparent, "tracestate", "vendor=kept")
		if status != 200 {
			t.Fatalf("GET /app: %d", status)
		}
		anon := s.client()
		if r := anon.get("/app", "Accept", "application/json"); r.Status != 401 {
			t.Fatalf("signed-out GET /app: %d", r.Status)
		}
		if err := s.App.Tracing.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}

		var server, upstream receivedSpan
		for _, sp := range recv.named("GET app") {
			if hex.EncodeToString(sp.TraceId) == clientTraceID {
				server = sp
			}
		}
		if server.Span == nil {
			t.Fatalf("no server span GET app continuing the client's trace; spans: %v", names(recv.all()))
		}
		if server.Kind != tracepb.Span_SPAN_KIND_SERVER || hex.EncodeToString(server.ParentSpanId) != "00f067aa0ba902b7" {
			t.Errorf("server span kind %v parent %x", server.Kind, server.ParentSpanId)
		}
		for k, want := range map[string]string{"gatehouse.route": "app", "gatehouse.policy": "required", "gatehouse.decision": "allow",
			"enduser.id": id, "url.path": "/app", "http.request.method": "GET", "http.response.status_code": "200"} {
			if got, _ := attr(server, k); got != want {
				t.Errorf("server span %s = %q, want %q", k, got, want)
			}
		}
		for _, sp := range recv.named("upstream app") {
			if string(sp.ParentSpanId) == string(server.SpanId) {
				upstream = sp
			}
		}
		if upstream.Span == nil {
			t.Fatalf("no upstream span under the server span")
		}
		if upstream.Kind != tracepb.Span_SPAN_KIND_CLIENT {
			t.Errorf("upstream span kind %v", upstream.Kind)
		}
		want := "00-" + clientTraceID + "-" + hex.EncodeToString(upstream.SpanId) + "-01"
		if got := e.Header.Values("Traceparent"); len(got) != 1 || got[0] != want {
			t.Errorf("upstream got traceparent %q, want %q", got, want)
		}
		// The trusted parent's tracestate goes on with its trace (W3C).
		if got := e.Header.Values("Tracestate"); len(got) != 1 || got[0] != "vendor=kept" {
			t.Errorf("upstream got tracestate %q, want the parent's", got)
		}

		var refused bool
		for _, sp := range recv.named("GET app") {
			if d, _ := attr(sp, "gatehouse.decision"); d == "unauthenticated" {
				refused = true
				if st, _ := attr(sp, "http.response.status_code"); st != "401" {
					t.Errorf("refused request's span status %q", st)
				}
			}
		}
		if !refused {
			t.Error("no span with decision unauthenticated for the signed-out request")
		}

		// Own endpoints are named by their route template; their database
		// (and Redis) calls are children in the same trace.
		reg := recv.named("POST /auth/register")
		if len(reg) != 1 {
			t.Fatalf("POST /auth/register spans: %d; spans: %v", len(reg), names(recv.all()))
		}
		if r, _ := attr(reg[0], "http.route"); r != "/auth/register" {
			t.Errorf("http.route %q", r)
		}
		var insert, redisCmd bool
		for _, sp := range recv.all() {
			if string(sp.TraceId) != string(reg[0].TraceId) {
				continue
			}
			if sp.Name == "INSERT users" {
				insert = true
				if sys, _ := attr(sp, "db.system.name"); (backend == "real") != (sys == "postgresql") {
					t.Errorf("db.system.name %q on %s", sys, backend)
				}
			}
			if sys, _ := attr(sp, "db.system"); sys == "redis" {
				redisCmd = true
			}
		}
		if !insert {
			t.Error("no INSERT users span in the register request's trace")
		}
		if backend == "real" && !redisCmd {
			t.Error("no Redis span in the register request's trace")
		}

		// What leaves for the collector: no email, password, code or query.
		for _, sp := range recv.all() {
			if sp.Service != "gatehouse-test" {
				t.Fatalf("service.name %q", sp.Service)
			}
			for _, kv := range sp.Attributes {
				v := kv.GetValue().String()
				for _, secret := range []string{email, pw, "secret-query"} {
					if strings.Contains(v, secret) {
						t.Errorf("span %s attribute %s carries %q", sp.Name, kv.Key, secret)
					}
				}
			}
			if sp.ParentSpanId == nil && !strings.HasPrefix(sp.Name, "GET") && !strings.HasPrefix(sp.Name, "POST") {
				t.Errorf("root span %q outside a request", sp.Name)
			}
		}
		recv.mu.Lock()
		keys := recv.keys
		recv.mu.Unlock()
		if len(keys) == 0 || keys[0] != "collector-key-1" {
			t.Errorf("export API keys %q", keys)
		}
	})
}

// TestTracingIncomingPolicy: with incoming none (or from a peer that is
// not a trusted proxy) a client's traceparent starts nothing: the request
// has a trace of its own. With tracing off, the upstream gets the
// client's header as it was sent.
func TestTracingIncomingPolicy(t *testing.T) {
	t.Parallel()
	recv := startReceiver(t)
	s := newStack(t, "embedded", withTracing(recv, config.IncomingNone))
	c := s.client()
	_, e := c.echo("/pub/x", "traceparent", clientTraceparent, "tracestate", "forged=1")
	got := e.Header.Get("Traceparent")
	if got == "" || strings.Contains(got, clientTraceID) {
		t.Errorf("incoming none: upstream traceparent %q", got)
	}
	if got := e.Header.Get("Tracestate"); got != "" {
		t.Errorf("incoming none: the client's tracestate %q reached the upstream", got)
	}
	if err := s.App.Tracing.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	spans := recv.named("GET pub")
	if len(spans) != 1 || spans[0].ParentSpanId != nil {
		t.Fatalf("GET pub spans %d (want one root)", len(spans))
	}
	if d, _ := attr(spans[0], "gatehouse.decision"); d != "public" {
		t.Errorf("decision %q", d)
	}

	untrusted := newStack(t, "embedded", func(c *config.Config) {
		withTracing(recv, config.IncomingTrustedProxies)(c)
		c.Server.TrustedProxies = nil
	})
	_, e = untrusted.client().echo("/pub/y", "traceparent", clientTraceparent)
	if got := e.Header.Get("Traceparent"); got == "" || strings.Contains(got, clientTraceID) {
		t.Errorf("untrusted peer: upstream traceparent %q", got)
	}

	off := newStack(t, "embedded", nil)
	_, e = off.client().echo("/pub/z", "traceparent", clientTraceparent)
	if got := e.Header.Get("Traceparent"); got != clientTraceparent {
		t.Errorf("tracing off: upstream traceparent %q, want the client's", got)
	}
	if off.App.Tracing != nil {
		t.Error("tracing off built a provider")
	}
}

func names(spans []receivedSpan) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	return out
}
