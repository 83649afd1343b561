package webhook

import (
	"encoding/json"
	"fmt"
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

// Body returns the JSON body of a delivery, the same bytes on every
// attempt: the Standard Webhooks payload structure plus the event id and
// subject, {"id", "type", "timestamp", "subject", "data"}, where data is
// the event's payload as the store keeps it (not decoded and encoded
// again), {} when it has none.
func Body(d domain.WebhookDelivery) ([]byte, error) {
	data := []byte(d.Payload)
	if len(data) == 0 || string(data) == "null" {
		data = []byte("{}")
	} else if !json.Valid(data) {
		return nil, fmt.Errorf("webhook: the payload of %s is not JSON", d.EventID())
	}
	b := make([]byte, 0, len(data)+len(d.EventType)+len(d.Subject)+112)
	b = appendString(append(b, `{"id":`...), d.EventID())
	b = appendString(append(b, `,"type":`...), d.EventType)
	b = d.EventCreatedAt.UTC().AppendFormat(append(b, `,"timestamp":"`...), "2006-01-02T15:04:05.000000Z07:00")
	b = appendString(append(b, `","subject":`...), d.Subject)
	b = append(append(b, `,"data":`...), data...)
	return append(b, '}'), nil
}

// appendString appends s as a JSON string, escaped as encoding/json does.
func appendString(b []byte, s string) []byte {
	for i := range len(s) {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			quoted, _ := json.Marshal(s) // a string always encodes
			return append(b, quoted...)
		}
	}
	return append(append(append(b, '"'), s...), '"')
}
