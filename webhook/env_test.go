package webhook_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/identifier"
	"github.com/parleyhq/parley/service"
	"github.com/parleyhq/parley/sqlite"
	"github.com/parleyhq/parley/storetest"
	"github.com/parleyhq/parley/webhook"
)

// received is one request a receiver got.
type received struct {
	Header http.Header
	Body   []byte
	At     time.Time
	Status int // what the receiver answered
}

// receiver is a local webhook endpoint that answers with a settable status
// and records every request.
type receiver struct {
	*httptest.Server
	status atomic.Int32
	mu     sync.Mutex
	got    []received
}

func newReceiver(t testing.TB) *receiver {
	r := &receiver{}
	r.status.Store(http.StatusNoContent)
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		status := int(r.status.Load())
		r.mu.Lock()
		r.got = append(r.got, received{Header: req.Header.Clone(), Body: body, At: time.Now(), Status: status})
		r.mu.Unlock()
		w.WriteHeader(status)
		_, _ = io.WriteString(w, http.StatusText(status))
	}))
	t.Cleanup(r.Close)
	return r
}

// requests returns what the receiver got so far.
func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

// accepted counts the requests answered 2xx, by webhook-id.
func (r *receiver) accepted() map[string]int {
	out := map[string]int{}
	for _, req := range r.requests() {
		if req.Status >= 200 && req.Status < 300 {
			out[req.Header.Get("webhook-id")]++
		}
	}
	return out
}

// env is a world on a real SQLite file with a service that manages
// webhooks and a worker, all on the world's manual clock.
type env struct {
	*storetest.World
	svc    *service.Service
	guard  *webhook.Guard
	worker *webhook.Worker
}

// newEnv builds an env whose guard allows private targets when
// allowPrivate (the local receivers need it) and resolves with resolver
// (nil for the system's).
func newEnv(t testing.TB, allowPrivate bool, resolver webhook.Resolver) *env {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "parley.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	w := storetest.NewWorld(t, db)
	e := &env{World: w, guard: webhook.NewGuard(allowPrivate, resolver)}
	e.svc = service.New(service.Config{Store: db, Clock: w.Clock, IDs: w.IDs, Licenses: w.Verifier,
		Identifiers: identifier.Normalizer{}, Webhooks: e.guard})
	e.worker = webhook.NewWorker(webhook.Config{
		Store: db, Service: e.svc, Clock: w.Clock, Sender: webhook.NewSender(e.guard, 5*time.Second, 4),
		Concurrency: 4, Lease: time.Minute,
	})
	return e
}

// register creates an endpoint of the world's org and returns it with its
// secret.
func (e *env) register(t testing.TB, url string, types ...string) service.NewWebhookEndpoint {
	t.Helper()
	created, err := e.svc.CreateWebhookEndpoint(context.Background(), e.Org, service.WebhookEndpointInput{
		URL: &url, EventTypes: &types,
	})
	if err != nil {
		t.Fatalf("CreateWebhookEndpoint(%s): %v", url, err)
	}
	return created
}

// deliverDue runs the worker once and fails the test on error.
func (e *env) deliverDue(t testing.TB) int {
	t.Helper()
	n, err := e.worker.DeliverDue(context.Background())
	if err != nil {
		t.Fatalf("DeliverDue: %v", err)
	}
	return n
}

// queue reads the delivery queue at the clock's time.
func (e *env) queue(t testing.TB) domain.WebhookQueueStats {
	t.Helper()
	var q domain.WebhookQueueStats
	err := e.Store.View(context.Background(), func(tx domain.Tx) (err error) {
		q, err = tx.WebhookQueue(context.Background(), e.Clock.Now())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// driveUntil moves the clock from one due attempt to the next and makes
// them, up to until (the clock then reads until).
func (e *env) driveUntil(t testing.TB, until time.Time) {
	t.Helper()
	for {
		e.deliverDue(t)
		q := e.queue(t)
		if q.Pending == 0 || q.NextDue.After(until) {
			break
		}
		if q.NextDue.After(e.Clock.Now()) {
			e.Clock.Set(q.NextDue)
		}
	}
	if until.After(e.Clock.Now()) {
		e.Clock.Set(until)
	}
}

// attempts lists an endpoint's attempts, oldest first.
func (e *env) attempts(t testing.TB, id domain.WebhookEndpointID) []domain.WebhookAttempt {
	t.Helper()
	as, err := e.svc.ListWebhookAttempts(context.Background(), e.Org, id, domain.AttemptFilter{Limit: service.MaxPageSize})
	if err != nil {
		t.Fatal(err)
	}
	for i, j := 0, len(as)-1; i < j; i, j = i+1, j-1 {
		as[i], as[j] = as[j], as[i]
	}
	return as
}

// envelope is a delivery body as a receiver decodes it.
type envelope struct {
	ID        string         `json:"id"`
	Type      string         `json:"type"`
	Timestamp string         `json:"timestamp"`
	Subject   string         `json:"subject"`
	Data      map[string]any `json:"data"`
}

func decodeBody(t testing.TB, body []byte) envelope {
	t.Helper()
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatalf("delivery body %q: %v", body, err)
	}
	return env
}

// newServer serves h on a local port and returns its base URL.
func newServer(t testing.TB, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
