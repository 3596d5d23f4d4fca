package gateway

import (
	"log/slog"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"gorm.io/gorm"

	"gatehouse/gateway/store"
)

// Clock tells the time; tests pass a fixed one.
type Clock interface {
	Now() time.Time
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now is time.Now.
func (SystemClock) Now() time.Time { return time.Now() }

// Host is what the gateway hands every module at Provision: an
// instance-scoped logger and gateway-owned interfaces. No module sees a
// concrete Redis client: the in-process store satisfies the same interfaces.
type Host struct {
	// Logger is scoped to the module instance ("plugin", name, "id", id).
	Logger *slog.Logger
	// KV is the ephemeral store shared by every replica.
	KV store.KV
	// Limiter is the shared GCRA rate limiter.
	Limiter store.Limiter
	// Clock tells the time.
	Clock Clock
	// DB is the durable store, for core code.
	DB *gorm.DB
	// Metrics registers the module's Prometheus collectors.
	Metrics prometheus.Registerer
	// PublicURL is server.public_url.
	PublicURL *url.URL
	// AuthPrefix is server.auth_prefix.
	AuthPrefix string
	// IdentityPrefix is headers.prefix: the engine deletes every incoming
	// header that starts with it from the requests it forwards.
	IdentityPrefix string
	// Assertions signs X-Auth-Assertion tokens (lifetime
	// headers.assertion.ttl); nil when there is no signer.
	Assertions AssertionSigner
	// AddSink subscribes an event sink under an id (a plugin may add
	// several, e.g. one per webhook endpoint); each receives every event
	// from the durable outbox, retried independently. Nil: no events.
	AddSink func(id string, sink EventSink)
}

// For returns a copy of h whose logger is labelled for one module instance.
func (h *Host) For(kind, name, id string) *Host {
	c := *h
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.Logger = c.Logger.With(kind, name, "id", id)
	if c.Clock == nil {
		c.Clock = SystemClock{}
	}
	return &c
}
