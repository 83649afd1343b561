package storetest

import (
	"context"
	"testing"

	"github.com/parleyhq/parley/domain"
)

// RunLookup checks the domain.LookupTx methods: the identifier timeline,
// the customers list and filtered event feeds.
func RunLookup(t *testing.T, newStore Factory) {
	t.Run("IdentifierHolders", func(t *testing.T) { testIdentifierHolders(t, newStore) })
	t.Run("ListCustomers", func(t *testing.T) { testListCustomers(t, newStore) })
	t.Run("FilterEvents", func(t *testing.T) { testFilterEvents(t, newStore) })
}

func testIdentifierHolders(t *testing.T, newStore Factory) {
	s := newStore(t)
	a, b := seed(t, s)
	const x = "tel:+15550100009"
	cus := []domain.CustomerID{a.Customer.ID, "cus_a2", "cus_a3"}
	// x is held by cus_a [10, 20), nobody [20, 30), cus_a2 [30, 30)
	// (zero length), cus_a3 [30, 40), cus_a [40, now); org b's customer
	// holds x from 5 and cus_a holds another identifier.
	steps := []func(ctx context.Context, tx domain.Tx) error{
		func(ctx context.Context, tx domain.Tx) error {
			for _, id := range cus[1:] {
				if err := tx.CreateCustomer(ctx, domain.Customer{ID: id, OrgID: a.Org.ID, CreatedAt: minute(1)}); err != nil {
					return err
				}
			}
			return tx.OpenInterval(ctx, domain.IdentifierInterval{OrgID: b.Org.ID, CustomerID: b.Customer.ID, Identifier: x, ValidFrom: minute(5)})
		},
		hold(a.Org.ID, cus[0], x, 10, 20),
		hold(a.Org.ID, cus[0], "ext:other", 20, 0),
		hold(a.Org.ID, cus[1], x, 30, 30),
		hold(a.Org.ID, cus[2], x, 30, 40),
		hold(a.Org.ID, cus[0], x, 40, 0),
	}
	for _, step := range steps {
		update(t, s, step)
	}
	iv := func(c domain.CustomerID, from, to int) domain.IdentifierInterval {
		v := domain.IdentifierInterval{OrgID: a.Org.ID, CustomerID: c, Identifier: x, ValidFrom: minute(from)}
		if to != 0 {
			v.ValidTo = ptr(minute(to))
		}
		return v
	}
	want := []domain.IdentifierInterval{iv(cus[0], 10, 20), iv(cus[1], 30, 30), iv(cus[2], 30, 40), iv(cus[0], 40, 0)}

	page := func(org domain.OrgID, f domain.HolderFilter) []domain.HolderInterval {
		return read(t, s, func(ctx context.Context, tx domain.Tx) ([]domain.HolderInterval, error) {
			return tx.IdentifierHolders(ctx, org, f)
		})
	}
	all := page(a.Org.ID, domain.HolderFilter{Identifier: x, Limit: 10})
	equal(t, "IdentifierHolders x", intervalsOf(all), want)
	for i := 1; i < len(all); i++ {
		if all[i].Position <= all[i-1].Position {
			t.Errorf("positions %d then %d: not increasing in the order the intervals were opened", all[i-1].Position, all[i].Position)
		}
	}
	// Pages of one follow the cursor, through the two intervals that start
	// at the same instant.
	var paged []domain.IdentifierInterval
	f := domain.HolderFilter{Identifier: x, Limit: 1}
	for range len(want) + 1 {
		got := page(a.Org.ID, f)
		if len(got) == 0 {
			break
		}
		paged = append(paged, got[0].IdentifierInterval)
		f.AfterValidFrom, f.AfterPosition = got[0].ValidFrom, got[0].Position
	}
	equal(t, "IdentifierHolders x one by one", paged, want)
	equal(t, "IdentifierHolders x in org b", intervalsOf(page(b.Org.ID, domain.HolderFilter{Identifier: x, Limit: 10})),
		[]domain.IdentifierInterval{{OrgID: b.Org.ID, CustomerID: b.Customer.ID, Identifier: x, ValidFrom: minute(5)}})
	equal(t, "IdentifierHolders never held", len(page(a.Org.ID, domain.HolderFilter{Identifier: "ext:nobody", Limit: 10})), 0)
	err := readErr(t, s, func(ctx context.Context, tx domain.Tx) error {
		_, err := tx.IdentifierHolders(ctx, a.Org.ID, domain.HolderFilter{Identifier: x})
		return err
	})
	wantCode(t, "IdentifierHolders without a limit", err, domain.CodeInvalidArgument)
}

