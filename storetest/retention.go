package storetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/retention"
	"github.com/parleyhq/parley/service"
)

// RunRetention is TestRetention for a backend: with the world's injected
// clock, runs and events older than the retention period, webhook
// deliveries delivered or failed whose event is that old (with their
// attempts; pending ones are kept) and idempotency records older than 24
// hours are deleted, the recent ones kept, by two
// workers on two store handles at once (as two server processes would),
// in small batches, while writers keep writing and none of them fails.
func RunRetention(t *testing.T, open Opener) {
	stores := open(t, 2)
	w := NewWorld(t, stores[0])
	ctx := context.Background()
	const keep = 30 * 24 * time.Hour

	// Every event is delivered to one webhook endpoint.
	hook := domain.WebhookEndpoint{ID: "whe_retention", OrgID: w.Org, URL: "https://hooks.example.com/r",
		Enabled: true, Secret: "whsec_c2VjcmV0", CreatedAt: w.Clock.Now(), UpdatedAt: w.Clock.Now()}
	update(t, stores[0], func(ctx context.Context, tx domain.Tx) error { return tx.CreateWebhookEndpoint(ctx, hook) })

	// Old: conversations (events), finds (runs), idempotency keys.
	oldKeys := writeHistory(t, w, "old", 25)
	w.Clock.Advance(keep - 25*time.Hour)
	// Older than 24 hours when the pass runs, but within the 30 days.
	staleKeys := writeHistory(t, w, "stale", 5)
	w.Clock.Advance(2 * time.Hour)
	recentKeys := writeHistory(t, w, "recent", 10)
	w.Clock.Advance(24 * time.Hour)
	// Now the first batch is 30 days and an hour old, the second 25 hours,
	// the third 23 hours.
	cutoff := w.Clock.Now().Add(-keep)
	finishDeliveries(t, w, hook.ID)
	deliveriesBefore := webhookHistory(t, w, hook.ID)
	var keptDeliveries []int64
	doomedAttempts := 0
	for _, d := range deliveriesBefore {
		if d.State == domain.DeliveryPending || !d.EventCreatedAt.Before(cutoff) {
			keptDeliveries = append(keptDeliveries, d.EventSeq)
		} else {
			doomedAttempts += d.Attempts
		}
	}
	if len(keptDeliveries) == len(deliveriesBefore) || doomedAttempts == 0 {
		t.Fatalf("no finished delivery is older than the cutoff (%d deliveries)", len(deliveriesBefore))
	}

	before := TakeSnapshot(t, w.Store, w.Org)
	var keptRuns, keptEvents []string
	for _, r := range before.Runs {
		if !r.StartedAt.Before(cutoff) {
			keptRuns = append(keptRuns, string(r.ID))
		}
	}
	for _, e := range before.Events {
		if !e.CreatedAt.Before(cutoff) {
			keptEvents = append(keptEvents, e.ID())
		}
	}
	if len(keptRuns) == len(before.Runs) || len(keptEvents) == len(before.Events) || len(keptRuns) == 0 {
		t.Fatalf("the history is not split by the cutoff: %d of %d runs and %d of %d events are recent",
			len(keptRuns), len(before.Runs), len(keptEvents), len(before.Events))
	}

	var wg sync.WaitGroup
	stats := make([]retention.Stats, len(stores))
	errs := make([]error, len(stores)+1)
	for i, store := range stores {
		worker := retention.New(retention.Config{Store: store, Clock: w.Clock, Keep: keep, BatchSize: 7, Pause: time.Millisecond})
		wg.Go(func() { stats[i], errs[i] = worker.Pass(ctx) })
	}
	// Writers at the same time: none may fail or lose anything.
	var written []domain.ConversationID
	wg.Go(func() {
		for i := range 15 {
			st, err := w.Service.StartConversation(ctx, w.Org, service.StartInput{DeploymentID: w.Deployment.ID,
				Party: w.Party(fmt.Sprintf("during-%d", i), fmt.Sprintf("ext:during-%d", i))})
			if err != nil {
				errs[len(stores)] = err
				return
			}
			written = append(written, st.Conversation.ID)
		}
	})
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("worker or writer %d: %v", i, err)
		}
	}

	after := TakeSnapshot(t, w.Store, w.Org)
	var runs, events []string
	for _, r := range after.Runs {
		runs = append(runs, string(r.ID))
	}
	for _, e := range after.Events {
		if e.CreatedAt.Before(cutoff) || !slices.Contains(keptEvents, e.ID()) && e.Type != domain.EventConversationStarted {
			t.Errorf("event %s (%s) at %s is still there", e.ID(), e.Type, e.CreatedAt)
		}
		events = append(events, e.ID())
	}
	slices.Sort(runs)
	slices.Sort(keptRuns)
	if !slices.Equal(runs, keptRuns) {
		t.Errorf("runs after retention %v, want the recent ones %v", runs, keptRuns)
	}
	for _, id := range keptEvents {
		if !slices.Contains(events, id) {
			t.Errorf("recent event %s was deleted", id)
		}
	}
	if len(events) != len(keptEvents)+len(written) {
		t.Errorf("%d events after retention, want %d recent + %d written during it", len(events), len(keptEvents), len(written))
	}
	for _, id := range written {
		if _, err := w.Service.GetConversation(ctx, w.Org, id); err != nil {
			t.Errorf("conversation written during retention: %v", err)
		}
	}
	total := retention.Stats{}
	for _, s := range stats {
		total.Runs, total.Events, total.Idempotency = total.Runs+s.Runs, total.Events+s.Events, total.Idempotency+s.Idempotency
		total.WebhookDeliveries, total.WebhookAttempts = total.WebhookDeliveries+s.WebhookDeliveries, total.WebhookAttempts+s.WebhookAttempts
	}
	checkWebhookRetention(t, w, hook.ID, keptDeliveries, len(written))
	if total.WebhookDeliveries != len(deliveriesBefore)-len(keptDeliveries) || total.WebhookAttempts != doomedAttempts {
		t.Errorf("the workers counted %d deliveries and %d attempts deleted, want %d and %d", total.WebhookDeliveries,
			total.WebhookAttempts, len(deliveriesBefore)-len(keptDeliveries), doomedAttempts)
	}
	if total.Runs != len(before.Runs)-len(keptRuns) || total.Events != len(before.Events)-len(keptEvents) {
		t.Errorf("the workers counted %+v deleted, want %d runs and %d events", total, len(before.Runs)-len(keptRuns), len(before.Events)-len(keptEvents))
	}
	if total.Idempotency != len(oldKeys)+len(staleKeys) {
		t.Errorf("the workers deleted %d idempotency records, want %d", total.Idempotency, len(oldKeys)+len(staleKeys))
	}
	for _, keys := range []struct {
		keys []string
		kept bool
	}{{oldKeys, false}, {staleKeys, false}, {recentKeys, true}} {
		for _, key := range keys.keys {
			var found bool
			view(t, w.Store, func(ctx context.Context, tx domain.Tx) (err error) {
				_, found, err = tx.GetIdempotency(ctx, w.Org, key)
				return err
			})
			if found != keys.kept {
				t.Errorf("idempotency key %s: found %v after retention, want %v", key, found, keys.kept)
			}
		}
	}
}

