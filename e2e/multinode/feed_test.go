package multinode

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/e2e/proc"
	"github.com/parleyhq/parley/postgres"
	"github.com/parleyhq/parley/postgres/pgtestdb"
	"github.com/parleyhq/parley/storetest"
)

// The feed race: writers on every node start conversations, add messages,
// change identifiers and close conversations (each change writes events,
// in parallel: no org-wide lock), while readers on every node poll
// GET /v1/events?after= with the last Seq they saw.
const (
	feedWriters       = 24
	feedRounds        = 8
	feedReaders       = 6
	feedReaderPause   = 3 * time.Millisecond
	feedCatchUpWithin = 2 * time.Minute
)

// TestEventFeedNoGaps: no reader ever misses an event. Each reader's
// sequence of Seqs, read page after page while the writers run, must be
// exactly the feed as it stands once every writer has finished: every
// event, once, in order. An event committed late with a lower Seq than one
// a reader already passed would be missing from that reader's sequence.
func TestEventFeedNoGaps(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs three server processes")
	}
	databaseURL := pgtestdb.New(t)
	c := newCluster(t, proc.Build(t), databaseURL)
	ctx := context.Background()

	// last is the feed's last Seq once the writers are done; stop says it
	// is set.
	stop := make(chan struct{})
	var last int64
	readers := make([][]int64, feedReaders)
	var readersDone sync.WaitGroup
	var pages atomic.Int64
	for r := range feedReaders {
		readersDone.Go(func() { readers[r] = readFeed(t, c.api(r), stop, &last, &pages) })
	}

	var written atomic.Int64
	storetest.RunConcurrently(feedWriters, func(k int) {
		for round := range feedRounds {
			if err := writeEvents(ctx, c, k, round); err != nil {
				t.Errorf("writer %d round %d: %v", k, round, err)
				return
			}
			written.Add(4)
		}
	})
	store, err := postgres.Open(ctx, databaseURL)
	must(t, err)
	defer store.Close()
	truth := seqs(storetest.SettledEvents(t, store, c.org, 0, 0))
	if len(truth) > 0 {
		last = truth[len(truth)-1]
	}
	close(stop)
	readersDone.Wait()
	t.Logf("%d changes wrote %d events; %d readers read %d pages", written.Load(), len(truth), feedReaders, pages.Load())
	if int64(len(truth)) < written.Load() {
		t.Fatalf("the feed holds %d events, fewer than the %d changes acknowledged", len(truth), written.Load())
	}
	for r, seen := range readers {
		if !slices.Equal(seen, truth) {
			t.Errorf("reader %d saw %d events, the feed holds %d; first difference: %s", r, len(seen), len(truth), firstDifference(seen, truth))
		}
	}
}

// writeEvents makes four changes as writer k: start a conversation with an
// identifier, add a message, move the customer to a new identifier, close
// the conversation.
func writeEvents(ctx context.Context, c *cluster, k, round int) error {
	api := c.api(k)
	st, err := api.StartConversation(ctx, client.StartConversationRequest{DeploymentID: c.deployment, ResourceID: c.resource,
		CustomerDestination: fmt.Sprintf("web-feed-%d-%d", k, round), CustomerIdentifier: fmt.Sprintf("ext:feed-%d-%d", k, round)})
	if err != nil {
		return err
	}
	if _, err := api.AddMessage(ctx, st.Conversation.ID, client.AddMessageRequest{Direction: "inbound", Text: "hello"}); err != nil {
		return err
	}
	res, err := api.RunDataOperation(ctx, client.OpUpdateCustomerIdentifier, client.RunRequest{Inputs: map[string]any{
		"conversationId": st.Conversation.ID, "customerIdentifier": fmt.Sprintf("ext:feed-%d-%d-moved", k, round)}})
	if err != nil {
		return err
	}
	if ok, err := res.Bool(); err != nil || !ok {
		return fmt.Errorf("update: %+v, %v", res, err)
	}
	_, err = api.CloseConversation(ctx, st.Conversation.ID)
	return err
}

// readFeed polls the feed from the start until stop is closed and it has
// read up to *last, and returns every Seq it was given, in order.
func readFeed(t *testing.T, api *client.Client, stop <-chan struct{}, last *int64, pages *atomic.Int64) []int64 {
	var seen []int64
	var after int64
	deadline := time.Time{}
	for {
		page, err := api.ListEvents(context.Background(), client.ListEventsParams{After: after, Limit: 200})
		if err != nil {
			t.Errorf("reader: GET /v1/events?after=%d: %v", after, err)
			return seen
		}
		pages.Add(1)
		for _, e := range page.Items {
			if e.Seq <= after {
				t.Errorf("reader: event %d listed after %d", e.Seq, after)
			}
			seen = append(seen, e.Seq)
			after = e.Seq
		}
		select {
		case <-stop:
			if after >= *last {
				return seen
			}
			if deadline.IsZero() {
				deadline = time.Now().Add(feedCatchUpWithin)
			}
			if time.Now().After(deadline) {
				t.Errorf("reader still reading %s after the writers stopped", feedCatchUpWithin)
				return seen
			}
		default:
		}
		time.Sleep(feedReaderPause)
	}
}

func seqs(events []domain.Event) []int64 {
	out := make([]int64, len(events))
	for i, e := range events {
		out[i] = e.Seq
	}
	return out
}

// firstDifference describes where two sequences of Seqs first differ.
func firstDifference(got, want []int64) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("at position %d: saw %d, the feed has %d", i, got[i], want[i])
		}
	}
	return fmt.Sprintf("one is a prefix of the other (%d and %d events)", len(got), len(want))
}
