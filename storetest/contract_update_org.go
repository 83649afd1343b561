package storetest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley/domain"
)

// testUpdateOrg: writers of one org through UpdateOrg wait for each other:
// concurrent read-modify-writes all succeed (no conflict reaches them) and
// none is lost; a failing fn is rolled back and its error returned as is.
func testUpdateOrg(t *testing.T, newStore Factory) {
	store := newStore(t)
	ctx := context.Background()
	const org domain.OrgID = "org_locked"
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	err := store.UpdateOrg(ctx, org, func(tx domain.Tx) error {
		if err := tx.CreateOrg(ctx, domain.Organization{ID: org, Name: "o", CreatedAt: at}); err != nil {
			return err
		}
		return tx.CreateSession(ctx, domain.Session{ID: "ses_counter", OrgID: org, ConversationID: "conv_x",
			Variables: map[string]any{"n": 0.0}, UpdatedAt: at})
	})
	if err != nil {
		t.Fatal(err)
	}
	const writers, rounds = 24, 5
	errs := make([]error, writers*rounds)
	var active, overlaps atomic.Int32
	exclusive := func(tx domain.Tx) error {
		if active.Add(1) != 1 {
			overlaps.Add(1)
		}
		defer active.Add(-1)
		time.Sleep(200 * time.Microsecond) // room for another writer to overlap
		return increment(ctx, org, at)(tx)
	}
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				errs[w*rounds+r] = store.UpdateOrg(ctx, org, exclusive)
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("write %d: %v (writers of one org must not fail each other)", i, err)
		}
	}
	if n := overlaps.Load(); n != 0 {
		t.Fatalf("%d writers of one org ran while another was running", n)
	}
	if n := counter(t, store, org); n != writers*rounds {
		t.Fatalf("counter = %v after %d increments: updates were lost", n, writers*rounds)
	}
	errBoom := domain.Errorf(domain.CodeInvalidArgument, "boom")
	err = store.UpdateOrg(ctx, org, func(tx domain.Tx) error {
		if err := increment(ctx, org, at)(tx); err != nil {
			return err
		}
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("UpdateOrg returned %v, want fn's error", err)
	}
	if n := counter(t, store, org); n != writers*rounds {
		t.Fatalf("counter = %v after a failed increment", n)
	}
}

func increment(ctx context.Context, org domain.OrgID, at time.Time) func(domain.Tx) error {
	return func(tx domain.Tx) error {
		s, err := tx.GetSession(ctx, org, "ses_counter")
		if err != nil {
			return err
		}
		return tx.SetSessionVariables(ctx, org, s.ID, map[string]any{"n": s.Variables["n"].(float64) + 1}, at)
	}
}

func counter(t *testing.T, store domain.Store, org domain.OrgID) float64 {
	t.Helper()
	var n float64
	err := store.View(context.Background(), func(tx domain.Tx) error {
		s, err := tx.GetSession(context.Background(), org, "ses_counter")
		n, _ = s.Variables["n"].(float64)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
