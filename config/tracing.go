package config

import (
	"fmt"
	"strings"
)

// Tracing sends OpenTelemetry traces over OTLP/HTTP (protobuf). It is off
// by default; with it on, every request gets a span (route, policy
// decision, status), the upstream call, database queries and Redis
// commands get child spans, and the upstream receives a W3C traceparent.
type Tracing struct {
	// Enabled turns tracing on.
	Enabled bool `yaml:"enabled"`
	// Endpoint is the collector's OTLP/HTTP traces URL, e.g.
	// http://otel-collector:4318/v1/traces (http:// sends in clear text).
	// Required when enabled.
	Endpoint URL `yaml:"endpoint"`
	// Headers are sent with every export, e.g. an API key for a hosted
	// backend (values may use ${VAR}; they never appear in logs).
	Headers map[string]Secret `yaml:"headers"`
	// ServiceName is the service.name resource attribute.
	ServiceName string `yaml:"service_name"`
	// SampleRatio is the share of new traces kept, from 0 to 1. A request
	// that continues a trace follows its parent's sampling decision.
	SampleRatio float64 `yaml:"sample_ratio"`
	// Incoming says whose traceparent a request may continue:
	// trusted_proxies (the peers of server.trusted_proxies), all, or none
	// (every request starts a new trace). A client's own traceparent could
	// otherwise force sampling on or join traces it should not see.
	Incoming string `yaml:"incoming"`
}

// Incoming trace context policies (tracing.incoming).
const (
	IncomingTrustedProxies = "trusted_proxies"
	IncomingAll            = "all"
	IncomingNone           = "none"
)

func (t Tracing) validate(e *Errors) {
	if t.SampleRatio < 0 || t.SampleRatio > 1 {
		e.add("tracing.sample_ratio", "must be from 0 to 1, got %v", t.SampleRatio)
	}
	switch t.Incoming {
	case IncomingTrustedProxies, IncomingAll, IncomingNone:
	default:
		e.add("tracing.incoming", "must be trusted_proxies, all or none, got %q", t.Incoming)
	}
	if strings.TrimSpace(t.ServiceName) == "" {
		e.add("tracing.service_name", "required")
	}
	for k := range t.Headers {
		if !isToken(k) {
			e.add(fmt.Sprintf("tracing.headers.%s", k), "not a valid header name")
		}
	}
	if !t.Enabled {
		return
	}
	// The URL type refuses what is not an absolute http(s) URL.
	if t.Endpoint.IsZero() {
		e.add("tracing.endpoint", "required when tracing is enabled (the collector's OTLP/HTTP URL, e.g. http://otel-collector:4318/v1/traces)")
	}
}
