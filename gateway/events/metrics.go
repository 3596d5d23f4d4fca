package events

import "github.com/prometheus/client_golang/prometheus"

// counters are the account events' Prometheus counters, counted as each
// event is written (an event in a transaction that then rolls back is
// counted too; they are rare: a failed sign-up's).
type counters struct {
	signIns  *prometheus.CounterVec
	signUps  prometheus.Counter
	lockouts *prometheus.CounterVec
}

func newCounters() *counters {
	return &counters{
		signIns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_sign_ins_total",
			Help: "Sign-ins by method (password, email_code, mfa, a provider's name…) and result (ok, failed).",
		}, []string{"method", "result"}),
		signUps: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatehouse_sign_ups_total",
			Help: "Accounts created (sign-up, invitation, first provider sign-in, admin).",
		}),
		lockouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_lockouts_total",
			Help: "Accounts locked after too many failures, by what failed (password, mfa).",
		}, []string{"reason"}),
	}
}

// Collectors are the emitter's counters, for the /metrics registry.
func (e *Emitter) Collectors() []prometheus.Collector {
	return []prometheus.Collector{e.counters.signIns, e.counters.signUps, e.counters.lockouts}
}

// count notes r in the counters. Label values come from Gatehouse's own
// code and config (methods, reasons), never from the request; anything
// longer than a method name is folded into "other".
func (c *counters) count(r Record) {
	switch r.Type {
	case UserLogin:
		c.signIns.WithLabelValues(label(r.Data["method"]), "ok").Inc()
	case UserLoginFailed:
		c.signIns.WithLabelValues(label(r.Data["method"]), "failed").Inc()
	case UserCreated:
		c.signUps.Inc()
	case UserLocked:
		c.lockouts.WithLabelValues(label(r.Data["reason"])).Inc()
	}
}

func label(v any) string {
	s, _ := v.(string)
	if s == "" || len(s) > 64 {
		return "other"
	}
	return s
}