// writeHistory starts n conversations and finds each, and reserves n
// idempotency keys, at the world's current time; it returns the keys.
func writeHistory(t *testing.T, w *World, name string, n int) []string {
	t.Helper()
	var keys []string
	for i := range n {
		ident := fmt.Sprintf("ext:%s-%d", name, i)
		w.Start(ident)
		w.Find(ident, nil)
		key := fmt.Sprintf("%s-%d", name, i)
		_, _, err := w.Service.BeginIdempotent(context.Background(), w.Org, key, "hash-"+key)
		must(t, err)
		keys = append(keys, key)
	}
	return keys
}

// finishDeliveries makes an attempt of every pending delivery of the
// endpoint (two for every fifth): every third is then delivered, every
// third failed and the others pending a retry. They are counted in event
// order: event sequence numbers themselves are not consecutive (on
// PostgreSQL they derive from transaction ids, so a run could give every
// old event the same remainder and leave them all pending).
func finishDeliveries(t *testing.T, w *World, endpoint domain.WebhookEndpointID) {
	t.Helper()
	now := w.Clock.Now()
	nth := map[int64]int64{}
	for i, d := range webhookHistory(t, w, endpoint) { // in event order
		nth[d.EventSeq] = int64(i)
	}
	for round := range 2 {
		update(t, w.Store, func(ctx context.Context, tx domain.Tx) error {
			lease := fmt.Sprint("retention-", round)
			ds, err := tx.ClaimWebhookDeliveries(ctx, now, now.Add(time.Minute), lease, 0)
			if err != nil {
				return err
			}
			var fs []domain.WebhookFinish
			for _, d := range ds {
				n := nth[d.EventSeq]
				if round == 1 && n%5 != 0 {
					continue
				}
				d.Attempts++
				switch n % 3 {
				case 0:
					d.State, d.DeliveredAt = domain.DeliveryDelivered, &now
				case 1:
					d.State = domain.DeliveryFailed
				default:
					d.NextAttemptAt = now.Add(-time.Second) // due again at once
				}
				if round == 0 && n%5 == 0 {
					d.State, d.DeliveredAt, d.NextAttemptAt = domain.DeliveryPending, nil, now.Add(-time.Second)
				}
				fs = append(fs, domain.WebhookFinish{Lease: lease, Delivery: d, Attempt: domain.WebhookAttempt{
					OrgID: d.OrgID, EndpointID: d.EndpointID, EventSeq: d.EventSeq, Attempt: d.Attempts, StartedAt: now, Status: 500}})
			}
			_, err = tx.FinishWebhookAttempts(ctx, fs)
			return err
		})
	}
}

