package storetest

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"

	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/service"
)

// raceHandles is how many store handles (server processes) race.
const raceHandles = 3

// RunIdentifierRace races identifier updates and conversation starts from
// many goroutines spread over several store handles on one database, and
// checks the identifier guarantees afterwards.
func RunIdentifierRace(t *testing.T, open Opener) {
	t.Run("updates", func(t *testing.T) { raceUpdates(t, open) })
	t.Run("updates_and_starts", func(t *testing.T) { raceUpdatesAndStarts(t, open) })
}

// raceUpdates: 200 customers try to take one identifier at once; exactly
// one succeeds, every other gets identifier_taken naming the winner.
func raceUpdates(t *testing.T, open Opener) {
	const racers = 200
	stores := open(t, raceHandles)
	w := NewWorld(t, stores[0])
	services := servicesOn(w, stores)
	convs := make([]service.Started, racers)
	for i := range convs {
		convs[i] = w.Start(fmt.Sprintf("ext:racer-%d", i))
	}
	results := make([]service.RunResult, racers)
	errs := make([]error, racers)
	RunConcurrently(racers, func(i int) {
		results[i], errs[i] = services[i%len(services)].Run(context.Background(), w.Org, service.RunRequest{
			Kind: domain.KindDataOperation, Name: service.OpUpdateCustomerIdentifier,
			Inputs: map[string]any{"conversationId": string(convs[i].Conversation.ID), "customerIdentifier": "tel:+1 555 010 0000"},
		})
	})
	var winners []int
	for i, err := range errs {
		if err != nil {
			t.Fatalf("racer %d: thrown %v", i, err)
		}
		if results[i].Value == true {
			winners = append(winners, i)
		}
	}
	if len(winners) != 1 {
		t.Fatalf("%d updates succeeded, want exactly 1", len(winners))
	}
	holder := string(convs[winners[0]].Customer.ID)
	for i, res := range results {
		if i == winners[0] {
			continue
		}
		if res.Value != false || res.Error == nil || res.Error.Code != domain.CodeIdentifierTaken ||
			res.Error.Details["holderCustomerId"] != holder {
			t.Fatalf("racer %d: got value %v error %+v, want false identifier_taken by %s", i, res.Value, res.Error, holder)
		}
	}
	AssertIdentifierInvariants(t, w.Store, w.Org)
	assertHolder(t, w, "tel:+15550100000", domain.CustomerID(holder))
}

// raceUpdatesAndStarts: customers updating to an identifier race new
// conversations started with it. Afterwards one customer holds it, every
// conversation started with it belongs to that customer, and at most one
// update won (and only if it came first).
func raceUpdatesAndStarts(t *testing.T, open Opener) {
	const racers = 100
	const ident = "mailto:ann@example.com"
	stores := open(t, raceHandles)
	w := NewWorld(t, stores[0])
	services := servicesOn(w, stores)
	updaters := make([]service.Started, racers)
	for i := range updaters {
		updaters[i] = w.Start("")
	}
	updates := make([]service.RunResult, racers)
	starts := make([]service.Started, racers)
	errs := make([]error, 2*racers)
	RunConcurrently(2*racers, func(i int) {
		svc, ctx := services[i%len(services)], context.Background()
		if i%2 == 0 {
			updates[i/2], errs[i] = svc.Run(ctx, w.Org, service.RunRequest{
				Kind: domain.KindDataOperation, Name: service.OpUpdateCustomerIdentifier,
				Inputs: map[string]any{"conversationId": string(updaters[i/2].Conversation.ID), "customerIdentifier": "MAILTO:Ann@Example.com"},
			})
			return
		}
		starts[i/2], errs[i] = svc.StartConversation(ctx, w.Org, service.StartInput{
			DeploymentID: w.Deployment.ID,
			Party:        w.Party(fmt.Sprintf("web-%d", i), ident),
		})
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("racer %d: %v", i, err)
		}
	}
	holder := currentHolder(t, w, ident)
	won := 0
	for i, res := range updates {
		switch {
		case res.Value == true:
			won++
			if updaters[i].Customer.ID != holder {
				t.Fatalf("update %d succeeded but %s holds the identifier", i, holder)
			}
		case res.Error == nil || res.Error.Code != domain.CodeIdentifierTaken:
			t.Fatalf("update %d: value %v error %+v", i, res.Value, res.Error)
		}
	}
	if won > 1 {
		t.Fatalf("%d updates succeeded", won)
	}
	for i, st := range starts {
		c, err := w.Service.GetConversation(context.Background(), w.Org, st.Conversation.ID)
		must(t, err)
		if c.CustomerID != holder || c.IdentifierAtStart != ident {
			t.Fatalf("start %d: conversation of %s started under %q, want holder %s under %s", i, c.CustomerID, c.IdentifierAtStart, holder, ident)
		}
	}
	AssertIdentifierInvariants(t, w.Store, w.Org)
}

