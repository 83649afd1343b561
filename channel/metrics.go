// Package channel holds what the channel transports (channel/webchat,
// channel/twilio) share: their Prometheus metrics.
package channel

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the channels' collectors. A nil *Metrics records nothing.
type Metrics struct {
	messages    *prometheus.CounterVec
	sendLatency *prometheus.HistogramVec
	sockets     prometheus.Gauge
}

// NewMetrics registers the channel metrics on reg (nil: a fresh registry).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := &Metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_channel_messages_total",
			Help: "Messages through the channels, by channel (webchat, sms), direction (in, out) and outcome.",
		}, []string{"channel", "direction", "status"}),
		sendLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "parley_channel_send_seconds",
			Help:    "Time to hand an outbound message to its channel (the SMS API request; the web chat socket write).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"channel"}),
		sockets: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "parley_webchat_open_sockets",
			Help: "Web chat WebSocket connections open in this process.",
		}),
	}
	reg.MustRegister(m.messages, m.sendLatency, m.sockets)
	return m
}

// Message counts one message of channel in direction ("in" or "out")
// with its outcome (stored, duplicate, refused, sent, retry, unknown,
// failed, opted_out, delivered...).
func (m *Metrics) Message(channel, direction, status string) {
	if m != nil {
		m.messages.WithLabelValues(channel, direction, status).Inc()
	}
}

// Sent observes the time one send took.
func (m *Metrics) Sent(channel string, d time.Duration) {
	if m != nil {
		m.sendLatency.WithLabelValues(channel).Observe(d.Seconds())
	}
}

// SocketOpened and SocketClosed track the open web chat sockets.
func (m *Metrics) SocketOpened() {
	if m != nil {
		m.sockets.Inc()
	}
}

// SocketClosed is the end of a socket SocketOpened counted.
func (m *Metrics) SocketClosed() {
	if m != nil {
		m.sockets.Dec()
	}
}
