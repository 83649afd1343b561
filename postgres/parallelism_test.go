package postgres_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/postgres"
	"github.com/parleyhq/parley/service"
	"github.com/parleyhq/parley/storetest"
)

// holdingStore is a store handle (another "server process") whose first
// write transaction, once its function has run, waits for release before
// it commits: the transaction stays open holding every lock it took.
type holdingStore struct {
	domain.Store
	once    sync.Once
	reached chan struct{} // closed when the held transaction is ready to commit
	release chan struct{}
}

func (h *holdingStore) UpdateOrg(ctx context.Context, org domain.OrgID, fn func(domain.Tx) error) error {
	return h.Store.UpdateOrg(ctx, org, func(tx domain.Tx) error {
		err := fn(tx)
		if err == nil {
			h.once.Do(func() {
				close(h.reached)
				<-h.release
			})
		}
		return err
	})
}

// TestIdentityParallelism: an identity change holds no org-wide lock. With
// one update of customer A held open (its locks taken, not committed), an
// update of customer B commits; an update of customer C to the identifier A
// is taking waits for A's transaction and then answers identifier_taken
// naming A. Every identifier invariant holds afterwards.
func TestIdentityParallelism(t *testing.T) {
	stores := postgres.OpenTestStores(t, 2)
	w := storetest.NewWorld(t, stores[0])
	a, b, c := w.Start("ext:a"), w.Start("ext:b"), w.Start("")
	held := &holdingStore{Store: stores[1], reached: make(chan struct{}), release: make(chan struct{})}
	ctx := context.Background()
	update := func(svc *service.Service, conv domain.ConversationID, ident string) <-chan service.RunResult {
		done := make(chan service.RunResult, 1)
		go func() {
			res, err := svc.Run(ctx, w.Org, service.RunRequest{Kind: domain.KindDataOperation, Name: service.OpUpdateCustomerIdentifier,
				Inputs: map[string]any{"conversationId": string(conv), "customerIdentifier": ident}})
			if err != nil {
				t.Errorf("update %s to %s: %v", conv, ident, err)
			}
			done <- res
		}()
		return done
	}
	released := false
	defer func() {
		if !released {
			close(held.release)
		}
	}()

	first := update(w.ServiceOn(held), a.Conversation.ID, "ext:a2")
	waitOrFail(t, held.reached, "the held update of customer A to reach its commit")

	// Another customer's change commits while A's transaction is open.
	second := waitOrFail(t, update(w.Service, b.Conversation.ID, "ext:b2"),
		"the update of customer B while A's update is open (an org-wide lock would block it)")
	if second.Value != true {
		t.Fatalf("update of B: %+v", second)
	}

	// A change touching the identifier A is taking waits for A.
	third := update(w.Service, c.Conversation.ID, "ext:a2")
	waitForLockWaiter(t, stores[0])
	select {
	case res := <-third:
		t.Fatalf("update of C to the identifier A is taking answered %+v before A committed", res)
	default:
	}
	close(held.release)
	released = true
	if res := waitOrFail(t, first, "the held update of A after its release"); res.Value != true {
		t.Fatalf("update of A: %+v", res)
	}
	res := waitOrFail(t, third, "the update of C after A committed")
	if res.Value != false || res.Error == nil || res.Error.Code != domain.CodeIdentifierTaken ||
		res.Error.Details["holderCustomerId"] != string(a.Customer.ID) {
		t.Fatalf("update of C to ext:a2 = %+v, want identifier_taken naming %s", res, a.Customer.ID)
	}
	storetest.AssertIdentifierInvariants(t, w.Store, w.Org)
}

// waitOrFail waits for a value (or a close) on ch, failing the test after
// a minute: without it a lock that should not exist would hang the test.
func waitOrFail[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(time.Minute):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// waitForLockWaiter waits until a transaction of db's database waits for
// an advisory lock.
func waitForLockWaiter(t *testing.T, db *postgres.DB) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		var waiting bool
		err := db.View(context.Background(), func(tx domain.Tx) error {
			return postgres.QueryRow(tx, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
				AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))`).Scan(&waiting)
		})
		if err != nil {
			t.Fatal(err)
		}
		if waiting {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no transaction waits for an identifier lock")
		}
		time.Sleep(5 * time.Millisecond) // poll interval
	}
}
