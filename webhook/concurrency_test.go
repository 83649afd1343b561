package webhook_test

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley/clock"
	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/ids"
	"github.com/parleyhq/parley/postgres"
	"github.com/parleyhq/parley/postgres/pgtestdb"
	"github.com/parleyhq/parley/service"
	"github.com/parleyhq/parley/sqlite"
	"github.com/parleyhq/parley/webhook"
)

// errorLog is a slog handler that keeps the records at level Error.
type errorLog struct {
	mu      sync.Mutex
	records []string
}

func (l *errorLog) Enabled(_ context.Context, level slog.Level) bool { return level >= slog.LevelError }
func (l *errorLog) Handle(_ context.Context, r slog.Record) error {
	text := r.Message
	r.Attrs(func(a slog.Attr) bool { text += " " + a.String(); return true })
	l.mu.Lock()
	defer l.mu.Unlock()
	l.records = append(l.records, text)
	return nil
}
func (l *errorLog) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *errorLog) WithGroup(string) slog.Handler      { return l }

func (l *errorLog) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.records...)
}

// sharedStores opens n handles on one new database of the backend, as n
// server processes would.
func sharedStores(t *testing.T, backend string, n int) []domain.Store {
	t.Helper()
	ctx := context.Background()
	var stores []domain.Store
	switch backend {
	case "sqlite":
		path := filepath.Join(t.TempDir(), "parley.db")
		for range n {
			db, err := sqlite.Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			stores = append(stores, db)
		}
	case "postgres":
		url := pgtestdb.New(t)
		for range n {
			db, err := postgres.Open(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			stores = append(stores, db)
		}
	}
	if err := stores[0].(interface{ Migrate(context.Context) error }).Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return stores
}

// TestWebhookConcurrentWorkers: six workers on two store handles (two
// processes' worth) deliver while eight writers append events of an org
// with four endpoints, one failing every attempt and two flaky (their
// health flips, in different orders in concurrent batches):
// no claim or record ever fails or even runs again after a conflict (on
// PostgreSQL claims run at READ COMMITTED with FOR UPDATE SKIP LOCKED,
// and batches change endpoint health in the order of the endpoints' ids,
// so no two transactions wait for each other in a cycle), and every
// event reaches the healthy endpoint exactly once (no worker died and no
// lease expired).
func TestWebhookConcurrentWorkers(t *testing.T) {
	backends := []string{"sqlite"}
	if os.Getenv("PARLEY_TEST_POSTGRES") != "" {
		backends = append(backends, "postgres")
	}
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) { testConcurrentWorkers(t, sharedStores(t, backend, 2)) })
	}
}

func testConcurrentWorkers(t *testing.T, stores []domain.Store) {
	const events, writers, workers = 400, 8, 6
	ctx := context.Background()
	guard := webhook.NewGuard(true, nil)
	svc := service.New(service.Config{Store: stores[0], Clock: clock.System{}, IDs: ids.Random{}, Webhooks: guard})
	org, _, err := svc.CreateOrg(ctx, "Concurrent")
	if err != nil {
		t.Fatal(err)
	}
	healthy, failing := newReceiver(t), newReceiver(t)
	failing.status.Store(http.StatusInternalServerError)
	// Two flaky endpoints out of phase: their health flips back and forth,
	// in different orders in concurrent batches.
	var flakyCalls atomic.Int64
	endpoints := []*receiver{healthy, failing}
	for _, every := range []int64{2, 3} {
		flaky := newReceiver(t)
		var calls atomic.Int64
		flaky.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			flakyCalls.Add(1)
			if calls.Add(1)%every == 0 {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		})
		endpoints = append(endpoints, flaky)
	}
	for _, r := range endpoints {
		url := r.URL + "/hook"
		if _, err := svc.CreateWebhookEndpoint(ctx, org.ID, service.WebhookEndpointInput{URL: &url}); err != nil {
			t.Fatal(err)
		}
	}
	conflicts := func() (n int64) {
		for _, s := range stores {
			if c, ok := s.(interface{ Conflicts() int64 }); ok {
				n += c.Conflicts()
			}
		}
		return n
	}
	conflictsBefore := conflicts()
	logs := &errorLog{}
	runCtx, stop := context.WithCancel(ctx)
	var running sync.WaitGroup
	for i := range workers {
		store := stores[i%len(stores)]
		notifier, _ := store.(domain.Notifier)
		w := webhook.NewWorker(webhook.Config{
			Store: store, Service: service.New(service.Config{Store: store, Clock: clock.System{}, IDs: ids.Random{}, Webhooks: guard}),
			Clock: clock.System{}, Sender: webhook.NewSender(guard, 5*time.Second, 4), Concurrency: 4,
			Lease: time.Minute, Notifier: notifier, Logger: slog.New(logs),
		})
		running.Go(func() { _ = w.Run(runCtx) })
	}
	var next atomic.Int64
	var writing sync.WaitGroup
	for i := range writers {
		store := stores[i%len(stores)]
		writing.Go(func() {
			for n := next.Add(1); n <= events; n = next.Add(1) {
				e := domain.Event{OrgID: org.ID, Type: domain.EventMessageReceived, Subject: "conv_x", CreatedAt: time.Now().UTC(),
					Payload: map[string]any{"n": n}}
				if err := store.Update(ctx, func(tx domain.Tx) error { return tx.AppendEvent(ctx, e) }); err != nil {
					t.Errorf("appending event %d: %v", n, err)
					return
				}
			}
		})
	}
	writing.Wait()
	deadline := time.Now().Add(2 * time.Minute)
	for len(healthy.accepted()) < events && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	running.Wait()
	for _, rec := range logs.list() {
		t.Errorf("worker error: %s", rec)
	}
	if n := conflicts() - conflictsBefore; n > 0 {
		t.Errorf("%d transactions conflicted (deadlock or raced key) and ran again; claims, records and event appends should never wait in a cycle", n)
	}
	got := healthy.accepted()
	if len(got) != events {
		t.Fatalf("the healthy endpoint got %d distinct events, want %d", len(got), events)
	}
	for id, n := range got {
		if n != 1 {
			t.Errorf("event %s reached the healthy endpoint %d times, want once", id, n)
		}
	}
	if n := len(failing.requests()); n < events {
		t.Errorf("the failing endpoint got %d requests, want at least one per event (%d)", n, events)
	}
	t.Logf("%d events, each delivered once to the healthy endpoint; %d attempts at the failing one, %d at the flaky ones",
		events, len(failing.requests()), flakyCalls.Load())
}

