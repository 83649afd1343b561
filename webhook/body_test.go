package webhook_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/webhook"
)

// TestWebhookBody checks that a delivery's body, built from the payload's
// stored bytes, is what encoding/json makes of the envelope with the
// payload decoded (the body before the bytes were kept as they are):
// strings escaped alike (quotes, control and HTML characters, non-ASCII,
// invalid UTF-8), a payload of null or none is {}, and a payload that is
// not JSON is refused.
func TestWebhookBody(t *testing.T) {
	at := time.Date(2026, 11, 30, 9, 8, 7, 654321000, time.FixedZone("x", 3600))
	for _, tc := range []struct {
		subject string
		payload map[string]any
	}{
		{"conv_1", map[string]any{"text": "hello", "n": 3, "nested": map[string]any{"ok": true, "list": []any{1.5, "x"}}}},
		{`a "quoted" \ <b>&amp;</b> é ☃ ` + "\x01\t\u2028\xff", map[string]any{"text": `<"é">` + "\n\xfe"}},
		{"", nil},
		{"conv_2", map[string]any{}},
	} {
		stored, err := json.Marshal(tc.payload) // what the stores keep: null for none
		if err != nil {
			t.Fatal(err)
		}
		d := domain.WebhookDelivery{EventSeq: 42, EventType: domain.EventMessageReceived, Subject: tc.subject,
			Payload: stored, EventCreatedAt: at}
		got, err := webhook.Body(d)
		if err != nil {
			t.Fatalf("Body(%q): %v", tc.subject, err)
		}
		data := tc.payload
		if data == nil {
			data = map[string]any{}
		}
		want, err := json.Marshal(envelope{ID: "evt_42", Type: d.EventType, Subject: d.Subject, Data: data,
			Timestamp: "2026-11-30T08:08:07.654321Z"})
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("Body(%q)\n got %s\nwant %s", tc.subject, got, want)
		}
		d.Payload = nil
		if got, err := webhook.Body(d); err != nil || !json.Valid(got) {
			t.Errorf("Body without a payload = %s, %v", got, err)
		}
	}
	if _, err := webhook.Body(domain.WebhookDelivery{Payload: json.RawMessage(`{"a":`)}); err == nil {
		t.Error("Body of a payload that is not JSON: no error")
	}
}
