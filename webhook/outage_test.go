package webhook_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/service"
	"github.com/parleyhq/parley/webhook"
)

// TestWebhookOutage drives the worker with a manual clock through a
// receiver outage of 10 minutes, then one of 2 days: afterwards every
// event has been accepted exactly once, none is lost, and each delivery's
// attempts were made on the retry schedule (within its jitter). Then a 410
// answer disables the endpoint, which gets no more deliveries.
func TestWebhookOutage(t *testing.T) {
	e := newEnv(t, true, nil)
	recv := newReceiver(t)
	ep := e.register(t, recv.URL).Endpoint
	ctx := context.Background()

	outage := func(t *testing.T, down time.Duration, events func() []string, minAttempts int) {
		recv.status.Store(http.StatusServiceUnavailable)
		start := e.Clock.Now()
		ids := events()
		e.driveUntil(t, start.Add(down))
		if got := recv.accepted(); len(got) > 0 && containsAny(got, ids) {
			t.Fatalf("events accepted during the outage: %v", got)
		}
		recv.status.Store(http.StatusOK)
		e.driveUntil(t, start.Add(4*24*time.Hour))
		if q := e.queue(t); q.Pending != 0 {
			t.Fatalf("%d deliveries still pending after the outage", q.Pending)
		}
		accepted := recv.accepted()
		for _, id := range ids {
			if accepted[id] != 1 {
				t.Errorf("event %s accepted %d times, want once", id, accepted[id])
			}
		}
		byEvent := map[int64][]domain.WebhookAttempt{}
		for _, a := range e.attempts(t, ep.ID) {
			if id := domain.EventIDOf(a.EventSeq); contains(ids, id) {
				byEvent[a.EventSeq] = append(byEvent[a.EventSeq], a)
			}
		}
		if len(byEvent) != len(ids) {
			t.Fatalf("attempts logged for %d events, want %d", len(byEvent), len(ids))
		}
		for seq, as := range byEvent {
			checkSchedule(t, domain.EventIDOf(seq), as, start.Add(down), minAttempts)
		}
	}

	t.Run("10 minutes", func(t *testing.T) {
		// Attempts at 0, 5 s, 5 min 5 s fail; the one at 35 min 5 s succeeds.
		outage(t, 10*time.Minute, func() []string { return e.startConversations(t, 3) }, 4)
		// (Nominal times; each delay has its jitter.)
	})
	t.Run("2 days", func(t *testing.T) {
		// Nominally ten attempts fail within 47 h 35 min and the one at
		// 57 h 35 min succeeds; the jitter may move the tenth past 48 h.
		outage(t, 48*time.Hour, func() []string { return e.startConversations(t, 5) }, 10)
		got, err := e.svc.GetWebhookEndpoint(ctx, e.Org, ep.ID)
		if err != nil || !got.Enabled {
			t.Fatalf("endpoint after a 2-day outage: %+v, %v; want it still enabled", got, err)
		}
	})
	t.Run("410 disables", func(t *testing.T) {
		recv.status.Store(http.StatusGone)
		e.startConversations(t, 2)
		e.deliverDue(t)
		got, err := e.svc.GetWebhookEndpoint(ctx, e.Org, ep.ID)
		if err != nil || got.Enabled || !strings.Contains(got.DisabledReason, "410") {
			t.Fatalf("endpoint after a 410: %+v, %v; want it disabled, saying 410", got, err)
		}
		failed, err := e.svc.ListWebhookDeliveries(ctx, e.Org, ep.ID, domain.DeliveryFilter{State: domain.DeliveryFailed, Limit: 100})
		if err != nil || len(failed) != 2 {
			t.Fatalf("failed deliveries after a 410: %d, %v; want 2", len(failed), err)
		}
		before := len(recv.requests())
		recv.status.Store(http.StatusOK)
		e.startConversations(t, 1)
		e.driveUntil(t, e.Clock.Now().Add(time.Hour))
		if n := len(recv.requests()); n != before {
			t.Errorf("a disabled endpoint got %d more requests", n-before)
		}
	})
}