// webhookHistory returns every delivery of the endpoint.
func webhookHistory(t *testing.T, w *World, endpoint domain.WebhookEndpointID) []domain.WebhookDelivery {
	t.Helper()
	return read(t, w.Store, func(ctx context.Context, tx domain.Tx) ([]domain.WebhookDelivery, error) {
		return tx.ListWebhookDeliveries(ctx, w.Org, endpoint, domain.DeliveryFilter{})
	})
}

// checkWebhookRetention checks that the endpoint's deliveries are the kept
// ones and those of the written events, and that exactly the kept ones'
// attempts remain.
func checkWebhookRetention(t *testing.T, w *World, endpoint domain.WebhookEndpointID, kept []int64, written int) {
	t.Helper()
	var seqs []int64
	for _, d := range webhookHistory(t, w, endpoint) {
		seqs = append(seqs, d.EventSeq)
	}
	for _, seq := range kept {
		if !slices.Contains(seqs, seq) {
			t.Errorf("delivery of event %d, pending or recent, was deleted", seq)
		}
	}
	if len(seqs) != len(kept)+written {
		t.Errorf("%d deliveries after retention, want %d kept + %d written during it", len(seqs), len(kept), written)
	}
	attempts := read(t, w.Store, func(ctx context.Context, tx domain.Tx) ([]domain.WebhookAttempt, error) {
		return tx.ListWebhookAttempts(ctx, w.Org, endpoint, domain.AttemptFilter{})
	})
	for _, a := range attempts {
		if !slices.Contains(kept, a.EventSeq) {
			t.Errorf("attempt %d of deleted delivery %d is still there", a.Seq, a.EventSeq)
		}
	}
}