func servicesOn(w *World, stores []domain.Store) []*service.Service {
	out := []*service.Service{w.Service}
	for _, s := range stores[1:] {
		out = append(out, w.ServiceOn(s))
	}
	return out
}

// RunConcurrently runs fn(0..n-1) in n goroutines released at once.
func RunConcurrently(n int, fn func(i int)) {
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	ready.Add(n)
	done.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			fn(i)
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
}

// currentHolder returns the one customer whose current identifier is ident.
func currentHolder(t testing.TB, w *World, ident string) domain.CustomerID {
	t.Helper()
	var holders []domain.CustomerID
	for _, c := range TakeSnapshot(t, w.Store, w.Org).Customers {
		if c.Identifier == ident {
			holders = append(holders, c.ID)
		}
	}
	if len(holders) != 1 {
		t.Fatalf("identifier %s has %d current holders %v, want 1", ident, len(holders), holders)
	}
	return holders[0]
}

func assertHolder(t testing.TB, w *World, ident string, want domain.CustomerID) {
	t.Helper()
	if got := currentHolder(t, w, ident); got != want {
		t.Fatalf("identifier %s held by %s, want %s", ident, got, want)
	}
}

// AssertIdentifierInvariants checks the identifier rules over org's whole
// history: per identifier at most one current interval, and that interval's
// customer is the one whose current identifier it is; intervals of one
// identifier never overlap and never end before they start; a customer's
// current identifier matches its one open interval.
func AssertIdentifierInvariants(t testing.TB, store domain.Store, org domain.OrgID) {
	t.Helper()
	snap := TakeSnapshot(t, store, org)
	byIdent := map[string][]domain.IdentifierInterval{}
	holders := map[string]domain.CustomerID{}
	for i, c := range snap.Customers {
		var open []domain.IdentifierInterval
		for _, iv := range snap.Intervals[i] {
			byIdent[iv.Identifier] = append(byIdent[iv.Identifier], iv)
			if iv.ValidTo == nil {
				open = append(open, iv)
			}
		}
		if c.Identifier != "" {
			if prev, dup := holders[c.Identifier]; dup {
				t.Fatalf("identifier %s has two current holders: %s and %s", c.Identifier, prev, c.ID)
			}
			holders[c.Identifier] = c.ID
		}
		switch {
		case c.Identifier == "" && len(open) != 0:
			t.Fatalf("customer %s has no identifier but %d open intervals", c.ID, len(open))
		case c.Identifier != "" && (len(open) != 1 || open[0].Identifier != c.Identifier || !open[0].ValidFrom.Equal(c.IdentifierSince)):
			t.Fatalf("customer %s holds %s since %s but its open intervals are %+v", c.ID, c.Identifier, c.IdentifierSince, open)
		}
	}
	for ident, ivs := range byIdent {
		assertNoOverlap(t, ident, ivs)
	}
	assertConversationsInIntervals(t, snap)
}

// assertConversationsInIntervals checks that every conversation started
// under an identifier started while its customer held that identifier.
func assertConversationsInIntervals(t testing.TB, snap Snapshot) {
	t.Helper()
	intervals := map[domain.CustomerID][]domain.IdentifierInterval{}
	for i, c := range snap.Customers {
		intervals[c.ID] = snap.Intervals[i]
	}
	for _, conv := range snap.Conversations {
		if conv.IdentifierAtStart == "" {
			continue
		}
		covered := false
		for _, iv := range intervals[conv.CustomerID] {
			covered = covered || (iv.Identifier == conv.IdentifierAtStart && iv.Covers(conv.StartedAt))
		}
		if !covered {
			t.Fatalf("conversation %s started at %s under %s, but customer %s did not hold it then: %+v",
				conv.ID, conv.StartedAt, conv.IdentifierAtStart, conv.CustomerID, intervals[conv.CustomerID])
		}
	}
}

func assertNoOverlap(t testing.TB, ident string, ivs []domain.IdentifierInterval) {
	t.Helper()
	sort.Slice(ivs, func(i, j int) bool { return ivs[i].ValidFrom.Before(ivs[j].ValidFrom) })
	for i, iv := range ivs {
		if iv.ValidTo != nil && iv.ValidTo.Before(iv.ValidFrom) {
			t.Fatalf("identifier %s: interval %+v ends before it starts", ident, iv)
		}
		if i == 0 {
			continue
		}
		prev := ivs[i-1]
		if prev.ValidTo == nil || prev.ValidTo.After(iv.ValidFrom) {
			t.Fatalf("identifier %s: intervals overlap: %+v and %+v", ident, prev, iv)
		}
	}
}
