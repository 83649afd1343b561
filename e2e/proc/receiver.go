package proc

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/parleyhq/parley/client"
)

// Receiver is a local webhook endpoint for end-to-end tests: it checks
// each request's Standard Webhooks signature (with the specification's Go
// library), answers 200 after Delay, and records when each event id
// arrived.
type Receiver struct {
	URL   string
	delay time.Duration

	mu       sync.Mutex
	verifier *standardwebhooks.Webhook
	arrivals map[string][]time.Time // webhook-id -> arrival times
	invalid  int
}

// NewReceiver starts a receiver answering after delay; call SetSecret
// before the first delivery.
func NewReceiver(t testing.TB, delay time.Duration) *Receiver {
	r := &Receiver{delay: delay, arrivals: map[string][]time.Time{}}
	srv := httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(srv.Close)
	r.URL = srv.URL
	return r
}

// SetSecret sets the endpoint secret signatures are checked with.
func (r *Receiver) SetSecret(t testing.TB, secret string) {
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	r.verifier = wh
	r.mu.Unlock()
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	arrived := time.Now()
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	verifier := r.verifier
	r.mu.Unlock()
	if verifier == nil || verifier.Verify(body, req.Header) != nil {
		r.mu.Lock()
		r.invalid++
		r.mu.Unlock()
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	time.Sleep(r.delay)
	id := req.Header.Get("webhook-id")
	r.mu.Lock()
	r.arrivals[id] = append(r.arrivals[id], arrived)
	r.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// Arrivals returns a copy of the arrival times of each event id.
func (r *Receiver) Arrivals() map[string][]time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string][]time.Time, len(r.arrivals))
	for id, ts := range r.arrivals {
		out[id] = append([]time.Time(nil), ts...)
	}
	return out
}

// Received returns how many requests were accepted (2xx), duplicates
// included, and how many were refused for a bad signature.
func (r *Receiver) Received() (accepted, invalid int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ts := range r.arrivals {
		accepted += len(ts)
	}
	return accepted, r.invalid
}

// WaitFor waits until every id has arrived at least once, or fails the
// test after timeout.
func (r *Receiver) WaitFor(t testing.TB, ids []string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		arrivals := r.Arrivals()
		missing := 0
		for _, id := range ids {
			if len(arrivals[id]) == 0 {
				missing++
			}
		}
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d events not delivered after %s", missing, len(ids), timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// WaitDrained waits until the endpoint has no pending delivery left (so
// every delivery a dead process had leased was taken over and sent), or
// fails the test after timeout.
func WaitDrained(t testing.TB, api *client.Client, endpointID string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		page, err := api.ListWebhookDeliveries(context.Background(), endpointID, client.ListWebhookDeliveriesParams{State: "pending", Limit: 1})
		if err != nil {
			t.Fatalf("listing pending deliveries: %v", err)
		}
		if len(page.Items) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries still pending after %s: %+v", timeout, page.Items[0])
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// inFlightGrace is how long after a process's death a request it had sent
// may still reach the receiver's handler: it was written to the socket
// before the kill and read late by a loaded machine. A dead process sends
// nothing new.
const inFlightGrace = 2 * time.Second

// CheckDuplicates checks that each event that arrived more than once is
// explained by what the worker guarantees: its attempt log holds exactly
// one successful attempt of it (one success is sent once), and each extra
// arrival is either an attempt the worker saw fail although the receiver
// got it (a timeout: the log holds that failed attempt too) or was sent
// by the process that died at killedAt (its first arrival is before the
// kill, or within inFlightGrace after it: a request the process had sent
// may reach the receiver's handler a moment later under load; and that
// attempt was never recorded). The zero killedAt means no process died. A delivery taken over from a live worker whose lease
// expired would show two successful attempts and fail the check.
func (r *Receiver) CheckDuplicates(t testing.TB, api *client.Client, endpointID string, killedAt time.Time) (ids []string, extra int) {
	t.Helper()
	ids, extra = r.Duplicates()
	arrivals := r.Arrivals()
	for _, id := range ids {
		page, err := api.ListWebhookAttempts(context.Background(), endpointID, client.ListWebhookAttemptsParams{EventID: id})
		if err != nil {
			t.Fatalf("listing the attempts of %s: %v", id, err)
		}
		successes := 0
		for _, a := range page.Items {
			if a.Status != nil && *a.Status >= 200 && *a.Status < 300 {
				successes++
			}
		}
		if successes != 1 {
			t.Errorf("event %s arrived %d times and has %d successful attempts logged, want 1 (one success is sent once)",
				id, len(arrivals[id]), successes)
		}
		crashed := !killedAt.IsZero() && arrivals[id][0].Before(killedAt.Add(inFlightGrace))
		if len(page.Items) < len(arrivals[id]) && !crashed {
			t.Errorf("event %s arrived %d times, first at %s, with %d attempts logged: a duplicate neither a failed attempt nor a crash (at %s) explains",
				id, len(arrivals[id]), arrivals[id][0].Format(time.RFC3339Nano), len(page.Items), killedAt.Format(time.RFC3339Nano))
		}
	}
	return ids, extra
}

// Duplicates returns the ids that arrived more than once and the number
// of extra arrivals.
func (r *Receiver) Duplicates() (ids []string, extra int) {
	for id, ts := range r.Arrivals() {
		if len(ts) > 1 {
			ids = append(ids, id)
			extra += len(ts) - 1
		}
	}
	return ids, extra
}
