package httpapi

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/service"
)

// metrics are the collectors of the API.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	runs     *prometheus.CounterVec
	handler  http.Handler
	// knownOps holds "kind/name" of every operation, so unknown names
	// requested by clients do not become label values.
	knownOps map[string]bool
}

// newMetrics registers the collectors on reg (a fresh registry with Go and
// process collectors when nil). Registering twice on one registry reuses
// the collectors already there.
func newMetrics(reg prometheus.Registerer) *metrics {
	if reg == nil {
		fresh := prometheus.NewRegistry()
		fresh.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		reg = fresh
	}
	gatherer, ok := reg.(prometheus.Gatherer)
	if !ok {
		gatherer = prometheus.DefaultGatherer
	}
	m := &metrics{
		requests: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_http_requests_total",
			Help: "HTTP requests by route pattern, method and status.",
		}, []string{"route", "method", "status"})),
		duration: register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "parley_http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern and method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "method"})),
		runs: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_operation_runs_total",
			Help: "Data operation and action runs by kind, name and outcome code (ok for success).",
		}, []string{"kind", "name", "code"})),
		handler:  promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}),
		knownOps: map[string]bool{},
	}
	for _, op := range service.Operations() {
		m.knownOps[string(op.Kind)+"/"+op.Name] = true
	}
	return m
}

// register registers c, or returns the equal collector already registered.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	err := reg.Register(c)
	var already prometheus.AlreadyRegisteredError
	if errors.As(err, &already) {
		if existing, ok := already.ExistingCollector.(C); ok {
			return existing
		}
	}
	if err != nil {
		panic(err)
	}
	return c
}

func (m *metrics) observeRequest(route, method string, status int, elapsed time.Duration) {
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(route, method).Observe(elapsed.Seconds())
}

// observeRun counts a run's outcome: "ok", a business outcome code or a
// thrown code.
func (m *metrics) observeRun(kind domain.RunKind, name, code string) {
	if !m.knownOps[string(kind)+"/"+name] {
		name = "unknown"
	}
	m.runs.WithLabelValues(string(kind), name, code).Inc()
}
