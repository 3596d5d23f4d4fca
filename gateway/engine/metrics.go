package engine

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the core's Prometheus collectors, on a registry of the
// server's own (no global registry).
type metrics struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	upstreams *prometheus.CounterVec
}

// statusText caches status codes as label values (no allocation per request).
var statusText = func() (t [600]string) {
	for i := range t {
		t[i] = strconv.Itoa(i)
	}
	return t
}()

func newMetrics(more ...prometheus.Collector) *metrics {
	reg := prometheus.NewRegistry()
	m := &metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_http_requests_total",
			Help: "HTTP requests by route (\"gatehouse\" for Gatehouse's own endpoints, \"none\" for no route) and status.",
		}, []string{"route", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gatehouse_http_request_duration_seconds",
			Help:    "Time to the response headers, by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route"}),
		upstreams: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_upstream_errors_total",
			Help: "Upstream failures (unreachable, timeout) by route.",
		}, []string{"route"}),
	}
	reg.MustRegister(m.requests, m.latency, m.upstreams,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(more...)
	return m
}

func (m *metrics) observe(route string, status int, d time.Duration) {
	if status < 0 || status >= len(statusText) {
		status = 0
	}
	m.requests.WithLabelValues(route, statusText[status]).Inc()
	m.latency.WithLabelValues(route).Observe(d.Seconds())
}

func (m *metrics) upstreamError(route string) {
	m.upstreams.WithLabelValues(route).Inc()
}

// Handler serves the registry in the Prometheus text format.
func (m *metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
