package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/parleyhq/parley/dataset"
	"github.com/parleyhq/parley/domain"
)

// SeedFunc is a backend's bulk load of a plan (sqlite.DB.Seed,
// postgres.DB.Seed).
type SeedFunc func(ctx context.Context, plan dataset.Plan, progress func(rows int)) error

// Seeding checks a backend's bulk load on a small plan (conversations not
// a multiple of customers): the row counts, the identifier invariants, the
// routes and sessions of the conversations, and that the service finds
// and moves seeded customers like any others.
func Seeding(t *testing.T, store domain.Store, seed SeedFunc) {
	w := NewWorld(t, store)
	plan := dataset.Plan{Org: w.Org, Deployment: w.Deployment, Resource: w.Resource.ID, Tag: "t1",
		Customers: 7, Conversations: 30, Start: Epoch.Add(-time.Hour)}
	var last int
	must(t, seed(context.Background(), plan, func(rows int) { last = rows }))
	if last != plan.Rows() {
		t.Fatalf("last progress = %d rows, want %d", last, plan.Rows())
	}
	snap := TakeSnapshot(t, store, w.Org)
	if len(snap.Customers) != plan.Customers || len(snap.Conversations) != plan.Conversations || len(snap.Sessions) != plan.Conversations {
		t.Fatalf("seeded %d customers, %d conversations, %d sessions; want %d, %d, %d", len(snap.Customers),
			len(snap.Conversations), len(snap.Sessions), plan.Customers, plan.Conversations, plan.Conversations)
	}
	AssertIdentifierInvariants(t, store, w.Org)
	for c := range plan.Customers {
		assertSeededCustomer(t, w, plan, c)
	}
	// The service moves a seeded customer, after its newest conversation.
	newest := plan.ConversationID(plan.Newest(3))
	w.Clock.Advance(time.Minute)
	if res := w.Update(newest, "mailto:moved@t1.seed.example"); res.Value != true {
		t.Fatalf("update of a seeded customer: %+v", res)
	}
	if got := w.Find(plan.Identifier(3), nil); len(got) != 0 {
		t.Fatalf("old identifier still finds %v", got)
	}
	if got := w.Find("mailto:moved@t1.seed.example", nil); len(got) != plan.ConversationsOf(3) || got[0] != string(newest) {
		t.Fatalf("new identifier finds %v, want the %d conversations newest first", got, plan.ConversationsOf(3))
	}
	AssertIdentifierInvariants(t, store, w.Org)
	if err := seed(context.Background(), dataset.Plan{Org: w.Org, Tag: "t2"}, nil); err == nil {
		t.Fatal("seeding a plan without deployment and sizes succeeded")
	}
}

// assertSeededCustomer checks that customer c is found by its identifier
// with its conversations newest first, and that its destination routes to
// the newest.
func assertSeededCustomer(t *testing.T, w *World, plan dataset.Plan, c int) {
	t.Helper()
	var want []string
	for i := range plan.Conversations {
		if owner, _ := plan.Customer(i); owner == c {
			want = append(want, string(plan.ConversationID(i)))
		}
	}
	slices.Reverse(want)
	if got := w.Find(plan.Identifier(c), nil); !slices.Equal(got, want) || len(want) != plan.ConversationsOf(c) {
		t.Fatalf("customer %d: find = %v, want %v", c, got, want)
	}
	must(t, w.Store.Update(context.Background(), func(tx domain.Tx) error {
		conv, found, err := tx.GetRoute(context.Background(), w.Org, plan.Resource, plan.Destination(c))
		if err == nil && (!found || conv != plan.ConversationID(plan.Newest(c))) {
			t.Errorf("customer %d: route = %s (%v), want %s", c, conv, found, plan.ConversationID(plan.Newest(c)))
		}
		return err
	}))
}