// TestWebhookLeaseRenewal: requests that take longer than the lease
// (500 ms answers, 300 ms leases) while a second worker looks for due
// deliveries: the holder keeps extending its leases, so the other never
// takes a delivery over and each event arrives once.
func TestWebhookLeaseRenewal(t *testing.T) {
	backends := []string{"sqlite"}
	if os.Getenv("PARLEY_TEST_POSTGRES") != "" {
		backends = append(backends, "postgres")
	}
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) { testLeaseRenewal(t, sharedStores(t, backend, 2)) })
	}
}

func testLeaseRenewal(t *testing.T, stores []domain.Store) {
	const events = 6
	ctx := context.Background()
	guard := webhook.NewGuard(true, nil)
	svc := service.New(service.Config{Store: stores[0], Clock: clock.System{}, IDs: ids.Random{}, Webhooks: guard})
	org, _, err := svc.CreateOrg(ctx, "Slow")
	if err != nil {
		t.Fatal(err)
	}
	slow := newReceiver(t)
	inner := slow.Config.Handler
	slow.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(500 * time.Millisecond)
		inner.ServeHTTP(w, r)
	})
	url := slow.URL + "/hook"
	if _, err := svc.CreateWebhookEndpoint(ctx, org.ID, service.WebhookEndpointInput{URL: &url}); err != nil {
		t.Fatal(err)
	}
	for n := range events {
		e := domain.Event{OrgID: org.ID, Type: domain.EventMessageReceived, Subject: "conv_x", CreatedAt: time.Now().UTC(),
			Payload: map[string]any{"n": n}}
		if err := stores[0].Update(ctx, func(tx domain.Tx) error { return tx.AppendEvent(ctx, e) }); err != nil {
			t.Fatal(err)
		}
	}
	logs := &errorLog{}
	runCtx, stop := context.WithCancel(ctx)
	var running sync.WaitGroup
	for _, store := range stores {
		w := webhook.NewWorker(webhook.Config{
			Store: store, Service: service.New(service.Config{Store: store, Clock: clock.System{}, IDs: ids.Random{}, Webhooks: guard}),
			Clock: clock.System{}, Sender: webhook.NewSender(guard, 5*time.Second, events), Concurrency: events,
			Lease: 300 * time.Millisecond, PollInterval: 20 * time.Millisecond, Logger: slog.New(logs),
		})
		running.Go(func() { _ = w.Run(runCtx) })
	}
	deadline := time.Now().Add(time.Minute)
	for len(slow.accepted()) < events && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(time.Second) // time for a second worker to take one over
	stop()
	running.Wait()
	for _, rec := range logs.list() {
		t.Errorf("worker error: %s", rec)
	}
	got := slow.accepted()
	if len(got) != events {
		t.Fatalf("%d distinct events arrived, want %d", len(got), events)
	}
	for id, n := range got {
		if n != 1 {
			t.Errorf("event %s arrived %d times: a lease expired while its holder was alive", id, n)
		}
	}
}
