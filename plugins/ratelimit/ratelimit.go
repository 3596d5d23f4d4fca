// Package ratelimit is the ratelimit plugin: it limits requests per client
// address, user or workspace with the shared GCRA limiter (SPEC §6: rate N
// per period, a burst of N unless burst says otherwise, shared by every
// replica). Each counted answer carries RateLimit-Limit, RateLimit-Remaining
// and RateLimit-Reset; a refusal is 429 rate_limited with Retry-After. It runs
// after the auth decision, so the caller's identity is known; a request
// without a user (or workspace) is limited by its address instead. When the
// limiter fails, requests pass (fail open) and the failure is counted.
//
//	routes:
//	  - name: api
//	    plugins:
//	      - name: ratelimit
//	        options: { per: user, rate: 100/m, burst: 20 }
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"gatehouse/config"
	"gatehouse/gateway"
	"gatehouse/gateway/store"
)

// Info registers the plugin as ratelimit, in the authenticated phase.
func Info() gateway.PluginInfo {
	return gateway.PluginInfo{
		Name:  "ratelimit",
		Phase: gateway.PhaseAuthenticated,
		New:   func() gateway.Plugin { return new(Plugin) },
	}
}

// What a limit is counted per.
const (
	perIP        = "ip"
	perUser      = "user"
	perWorkspace = "workspace"
)

// maxBurst bounds burst (and the default burst, rate's N).
const maxBurst = 100000

// warnEvery is how often at most a failing limiter is logged.
const warnEvery = time.Minute

// Plugin limits the request rate per client address, user or workspace.
type Plugin struct {
	// Per is what the limit is counted per: ip (the client's address, the
	// default), user (the signed-in user) or workspace (the active
	// workspace). Requests without a user or workspace count per ip.
	Per string `yaml:"per"`
	// Rate is the sustained rate, N per period: "100/m", "5/30s". Required.
	Rate config.Rate `yaml:"rate"`
	// Burst is how many requests may come at once from a full bucket;
	// omitted: rate's N. From 1 to 100000.
	Burst *int `yaml:"burst"`

	per     string
	limit   store.Limit
	prefix  string // "rl:plugin:<rate>.b<burst>:"
	limiter store.Limiter
	logger  *slog.Logger
	clock   gateway.Clock

	lastWarn atomic.Int64 // Unix nanoseconds of the last failure logged
	refused  prometheus.Counter
	failures prometheus.Counter
}

var (
	_ gateway.Middleware = (*Plugin)(nil)
	_ gateway.Validator  = (*Plugin)(nil)
)

// Validate checks per, rate and burst, reporting every bad key at once.
func (p *Plugin) Validate() error {
	var errs []error
	switch p.Per {
	case "", perIP, perUser, perWorkspace:
	default:
		errs = append(errs, fmt.Errorf("per: want ip, user or workspace, got %q", p.Per))
	}
	if p.Rate.IsZero() {
		errs = append(errs, errors.New("rate: required, N per period such as 100/m"))
	} else if p.Rate.N < 0 || p.Rate.Period <= 0 {
		errs = append(errs, fmt.Errorf("rate: want N/period with N and period above 0, got %d per %v", p.Rate.N, p.Rate.Period))
	}
	switch {
	case p.Burst != nil && (*p.Burst < 1 || *p.Burst > maxBurst):
		errs = append(errs, fmt.Errorf("burst: want 1 to %d, got %d", maxBurst, *p.Burst))
	case p.Burst == nil && p.Rate.N > maxBurst:
		errs = append(errs, fmt.Errorf("burst: defaults to rate's N (%d), above the maximum %d; set burst", p.Rate.N, maxBurst))
	}
	return errors.Join(errs...)
}

