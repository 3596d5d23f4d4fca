// Package accesslog is the access_log plugin: one structured log line per
// request, written through the instance's logger (JSON in production) once
// the response is final, error answers included. A line carries time (when
// the request arrived), request_id, route, method, path, status,
// duration_ms, client_ip, bytes_in and, when asked for, user_agent. It
// never logs headers, cookies or bodies, and leaves the query string out
// unless include_query is set, because queries may carry codes and tokens.
//
//	plugins:
//	  - name: access_log
//	    options:
//	      level: info
//	      skip_paths: [/healthz, /readyz]
//	      include_query: false
//	      include_user_agent: true
package accesslog

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/gofiber/fiber/v2"

	"gatehouse/gateway"
)

// Info registers the plugin as access_log, in the edge phase.
func Info() gateway.PluginInfo {
	return gateway.PluginInfo{
		Name:  "access_log",
		Phase: gateway.PhaseEdge,
		New:   func() gateway.Plugin { return new(Plugin) },
	}
}

// Plugin logs one line per request.
type Plugin struct {
	// Level is the level of the lines: info (default) or debug.
	Level string `yaml:"level"`
	// SkipPaths are exact request paths that are not logged, e.g. /healthz.
	SkipPaths []string `yaml:"skip_paths"`
	// IncludeQuery appends the query string to path; off by default because
	// queries may carry codes and tokens.
	IncludeQuery bool `yaml:"include_query"`
	// IncludeUserAgent adds the User-Agent header as user_agent.
	IncludeUserAgent bool `yaml:"include_user_agent"`

	logger *slog.Logger
	clock  gateway.Clock
	level  slog.Level
	skip   map[string]struct{}
}

var (
	_ gateway.Middleware = (*Plugin)(nil)
	_ gateway.Validator  = (*Plugin)(nil)
)

// Validate checks level and skip_paths.
func (p *Plugin) Validate() error {
	if _, err := parseLevel(p.Level); err != nil {
		return err
	}
	for i, s := range p.SkipPaths {
		if !strings.HasPrefix(s, "/") || strings.ContainsAny(s, "?#") {
			return fmt.Errorf("skip_paths[%d]: want an exact path such as /healthz, got %q", i, s)
		}
	}
	return nil
}

func parseLevel(s string) (slog.Level, error) {
	switch s {
	case "", "info":
		return slog.LevelInfo, nil
	case "debug":
		return slog.LevelDebug, nil
	}
	return 0, fmt.Errorf("level: want info or debug, got %q", s)
}

// Provision keeps the host's logger and clock and compiles skip_paths.
func (p *Plugin) Provision(_ context.Context, h *gateway.Host) error {
	p.level, _ = parseLevel(p.Level) // checked by Validate
	p.logger = h.Logger
	if p.logger == nil {
		p.logger = slog.New(slog.DiscardHandler)
	}
	p.clock = h.Clock
	if p.clock == nil {
		p.clock = gateway.SystemClock{}
	}
	p.skip = make(map[string]struct{}, len(p.SkipPaths))
	for _, s := range p.SkipPaths {
		p.skip[s] = struct{}{}
	}
	return nil
}

// Handle runs the rest of the chain and logs the final response. An error
// from the chain is rendered here by the app's error handler, so the
// logged status is the one the client gets; Handle then returns nil.
func (p *Plugin) Handle(c *fiber.Ctx) error {
	ctx := c.UserContext()
	if _, skip := p.skip[c.Path()]; skip || !p.logger.Enabled(ctx, p.level) {
		return c.Next()
	}
	// What the request asked for is taken now: the chain may rewrite it.
	req := p.request(c)
	start := p.clock.Now()
	gateway.Finish(c, c.Next())
	elapsed := p.clock.Now().Sub(start)

	r := slog.NewRecord(start, p.level, "request", 0)
	ip := ""
	if a := gateway.ClientIP(c); a.IsValid() {
		ip = a.String()
	}
	r.AddAttrs(
		slog.String("request_id", gateway.RequestID(c)),
		slog.String("route", gateway.RouteName(c)),
		slog.String("method", req.method),
		slog.String("path", req.path),
		slog.Int("status", c.Response().StatusCode()),
		slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
		slog.String("client_ip", ip),
		slog.Int64("bytes_in", req.bytesIn),
	)
	if p.IncludeUserAgent {
		r.AddAttrs(slog.String("user_agent", req.userAgent))
	}
	_ = p.logger.Handler().Handle(ctx, r) // a failing log sink must not fail the request
	return nil
}

// request is what a line says about the request. Its strings are copies:
// strings taken from a fiber.Ctx alias fasthttp's buffers, and a log
// handler may keep the record.
type request struct {
	method, path, userAgent string
	bytesIn                 int64
}

func (p *Plugin) request(c *fiber.Ctx) request {
	r := request{method: strings.Clone(c.Method()), bytesIn: bytesIn(c)}
	if q := c.Request().URI().QueryString(); p.IncludeQuery && len(q) > 0 {
		r.path = c.Path() + "?" + string(q)
	} else {
		r.path = strings.Clone(c.Path())
	}
	if p.IncludeUserAgent {
		r.userAgent = string(c.Request().Header.UserAgent())
	}
	return r
}

// bytesIn is the request body's size without reading a streamed body:
// its Content-Length then, or -1 when unknown (chunked).
func bytesIn(c *fiber.Ctx) int64 {
	req := c.Request()
	if !req.IsBodyStream() {
		return int64(len(req.Body()))
	}
	if n := req.Header.ContentLength(); n >= 0 {
		return int64(n)
	}
	return -1
}
