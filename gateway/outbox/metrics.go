package outbox

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"gatehouse/gateway/db"
)

// Collector reports the queue's depth at each scrape: items waiting
// (pending, by kind), items given up (dead, by kind), and the age of the
// oldest pending one — the figure to alert on when a mail server or a
// webhook endpoint is down. A database that does not answer within 2 s
// leaves these out of that scrape (logged); the rest of /metrics stays.
func (q *Queue) Collector() prometheus.Collector { return depthCollector{q} }

var (
	itemsDesc = prometheus.NewDesc("gatehouse_outbox_items",
		"Outbox items by status (pending: waiting or being retried; dead: given up after max attempts) and kind (mail, event:<sink>, …).",
		[]string{"status", "kind"}, nil)
	oldestDesc = prometheus.NewDesc("gatehouse_outbox_oldest_pending_seconds",
		"Age of the oldest pending outbox item (0 when none).", nil, nil)
)

type depthCollector struct{ q *Queue }

func (depthCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- itemsDesc
	ch <- oldestDesc
}

func (d depthCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var rows []struct {
		Status string
		Kind   string
		N      int64
	}
	err := d.q.db.WithContext(ctx).Model(&db.OutboxItem{}).Select("status, kind, count(*) AS n").
		Where("status IN ?", []string{db.OutboxPending, db.OutboxDead}).Group("status, kind").Scan(&rows).Error
	if err != nil {
		d.q.log.Warn("outbox depth not measured", "error", err)
		return
	}
	for _, r := range rows {
		ch <- prometheus.MustNewConstMetric(itemsDesc, prometheus.GaugeValue, float64(r.N), r.Status, r.Kind)
	}
	var oldest []db.OutboxItem
	err = d.q.db.WithContext(ctx).Select("created_at").Where("status = ?", db.OutboxPending).
		Order("created_at").Limit(1).Find(&oldest).Error
	if err != nil {
		d.q.log.Warn("outbox depth not measured", "error", err)
		return
	}
	age := 0.0
	if len(oldest) == 1 {
		age = max(0, time.Since(oldest[0].CreatedAt).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, age)
}
