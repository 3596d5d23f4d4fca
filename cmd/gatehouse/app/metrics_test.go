package app_test

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"gatehouse/config"
)

// scrape reads addr's /metrics into "name{labels}" → value.
func scrape(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	res, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

func withMetrics(t *testing.T, addr *string) func(*config.Config) {
	*addr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	return func(c *config.Config) { c.Metrics.Listen = *addr }
}

// TestAccountMetrics counts through /metrics what people did: sign-ups,
// codes sent by purpose, sign-ins by method and result, the lockout the
// failures end in, each as the requests happen, on both backends.
func TestAccountMetrics(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		t.Parallel()
		var addr string
		s := newStack(t, backend, func(c *config.Config) {
			withMetrics(t, &addr)(c)
			c.RateLimits.Login = config.Rate{}
			c.Accounts.Lockout.MaxFailures = 3
		})
		email := uniqueEmail("metrics")
		s.signUp(s.client(), email)
		expect(t, s.client().post("/auth/login", map[string]any{"email": email, "password": pw}), 200, "")
		for range 3 {
			expect(t, s.client().post("/auth/login", map[string]any{"email": email, "password": "Wrong-Horse-9"}), 401, "invalid_credentials")
		}
		expect(t, s.client().post("/auth/login", map[string]any{"email": email, "password": pw}), 423, "account_locked")

		other := uniqueEmail("metrics-code")
		s.signUp(s.client(), other)
		expect(t, s.client().post("/auth/login/code", map[string]any{"email": other}), 202, "")
		s.nextCode(other)
		expect(t, s.client().post("/auth/login/code/verify", map[string]any{"email": other, "code": "000000"}), 400, "invalid_code")

		m := scrape(t, addr)
		for k, want := range map[string]float64{
			"gatehouse_sign_ups_total":                                      2,
			`gatehouse_codes_sent_total{purpose="verify_email"}`:            2,
			`gatehouse_codes_sent_total{purpose="login"}`:                   1,
			`gatehouse_sign_ins_total{method="password",result="ok"}`:       1,
			`gatehouse_sign_ins_total{method="password",result="failed"}`:   3,
			`gatehouse_sign_ins_total{method="email_code",result="failed"}`: 1,
			`gatehouse_lockouts_total{reason="password"}`:                   1,
		} {
			if got, ok := m[k]; !ok || got != want {
				t.Errorf("%s = %v (present %v), want %v", k, got, ok, want)
			}
		}
		if _, ok := m["gatehouse_outbox_oldest_pending_seconds"]; !ok {
			t.Error("no gatehouse_outbox_oldest_pending_seconds")
		}
	})
}

// TestOutboxDepthMetric: with the mail server down, the verification mail
// waits in the outbox, and /metrics shows it pending and ageing.
func TestOutboxDepthMetric(t *testing.T) {
	t.Parallel()
	var addr string
	s := newStack(t, "embedded", func(c *config.Config) {
		withMetrics(t, &addr)(c)
		c.Mail.SMTP.Port = freePort(t) // nothing listens there
	})
	expect(t, s.client().post("/auth/register", map[string]any{"email": uniqueEmail("queued"), "password": pw}), 201, "")
	deadline := time.Now().Add(5 * time.Second)
	for {
		m := scrape(t, addr)
		if m[`gatehouse_outbox_items{kind="mail",status="pending"}`] >= 1 && m["gatehouse_outbox_oldest_pending_seconds"] > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no pending mail in the outbox metrics: items %v, oldest %v",
				m[`gatehouse_outbox_items{kind="mail",status="pending"}`], m["gatehouse_outbox_oldest_pending_seconds"])
		}
		time.Sleep(100 * time.Millisecond)
	}
}
