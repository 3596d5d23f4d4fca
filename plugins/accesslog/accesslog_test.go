package accesslog

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/go-cmp/cmp"

	"gatehouse/gateway"
	"gatehouse/gateway/engine"
	"gatehouse/gateway/gatewaytest"
)

func TestPluginContract(t *testing.T) {
	gatewaytest.RunPluginContract(t, Info(),
		"{level: debug, skip_paths: [/healthz], include_query: true, include_user_agent: true}",
		"{level: loud, skip_paths: [nope]}")
}

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

var now = time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)

func ok(c *fiber.Ctx) error {
	c.Set("X-Seen-Id", gateway.RequestID(c))
	return c.SendString("ok")
}

func TestHandle(t *testing.T) {
	// base is the line for GET /app/x from the test peer; cases patch it.
	base := func(patch map[string]any) map[string]any {
		m := map[string]any{
			"time": now.Format(time.RFC3339), "level": "INFO", "msg": "request",
			"plugin": "access_log", "id": "access_log",
			"route": "", "method": "GET", "path": "/app/x", "status": 200.0,
			"duration_ms": 0.0, "client_ip": "0.0.0.0", "bytes_in": 0.0,
		}
		for k, v := range patch {
			if v == nil {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		return m
	}
	tests := []struct {
		name     string
		options  string
		logLevel slog.Level // the host logger's level
		trust    bool       // the test peer is a trusted proxy
		method   string     // default GET
		target   string     // default /app/x?code=123456&state=s3cr3t
		body     string
		header   map[string]string
		upstream fiber.Handler // default ok
		// want is the logged line without request_id; nil = no line.
		want       map[string]any
		wantStatus int
	}{
		{
			name:       "plain request, query left out",
			want:       base(nil),
			wantStatus: http.StatusOK,
		},
		{
			name:       "include_query",
			options:    "include_query: true",
			want:       base(map[string]any{"path": "/app/x?code=123456&state=s3cr3t"}),
			wantStatus: http.StatusOK,
		},
		{
			name:       "include_user_agent",
			options:    "include_user_agent: true",
			header:     map[string]string{"User-Agent": "curl/8.5"},
			want:       base(map[string]any{"user_agent": "curl/8.5"}),
			wantStatus: http.StatusOK,
		},
		{
			name:       "body size",
			method:     http.MethodPost,
			body:       "hello",
			want:       base(map[string]any{"method": "POST", "bytes_in": 5.0}),
			wantStatus: http.StatusOK,
		},
		{
			name: "error rendered before logging",
			upstream: func(c *fiber.Ctx) error {
				c.Set("X-Seen-Id", gateway.RequestID(c))
				return gateway.Forbidden()
			},
			want:       base(map[string]any{"status": 403.0}),
			wantStatus: http.StatusForbidden,
		},
		{
			name: "unknown error is a 500",
			upstream: func(c *fiber.Ctx) error {
				c.Set("X-Seen-Id", gateway.RequestID(c))
				return errors.New("db down")
			},
			want:       base(map[string]any{"status": 500.0}),
			wantStatus: http.StatusInternalServerError,
		},
		{
			name:       "client address from a trusted proxy",
			trust:      true,
			header:     map[string]string{"X-Forwarded-For": "203.0.113.9"},
			want:       base(map[string]any{"client_ip": "203.0.113.9"}),
			wantStatus: http.StatusOK,
		},
		{
			name:       "client address from an untrusted peer ignored",
			header:     map[string]string{"X-Forwarded-For": "203.0.113.9"},
			want:       base(nil),
			wantStatus: http.StatusOK,
		},
		{
			name:       "skipped path",
			options:    "skip_paths: [/healthz]",
			target:     "/healthz",
			wantStatus: http.StatusOK,
		},
		{
			name:       "skip_paths are exact",
			options:    "skip_paths: [/app]",
			want:       base(nil),
			wantStatus: http.StatusOK,
		},
		{
			name:       "debug line",
			options:    "level: debug",
			logLevel:   slog.LevelDebug,
			want:       base(map[string]any{"level": "DEBUG"}),
			wantStatus: http.StatusOK,
		},
		{
			name:       "debug line dropped by an info logger",
			options:    "level: debug",
			wantStatus: http.StatusOK,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: tc.logLevel}))
			h := &gateway.Host{Logger: logger, Clock: fixedClock{now}}
			p := gatewaytest.ProvisionPlugin(t, Info(), tc.options, h)
			var trust *engine.Trust
			if tc.trust {
				trust = gatewaytest.TrustTestPeer()
			}
			app := gatewaytest.NewPluginApp(t, trust, p)
			upstream := tc.upstream
			if upstream == nil {
				upstream = ok
			}
			app.All("/*", upstream)

			method := cmpOr(tc.method, http.MethodGet)
			target := cmpOr(tc.target, "/app/x?code=123456&state=s3cr3t")
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			req := httptest.NewRequest(method, target, body)
			// Secrets that must never reach the log.
			req.Header.Set("Cookie", "gatehouse_session=c00kie-secret")
			req.Header.Set("Authorization", "Bearer t0ken-secret")
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			res := gatewaytest.Do(t, app, req)
			if res.Status != tc.wantStatus {
				t.Errorf("status %d, want %d", res.Status, tc.wantStatus)
			}

			raw := buf.String()
			for _, secret := range []string{"c00kie-secret", "t0ken-secret"} {
				if strings.Contains(raw, secret) {
					t.Errorf("log has %q: %s", secret, raw)
				}
			}
			lines := strings.Split(strings.TrimSpace(raw), "\n")
			if tc.want == nil {
				if raw != "" {
					t.Fatalf("logged %s, want nothing", raw)
				}
				return
			}
			if len(lines) != 1 {
				t.Fatalf("logged %d lines, want 1:\n%s", len(lines), raw)
			}
			var got map[string]any
			if err := json.Unmarshal([]byte(lines[0]), &got); err != nil {
				t.Fatalf("line is not JSON: %v: %s", err, lines[0])
			}
			want := map[string]any{"request_id": res.Header.Get("X-Seen-Id")}
			for k, v := range tc.want {
				want[k] = v
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("line (-want +got):\n%s", d)
			}
		})
	}
}

func TestDuration(t *testing.T) {
	// A clock that moves 1.5ms per reading: the line says 1.5.
	clock := &steppingClock{t: now, step: 1500 * time.Microsecond}
	var buf bytes.Buffer
	h := &gateway.Host{Logger: slog.New(slog.NewJSONHandler(&buf, nil)), Clock: clock}
	p := gatewaytest.ProvisionPlugin(t, Info(), "", h)
	app := gatewaytest.NewPluginApp(t, nil, p)
	app.Get("/", ok)
	gatewaytest.Do(t, app, httptest.NewRequest(http.MethodGet, "/", nil))

	var got struct {
		Time       time.Time `json:"time"`
		DurationMS float64   `json:"duration_ms"`
	}
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("line is not JSON: %v: %s", err, buf.String())
	}
	want := struct {
		Time       time.Time `json:"time"`
		DurationMS float64   `json:"duration_ms"`
	}{Time: now, DurationMS: 1.5}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("line (-want +got):\n%s", d)
	}
}

type steppingClock struct {
	t    time.Time
	step time.Duration
}

func (c *steppingClock) Now() time.Time {
	t := c.t
	c.t = c.t.Add(c.step)
	return t
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