// TestWebhookDisabledAfterDays: an endpoint that fails every attempt for
// five days is disabled with its reason, and its pending deliveries fail;
// after it is enabled again, a replay of the failed ones since a time
// delivers them.
func TestWebhookDisabledAfterDays(t *testing.T) {
	e := newEnv(t, true, nil)
	recv := newReceiver(t)
	recv.status.Store(http.StatusInternalServerError)
	ep := e.register(t, recv.URL).Endpoint
	ctx := context.Background()
	start := e.Clock.Now()
	var ids []string
	for day := range 6 {
		ids = append(ids, e.startConversations(t, 1)...)
		e.driveUntil(t, start.Add(time.Duration(day+1)*24*time.Hour))
	}
	got, err := e.svc.GetWebhookEndpoint(ctx, e.Org, ep.ID)
	if err != nil || got.Enabled || !strings.Contains(got.DisabledReason, "every attempt failed since") {
		t.Fatalf("endpoint after 6 days of failures: %+v, %v; want it disabled, saying why", got, err)
	}
	if q := e.queue(t); q.Pending != 0 {
		t.Errorf("%d deliveries still pending after the endpoint was disabled", q.Pending)
	}
	if _, err := e.svc.ReplayFailedWebhookDeliveries(ctx, e.Org, ep.ID, start); domain.ErrorCode(err) != domain.CodeInvalidArgument {
		t.Errorf("replay to a disabled endpoint: %v, want invalid_argument", err)
	}
	if _, err := e.svc.EnableWebhookEndpoint(ctx, e.Org, ep.ID); err != nil {
		t.Fatal(err)
	}
	recv.status.Store(http.StatusOK)
	n, err := e.svc.ReplayFailedWebhookDeliveries(ctx, e.Org, ep.ID, start)
	if err != nil || n != len(ids) {
		t.Fatalf("replay since the start: %d, %v; want %d", n, err, len(ids))
	}
	e.deliverDue(t)
	accepted := recv.accepted()
	for _, id := range ids {
		if accepted[id] != 1 {
			t.Errorf("event %s accepted %d times after the replay, want once", id, accepted[id])
		}
	}
	// Replaying one delivered event sends it again.
	seq, _ := domain.ParseEventID(ids[0])
	if n, err := e.svc.ReplayWebhookEvent(ctx, e.Org, ep.ID, seq); err != nil || n != 1 {
		t.Fatalf("replay of one event: %d, %v", n, err)
	}
	e.deliverDue(t)
	if got := recv.accepted()[ids[0]]; got != 2 {
		t.Errorf("replayed event accepted %d times, want 2", got)
	}
	if _, err := e.svc.ReplayWebhookEvent(ctx, e.Org, ep.ID, 999999); domain.ErrorCode(err) != domain.CodeNotFound {
		t.Errorf("replay of an unknown event: %v, want not_found", err)
	}
}

// checkSchedule checks that an event's attempts were made on the retry
// schedule, each delay within its jitter: every attempt before the
// receiver recovered failed (logged with its error and answer), and the
// first one after succeeded and was the last.
func checkSchedule(t *testing.T, id string, as []domain.WebhookAttempt, recovered time.Time, minAttempts int) {
	t.Helper()
	if len(as) < minAttempts {
		t.Errorf("event %s: %d attempts, want at least %d", id, len(as), minAttempts)
		return
	}
	for i, a := range as {
		if a.Attempt != i+1 {
			t.Errorf("event %s: attempt %d numbered %d", id, i+1, a.Attempt)
		}
		ok := a.Status >= 200 && a.Status < 300
		last := i == len(as)-1
		if ok != last || a.StartedAt.Before(recovered) == last {
			t.Errorf("event %s: attempt %d of %d at %s answered %d; the receiver recovered at %s",
				id, i+1, len(as), a.StartedAt, a.Status, recovered)
		}
		if !ok && (a.Error == "" || a.ResponseExcerpt == "") {
			t.Errorf("event %s: failed attempt %d logged without error or excerpt: %+v", id, i+1, a)
		}
		if i == 0 {
			continue
		}
		delay, nominal := a.StartedAt.Sub(as[i-1].StartedAt), webhook.Retries[i-1]
		low := time.Duration(float64(nominal) * (1 - webhook.Jitter))
		high := time.Duration(float64(nominal) * (1 + webhook.Jitter))
		if delay < low || delay > high {
			t.Errorf("event %s: attempt %d came %s after the previous, want %s ±%.0f%%", id, i+1, delay, nominal, 100*webhook.Jitter)
		}
	}
}

// startConversations starts n conversations and returns the ids of their
// conversation.started events.
func (e *env) startConversations(t testing.TB, n int) []string {
	t.Helper()
	var ids []string
	for range n {
		st := e.Start("")
		events, err := e.Service.ListEvents(context.Background(), e.Org, 0, service.MaxPageSize)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range events {
			if ev.Type == domain.EventConversationStarted && ev.Subject == string(st.Conversation.ID) {
				ids = append(ids, ev.ID())
			}
		}
	}
	if len(ids) != n {
		t.Fatalf("found %d conversation.started events, want %d", len(ids), n)
	}
	return ids
}

func contains(ids []string, id string) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

func containsAny(m map[string]int, ids []string) bool {
	for _, id := range ids {
		if m[id] > 0 {
			return true
		}
	}
	return false
}