// hold is a step giving customer identifier from minute from, until minute
// to (0: still held).
func hold(org domain.OrgID, customer domain.CustomerID, identifier string, from, to int) func(ctx context.Context, tx domain.Tx) error {
	return func(ctx context.Context, tx domain.Tx) error {
		err := tx.OpenInterval(ctx, domain.IdentifierInterval{OrgID: org, CustomerID: customer, Identifier: identifier, ValidFrom: minute(from)})
		if err != nil || to == 0 {
			return err
		}
		return tx.CloseInterval(ctx, org, customer, identifier, minute(to))
	}
}

func intervalsOf(hs []domain.HolderInterval) []domain.IdentifierInterval {
	out := make([]domain.IdentifierInterval, len(hs))
	for i, h := range hs {
		out[i] = h.IdentifierInterval
	}
	return out
}

func testListCustomers(t *testing.T, newStore Factory) {
	s := newStore(t)
	a, b := seed(t, s)
	// seed's customer cus_a was created at minute 3; three more, two of
	// them at the same instant, one holding an identifier.
	more := []domain.Customer{
		{ID: "cus_a4", OrgID: a.Org.ID, CreatedAt: minute(4)},
		{ID: "cus_a5", OrgID: a.Org.ID, CreatedAt: minute(4)},
		{ID: "cus_a6", OrgID: a.Org.ID, CreatedAt: minute(6), Identifier: "mailto:ann@example.com", IdentifierSince: minute(6)},
	}
	update(t, s, func(ctx context.Context, tx domain.Tx) error {
		for _, c := range more {
			if err := tx.CreateCustomer(ctx, c); err != nil {
				return err
			}
		}
		return nil
	})
	list := func(org domain.OrgID, f domain.CustomerFilter) []domain.Customer {
		return read(t, s, func(ctx context.Context, tx domain.Tx) ([]domain.Customer, error) {
			return tx.ListCustomers(ctx, org, f)
		})
	}
	newestFirst := []domain.Customer{more[2], more[1], more[0], a.Customer}
	equal(t, "ListCustomers", list(a.Org.ID, domain.CustomerFilter{Limit: 10}), newestFirst)
	var paged []domain.Customer
	f := domain.CustomerFilter{Limit: 1}
	for range len(newestFirst) + 1 {
		got := list(a.Org.ID, f)
		if len(got) == 0 {
			break
		}
		paged = append(paged, got[0])
		f.BeforeCreatedAt, f.BeforeID = got[0].CreatedAt, got[0].ID
	}
	equal(t, "ListCustomers one by one", paged, newestFirst)
	equal(t, "ListCustomers by identifier", list(a.Org.ID, domain.CustomerFilter{Identifier: "mailto:ann@example.com", Limit: 10}),
		[]domain.Customer{more[2]})
	equal(t, "ListCustomers by an identifier nobody holds", len(list(a.Org.ID, domain.CustomerFilter{Identifier: "ext:none", Limit: 10})), 0)
	equal(t, "ListCustomers of org b", list(b.Org.ID, domain.CustomerFilter{Limit: 10}), []domain.Customer{b.Customer})
	equal(t, "ListCustomers of org b by org a's identifier",
		len(list(b.Org.ID, domain.CustomerFilter{Identifier: "mailto:ann@example.com", Limit: 10})), 0)
}

