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
// clock, runs and events older than the retention period and idempotency
// records older than 24 hours are deleted, the recent ones kept, by two
// workers on two store handles at once (as two server processes would),
// in small batches, while writers keep writing and none of them fails.
func RunRetention(t *testing.T, open Opener) {
	stores := open(t, 2)
	w := NewWorld(t, stores[0])
	ctx := context.Background()
	const keep = 30 * 24 * time.Hour

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