// Provision applies the defaults, keeps the shared limiter and registers
// the metrics.
func (p *Plugin) Provision(_ context.Context, h *gateway.Host) error {
	if err := p.Validate(); err != nil {
		return err
	}
	if h.Limiter == nil {
		return errors.New("ratelimit: the host has no rate limiter")
	}
	p.per = p.Per
	if p.per == "" {
		p.per = perIP
	}
	burst := p.Rate.N
	if p.Burst != nil {
		burst = *p.Burst
	}
	p.limit = store.Limit{Rate: p.Rate.N, Period: p.Rate.Period, Burst: burst}
	p.prefix = "rl:plugin:" + p.Rate.String() + ".b" + strconv.Itoa(burst) + ":"
	p.limiter = h.Limiter
	p.logger = h.Logger
	p.clock = h.Clock
	if p.logger == nil {
		p.logger = slog.New(slog.DiscardHandler)
	}
	if p.clock == nil {
		p.clock = gateway.SystemClock{}
	}
	var err error
	if p.refused, err = counter(h.Metrics, "gatehouse_ratelimit_refused_total",
		"Requests refused with 429 by ratelimit."); err != nil {
		return err
	}
	if p.failures, err = counter(h.Metrics, "gatehouse_ratelimit_errors_total",
		"Requests let through by ratelimit because the limiter failed."); err != nil {
		return err
	}
	return nil
}

// counter registers a counter with reg (nil: not exported). Instances that
// share a registerer share the counter.
func counter(reg prometheus.Registerer, name, help string) (prometheus.Counter, error) {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	if reg == nil {
		return c, nil
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(prometheus.Counter); ok {
				return existing, nil
			}
		}
		return nil, fmt.Errorf("metrics: %w", err)
	}
	return c, nil
}

// Handle counts the request, refuses it with 429 rate_limited when the
// bucket is empty and sets the RateLimit headers on the final answer.
func (p *Plugin) Handle(c *fiber.Ctx) error {
	id, _ := gateway.IdentityFrom(c)
	key := p.key(gateway.RouteName(c), id, gateway.ClientIP(c))
	res, err := p.limiter.Allow(c.UserContext(), key, p.limit)
	if err != nil {
		p.failed(err)
		return c.Next() // fail open
	}
	if !res.Allowed {
		p.refused.Inc()
		p.setHeaders(c, res)
		return gateway.RateLimited(res.RetryAfter).Wrap(fmt.Errorf("ratelimit: %s over %s (burst %d)", key, p.Rate, p.limit.Burst))
	}
	err = c.Next()
	// After the upstream: the proxy replaces the response, headers and all.
	// The error handler, when err != nil, keeps them.
	p.setHeaders(c, res)
	return err
}

// key is the limiter key of one request:
// "rl:plugin:<rate>.b<burst>:<route>:<kind>:<value>", where kind is
// p.per, or ip when the request has no user (or workspace).
func (p *Plugin) key(route string, id gateway.Identity, ip netip.Addr) string {
	switch {
	case p.per == perUser && id.UserID != "":
		return p.prefix + route + ":" + perUser + ":" + id.UserID
	case p.per == perWorkspace && id.WorkspaceID != "":
		return p.prefix + route + ":" + perWorkspace + ":" + id.WorkspaceID
	}
	return p.prefix + route + ":" + perIP + ":" + ipKey(ip)
}

// ipKey is the address an IP limit counts: IPv4 as is, IPv6 by its /64
// (one subscriber's network), "unknown" when there is none.
func ipKey(a netip.Addr) string {
	if !a.IsValid() {
		return "unknown"
	}
	a = a.Unmap()
	if a.Is6() {
		pfx, _ := a.WithZone("").Prefix(64)
		return pfx.String()
	}
	return a.String()
}

// failed counts a limiter failure and logs it at most once per warnEvery.
func (p *Plugin) failed(err error) {
	p.failures.Inc()
	now := p.clock.Now().UnixNano()
	last := p.lastWarn.Load()
	if last != 0 && now-last < int64(warnEvery) {
		return
	}
	if p.lastWarn.CompareAndSwap(last, now) {
		p.logger.Warn("rate limiter failed; letting requests through", "error", err)
	}
}

// setHeaders writes the IETF RateLimit fields: the burst, what is left and
// the seconds until the bucket is full again.
func (p *Plugin) setHeaders(c *fiber.Ctx, res store.Result) {
	c.Set("RateLimit-Limit", strconv.Itoa(p.limit.Burst))
	c.Set("RateLimit-Remaining", strconv.Itoa(res.Remaining))
	c.Set("RateLimit-Reset", strconv.FormatInt(ceilSeconds(res.ResetAfter), 10))
	if !res.Allowed {
		// The core's error handler sets it too, to the same value.
		c.Set(fiber.HeaderRetryAfter, gateway.RetryAfterHeader(res.RetryAfter))
	}
}

// ceilSeconds rounds d up to whole seconds; 0 stays 0.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}