func testFilterEvents(t *testing.T, newStore Factory) {
	s := newStore(t)
	a, b := seed(t, s)
	at := minute(9)
	ev := func(org domain.OrgID, typ, subject string, payload map[string]any) domain.Event {
		return domain.Event{OrgID: org, Type: typ, Subject: subject, Payload: payload, CreatedAt: at}
	}
	events := []domain.Event{
		// 1: about conv_1 (its subject) and cus_a.
		ev(a.Org.ID, domain.EventConversationStarted, "conv_1", map[string]any{"customerId": "cus_a"}),
		// 2: about conv_1 and cus_a, by payload.
		ev(a.Org.ID, domain.EventMessageReceived, "msg_1", map[string]any{"conversationId": "conv_1", "customerId": "cus_a"}),
		// 3: about cus_a and conv_2.
		ev(a.Org.ID, domain.EventCustomerIdentifierChanged, "cus_a", map[string]any{"customerId": "cus_a", "conversationId": "conv_2"}),
		// 4: about nothing of either.
		ev(a.Org.ID, domain.EventDeploymentPublished, "dep_a", map[string]any{"appId": "app_a"}),
		// 5: org b, about cus_a (an id another org could reuse) and conv_1.
		ev(b.Org.ID, domain.EventConversationClosed, "conv_1", map[string]any{"customerId": "cus_a"}),
		// 6: a type another stream adds, about cus_b2; "" names nothing.
		ev(a.Org.ID, "webhook.test", "x", map[string]any{"customerId": "cus_b2", "conversationId": ""}),
		// 7: about conv_1 again.
		ev(a.Org.ID, domain.EventMessageSent, "msg_2", map[string]any{"conversationId": "conv_1", "customerId": "cus_a"}),
	}
	update(t, s, func(ctx context.Context, tx domain.Tx) error {
		for _, e := range events {
			if err := tx.AppendEvent(ctx, e); err != nil {
				return err
			}
		}
		return nil
	})
	feed := SettledEvents(t, s, a.Org.ID, 0, 100)
	if len(feed) != 6 {
		t.Fatalf("ListEvents = %d events, want 6", len(feed))
	}
	// nth is the Seq of the nth event of org a (1-based, skipping org b's).
	seqOf := map[int]int64{1: feed[0].Seq, 2: feed[1].Seq, 3: feed[2].Seq, 4: feed[3].Seq, 6: feed[4].Seq, 7: feed[5].Seq}
	filter := func(org domain.OrgID, f domain.EventFilter) []int64 {
		if f.Limit == 0 {
			f.Limit = 100
		}
		SettleFeed(t, s)
		got := read(t, s, func(ctx context.Context, tx domain.Tx) ([]domain.Event, error) {
			return tx.FilterEvents(ctx, org, f)
		})
		seqs := []int64{}
		for _, e := range got {
			seqs = append(seqs, e.Seq)
		}
		return seqs
	}
	seqs := func(nths ...int) []int64 {
		out := []int64{}
		for _, n := range nths {
			out = append(out, seqOf[n])
		}
		return out
	}
	cases := []struct {
		name string
		f    domain.EventFilter
		want []int64
	}{
		{"no filter", domain.EventFilter{}, seqs(1, 2, 3, 4, 6, 7)},
		{"one type", domain.EventFilter{Types: []string{domain.EventMessageReceived}}, seqs(2)},
		{"two types", domain.EventFilter{Types: []string{domain.EventMessageSent, domain.EventConversationStarted}}, seqs(1, 7)},
		{"a type nobody wrote", domain.EventFilter{Types: []string{"nothing.happened"}}, seqs()},
		{"customer, conversations included", domain.EventFilter{CustomerID: "cus_a"}, seqs(1, 2, 3, 7)},
		{"conversation, by subject or payload", domain.EventFilter{ConversationID: "conv_1"}, seqs(1, 2, 7)},
		{"conversation named only in the payload", domain.EventFilter{ConversationID: "conv_2"}, seqs(3)},
		{"customer and conversation", domain.EventFilter{CustomerID: "cus_a", ConversationID: "conv_2"}, seqs(3)},
		{"customer and type", domain.EventFilter{CustomerID: "cus_a", Types: []string{domain.EventMessageSent}}, seqs(7)},
		{"new event type by customer", domain.EventFilter{CustomerID: "cus_b2"}, seqs(6)},
		{"after", domain.EventFilter{CustomerID: "cus_a", After: seqOf[2]}, seqs(3, 7)},
		{"limit", domain.EventFilter{CustomerID: "cus_a", Limit: 2}, seqs(1, 2)},
		{"after the last", domain.EventFilter{After: seqOf[7]}, seqs()},
	}
	for _, tc := range cases {
		equal(t, "FilterEvents "+tc.name, filter(a.Org.ID, tc.f), tc.want)
	}
	if got := filter(b.Org.ID, domain.EventFilter{CustomerID: "cus_a"}); len(got) != 1 || got[0] == seqOf[1] {
		t.Errorf("FilterEvents of org b by cus_a = %v, want only org b's event", got)
	}
	if got := filter(b.Org.ID, domain.EventFilter{ConversationID: "conv_1"}); len(got) != 1 {
		t.Errorf("FilterEvents of org b by conv_1 = %v, want only org b's event", got)
	}
}
