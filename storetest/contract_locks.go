package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/domain"
)

// testLocks: LockConversation and LockCustomer return the row (CodeNotFound
// when it is missing in the org); LockKeys takes any set of keys, with
// duplicates; writers that read and then change a session under
// LockConversation of its conversation lose no update, and none fails.
func testLocks(t *testing.T, newStore Factory) {
	s := newStore(t)
	a, b := seed(t, s)
	conv := a.conversation("conv_locked", minute(5))
	session := domain.Session{ID: conv.SessionID, OrgID: a.Org.ID, ConversationID: conv.ID,
		Variables: map[string]any{"n": 0.0}, UpdatedAt: minute(5)}
	update(t, s, func(ctx context.Context, tx domain.Tx) error {
		if err := tx.CreateConversation(ctx, conv); err != nil {
			return err
		}
		return tx.CreateSession(ctx, session)
	})
	update(t, s, func(ctx context.Context, tx domain.Tx) error {
		got, err := tx.LockConversation(ctx, a.Org.ID, conv.ID)
		if err != nil {
			return err
		}
		equal(t, "LockConversation", got, conv)
		cus, err := tx.LockCustomer(ctx, a.Org.ID, a.Customer.ID)
		if err != nil {
			return err
		}
		equal(t, "LockCustomer", cus, a.Customer)
		if err := tx.LockKeys(ctx, a.Org.ID); err != nil {
			return err
		}
		return tx.LockKeys(ctx, a.Org.ID, domain.IdentifierKey("tel:+15550100001"), "route:x", domain.IdentifierKey("tel:+15550100001"))
	})
	wantNotFound(t, s, []notFoundCase{
		{"LockConversation missing", func(ctx context.Context, tx domain.Tx) error {
			_, err := tx.LockConversation(ctx, a.Org.ID, "conv_missing")
			return err
		}},
		{"LockConversation of another org", func(ctx context.Context, tx domain.Tx) error {
			_, err := tx.LockConversation(ctx, b.Org.ID, conv.ID)
			return err
		}},
		{"LockCustomer missing", func(ctx context.Context, tx domain.Tx) error {
			_, err := tx.LockCustomer(ctx, a.Org.ID, "cus_missing")
			return err
		}},
		{"LockCustomer of another org", func(ctx context.Context, tx domain.Tx) error {
			_, err := tx.LockCustomer(ctx, b.Org.ID, a.Customer.ID)
			return err
		}},
	})

	const writers, rounds = 24, 5
	increment := func(ctx context.Context, tx domain.Tx) error {
		if _, err := tx.LockConversation(ctx, a.Org.ID, conv.ID); err != nil {
			return err
		}
		s, err := tx.GetSession(ctx, a.Org.ID, session.ID)
		if err != nil {
			return err
		}
		time.Sleep(200 * time.Microsecond) // room for another writer to interleave
		return tx.SetSessionVariables(ctx, a.Org.ID, s.ID, map[string]any{"n": s.Variables["n"].(float64) + 1}, minute(6))
	}
	errs := make([]error, writers*rounds)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for r := range rounds {
				errs[w*rounds+r] = s.UpdateOrg(context.Background(), a.Org.ID, func(tx domain.Tx) error {
					return increment(context.Background(), tx)
				})
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("writers of one conversation failed: %v", err)
	}
	got := read(t, s, func(ctx context.Context, tx domain.Tx) (any, error) {
		s, err := tx.GetSession(ctx, a.Org.ID, session.ID)
		return s.Variables["n"], err
	})
	if got != float64(writers*rounds) {
		t.Fatalf("counter = %v after %d increments under LockConversation: updates were lost", got, writers*rounds)
	}

	errBoom := domain.Errorf(domain.CodeInvalidArgument, "boom")
	err := s.UpdateOrg(context.Background(), a.Org.ID, func(tx domain.Tx) error {
		if err := increment(context.Background(), tx); err != nil {
			return err
		}
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("UpdateOrg returned %v, want fn's error", err)
	}
	if again := read(t, s, func(ctx context.Context, tx domain.Tx) (any, error) {
		s, err := tx.GetSession(ctx, a.Org.ID, session.ID)
		return s.Variables["n"], err
	}); again != got {
		t.Fatalf("counter = %v after a failed increment, want %v", again, got)
	}
}

// testRecordRuns: RecordRuns stores a batch in order, like RecordRun each.
func testRecordRuns(t *testing.T, newStore Factory) {
	s := newStore(t)
	a, b := seed(t, s)
	var runs []domain.OperationRun
	for i := range 5 {
		org := a.Org.ID
		if i == 2 {
			org = b.Org.ID
		}
		runs = append(runs, domain.OperationRun{
			ID: domain.RunID(fmt.Sprintf("run_batch%d", 9-i)), OrgID: org, Kind: domain.KindDataOperation,
			Name: "find_conversations_by_customer_identifier", Inputs: map[string]any{"customerIdentifier": "ext:x", "nul": "a\x00"},
			Variable: "conversation-ids", Output: []any{"conv_1"}, Duration: time.Duration(i) * time.Millisecond,
			StartedAt: minute(20 + i),
		})
	}
	runs[4].ErrorCode, runs[4].ErrorMessage, runs[4].Output = domain.CodeUnavailable, "down", nil
	update(t, s, func(ctx context.Context, tx domain.Tx) error { return tx.RecordRuns(ctx, runs) })
	update(t, s, func(ctx context.Context, tx domain.Tx) error { return tx.RecordRuns(ctx, nil) })
	got := read(t, s, func(ctx context.Context, tx domain.Tx) ([]domain.OperationRun, error) {
		return tx.ListRuns(ctx, a.Org.ID, "", 0)
	})
	equal(t, "RecordRuns then ListRuns", got, []domain.OperationRun{runs[4], runs[3], runs[1], runs[0]})
	err := tryUpdate(s, func(ctx context.Context, tx domain.Tx) error { return tx.RecordRuns(ctx, runs[:1]) })
	wantCode(t, "RecordRuns of a run id already stored", err, domain.CodeConflict)
}
