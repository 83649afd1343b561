package webhook

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Outcomes of an attempt, the label of parley_webhook_deliveries_total.
const (
	outcomeDelivered = "delivered" // 2xx
	outcomeRetrying  = "retrying"  // failed, another attempt is scheduled
	outcomeFailed    = "failed"    // failed, no attempt left
	outcomeGone      = "gone"      // 410: the endpoint is disabled
	outcomeLostLease = "lost_lease"
)

type metrics struct {
	deliveries *prometheus.CounterVec
	lag        prometheus.Histogram
	latency    prometheus.Histogram
	pending    prometheus.Gauge
	due        prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_webhook_deliveries_total",
			Help: "Webhook delivery attempts by outcome: delivered, retrying, failed (no attempt left), gone (410, endpoint disabled), lost_lease (another process took the delivery over).",
		}, []string{"outcome"}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "parley_webhook_first_attempt_lag_seconds",
			Help:    "Time from an event's creation (its transaction) to the start of the first attempt of each of its deliveries.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "parley_webhook_attempt_duration_seconds",
			Help:    "Duration of webhook requests, from sending to the end of the answer.",
			Buckets: prometheus.DefBuckets,
		}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "parley_webhook_queue_pending",
			Help: "Webhook deliveries not yet delivered nor failed, of every org (read from the database every few seconds).",
		}),
		due: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "parley_webhook_queue_due",
			Help: "Pending webhook deliveries whose next attempt is due now.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.deliveries, m.lag, m.latency, m.pending, m.due)
	}
	return m
}

// countOutcomes counts a batch's outcomes, one Add per outcome.
func (m *metrics) countOutcomes(outcomes []string) {
	counts := map[string]int{}
	for _, o := range outcomes {
		counts[o]++
	}
	for o, n := range counts {
		m.deliveries.WithLabelValues(o).Add(float64(n))
	}
}
