package webhook

import (
	"encoding/json"
	"time"

	"github.com/parleyhq/parley/domain"
)

// Retries follows the first attempt, made as soon as the event commits:
// the delay before each further attempt. It is the schedule (5 s,
// 5 min, 30 min, 2 h, 5 h, 10 h, 10 h), then every 10 h while the next
// attempt stays within three days of the first: 12 attempts, the last one
// about 67.6 h after the event. Each delay gets ±10 % of jitter.
var Retries = []time.Duration{
	5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour,
	10 * time.Hour, 10 * time.Hour, 10 * time.Hour, 10 * time.Hour,
}

// MaxAttempts is how many attempts a delivery gets before it fails.
var MaxAttempts = len(Retries) + 1

// Jitter is the relative spread of each retry delay: a delay d waits
// between d·(1-Jitter) and d·(1+Jitter).
const Jitter = 0.1

// DefaultDisableAfter is how long an endpoint may fail every attempt
// before it is disabled.
const DefaultDisableAfter = 5 * 24 * time.Hour

// retryDelay returns the jittered delay after attempt number attempts
// (from 1) failed, and false when that was the last attempt. random
// returns a number in [0, 1).
func retryDelay(attempts int, random func() float64) (time.Duration, bool) {
	if attempts < 1 || attempts > len(Retries) {
		return 0, false
	}
	d := Retries[attempts-1]
	factor := 1 - Jitter + 2*Jitter*random()
	return time.Duration(float64(d) * factor), true
}

// envelope is the JSON body of every delivery (the Standard Webhooks
// payload structure plus the event id and subject).
type envelope struct {
	ID        string         `json:"id"`
	Type      string         `json:"type"`
	Timestamp string         `json:"timestamp"`
	Subject   string         `json:"subject"`
	Data      map[string]any `json:"data"`
}

// Body returns the JSON body of a delivery: the same bytes on every
// attempt.
func Body(d domain.WebhookDelivery) ([]byte, error) {
	data := d.Payload
	if data == nil {
		data = map[string]any{}
	}
	return json.Marshal(envelope{
		ID: d.EventID(), Type: d.EventType, Subject: d.Subject, Data: data,
		Timestamp: d.EventCreatedAt.UTC().Format("2006-01-02T15:04:05.000000Z07:00"),
	})
}
