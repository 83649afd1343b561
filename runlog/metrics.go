package runlog

import "github.com/prometheus/client_golang/prometheus"

// metrics are the log's collectors.
type metrics struct {
	written, dropped prometheus.Counter
	retries          prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, queued func() float64) metrics {
	records := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "parley_runlog_records_total",
		Help: "Run records handed to the run log, by outcome: written, or dropped (buffer full, closed, or refused by the database).",
	}, []string{"outcome"})
	m := metrics{
		written: records.WithLabelValues("written"),
		dropped: records.WithLabelValues("dropped"),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_runlog_retries_total",
			Help: "Batches of run records tried again because the database was unavailable.",
		}),
	}
	if reg != nil {
		reg.MustRegister(records, m.retries, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "parley_runlog_queued",
			Help: "Run records waiting to be written.",
		}, queued))
	}
	return m
}
