package storetest

import (
	"context"
	"sync"
	"testing"

	"github.com/parleyhq/parley/domain"
)

// testMessages checks per-conversation numbering: each conversation's
// messages are numbered 1, 2, 3... whatever other conversations do, every
// field round-trips, and listing after a number pages in order.
func testMessages(t *testing.T, newStore Factory) {
	s := newStore(t)
	a, b := seed(t, s)
	conv, conv2, convB := a.conversation("conv_a1", minute(10)), a.conversation("conv_a2", minute(10)), b.conversation("conv_b1", minute(10))
	// Five messages with the same timestamp, interleaved with messages of
	// another conversation; ids do not sort in insertion order.
	ids := []domain.MessageID{"msg_e", "msg_d", "msg_c", "msg_b", "msg_a"}
	var want []domain.Message
	update(t, s, func(ctx context.Context, tx domain.Tx) error {
		for _, c := range []domain.Conversation{conv, conv2, convB} {
			if err := tx.CreateConversation(ctx, c); err != nil {
				return err
			}
		}
		for i, id := range ids {
			m := domain.Message{ID: id, OrgID: a.Org.ID, ConversationID: conv.ID, ResourceID: conv.ResourceID,
				Direction: domain.Inbound, Author: domain.AuthorCustomer, Text: "message " + string(id),
				ClientID: "client-" + string(id), CreatedAt: minute(11)}
			if i%2 == 1 {
				m.Direction, m.Author, m.ClientID = domain.Outbound, domain.AuthorBot, ""
			}
			stored, err := tx.AppendMessage(ctx, m)
			if err != nil {
				return err
			}
			m.Seq = int64(i + 1)
			equal(t, "AppendMessage's result", stored, m)
			want = append(want, m)
			noise := domain.Message{ID: id + "_other", OrgID: a.Org.ID, ConversationID: conv2.ID, ResourceID: conv2.ResourceID,
				Direction: domain.Outbound, Author: domain.AuthorOperator, Text: "other", CreatedAt: minute(11)}
			if noise, err = tx.AppendMessage(ctx, noise); err != nil {
				return err
			}
			equal(t, "Seq of another conversation's message", noise.Seq, int64(i+1))
		}
		_, err := tx.AppendMessage(ctx, domain.Message{ID: "msg_b1", OrgID: b.Org.ID, ConversationID: convB.ID,
			ResourceID: convB.ResourceID, Direction: domain.Inbound, Author: domain.AuthorCustomer, Text: "b", CreatedAt: minute(11)})
		return err
	})
	list := func(org domain.OrgID, conversation domain.ConversationID, after int64, limit int) []domain.Message {
		return read(t, s, func(ctx context.Context, tx domain.Tx) ([]domain.Message, error) {
			return tx.ListMessages(ctx, org, conversation, after, limit)
		})
	}
	equal(t, "ListMessages all", list(a.Org.ID, conv.ID, 0, 0), want)
	equal(t, "ListMessages limit", list(a.Org.ID, conv.ID, 0, 2), want[:2])
	equal(t, "ListMessages after", list(a.Org.ID, conv.ID, 2, 0), want[2:])
	equal(t, "ListMessages after with limit", list(a.Org.ID, conv.ID, 2, 2), want[2:4])
	equal(t, "ListMessages after the last", len(list(a.Org.ID, conv.ID, 5, 0)), 0)
	equal(t, "ListMessages after beyond the last", len(list(a.Org.ID, conv.ID, 99, 0)), 0)
	equal(t, "ListMessages of another org's conversation", len(list(a.Org.ID, convB.ID, 0, 0)), 0)
	equal(t, "GetMessage", read(t, s, func(ctx context.Context, tx domain.Tx) (domain.Message, error) {
		return tx.GetMessage(ctx, a.Org.ID, "msg_c")
	}), want[2])
	wantNotFound(t, s, []notFoundCase{
		{"GetMessage missing", func(ctx context.Context, tx domain.Tx) error {
			_, err := tx.GetMessage(ctx, a.Org.ID, "msg_x")
			return err
		}},
		{"GetMessage of another org", func(ctx context.Context, tx domain.Tx) error {
			_, err := tx.GetMessage(ctx, a.Org.ID, "msg_b1")
			return err
		}},
		{"AppendMessage to a conversation of another org", func(ctx context.Context, tx domain.Tx) error {
			_, err := tx.AppendMessage(ctx, domain.Message{ID: "msg_y", OrgID: a.Org.ID, ConversationID: convB.ID,
				Direction: domain.Inbound, Author: domain.AuthorCustomer, Text: "y", CreatedAt: minute(12)})
			return err
		}},
		{"LockConversation of another org", func(ctx context.Context, tx domain.Tx) error {
			_, err := tx.LockConversation(ctx, a.Org.ID, convB.ID)
			return err
		}},
	})
	var locked domain.Conversation
	update(t, s, func(ctx context.Context, tx domain.Tx) (err error) {
		locked, err = tx.LockConversation(ctx, a.Org.ID, conv.ID)
		return err
	})
	equal(t, "LockConversation", locked, conv)
	equal(t, "nothing written by the refused append", len(list(b.Org.ID, convB.ID, 0, 0)), 1)
}

// testMessageClientIDs checks that a client id is stored once per
// resource: found by MessageByClientID, refused a second time (a
// transient conflict), free on another resource or org.
func testMessageClientIDs(t *testing.T, newStore Factory) {
	s := newStore(t)
	a, b := seed(t, s)
	conv, conv2, convB := a.conversation("conv_a1", minute(10)), a.conversation("conv_a2", minute(10)), b.conversation("conv_b1", minute(10))
	other := domain.ChannelResource{ID: "res_a2", OrgID: a.Org.ID, Kind: domain.ResourceWebChat, Name: "site",
		Address: "wk", IdentifyBy: domain.IdentifyByNone, CreatedAt: minute(9)}
	conv2.ResourceID = other.ID
	inbound := func(id domain.MessageID, c domain.Conversation, clientID string) domain.Message {
		return domain.Message{ID: id, OrgID: c.OrgID, ConversationID: c.ID, ResourceID: c.ResourceID,
			Direction: domain.Inbound, Author: domain.AuthorCustomer, Text: "hi", ClientID: clientID, CreatedAt: minute(11)}
	}
	var first domain.Message
	update(t, s, func(ctx context.Context, tx domain.Tx) (err error) {
		if err := tx.CreateResource(ctx, other); err != nil {
			return err
		}
		for _, c := range []domain.Conversation{conv, conv2, convB} {
			if err := tx.CreateConversation(ctx, c); err != nil {
				return err
			}
		}
		if first, err = tx.AppendMessage(ctx, inbound("msg_1", conv, "SM123")); err != nil {
			return err
		}
		// The same client id on another resource and in another org.
		if _, err := tx.AppendMessage(ctx, inbound("msg_2", conv2, "SM123")); err != nil {
			return err
		}
		_, err = tx.AppendMessage(ctx, inbound("msg_3", convB, "SM123"))
		return err
	})
	found := func(org domain.OrgID, res domain.ResourceID, clientID string) (domain.Message, bool) {
		var m domain.Message
		var ok bool
		view(t, s, func(ctx context.Context, tx domain.Tx) (err error) {
			m, ok, err = tx.MessageByClientID(ctx, org, res, clientID)
			return err
		})
		return m, ok
	}
	m, ok := found(a.Org.ID, a.Resource.ID, "SM123")
	equal(t, "MessageByClientID found", ok, true)
	equal(t, "MessageByClientID", m, first)
	_, ok = found(a.Org.ID, a.Resource.ID, "SM999")
	equal(t, "MessageByClientID of an unknown id", ok, false)
	_, ok = found(b.Org.ID, a.Resource.ID, "SM123")
	equal(t, "MessageByClientID across orgs", ok, false)

	err := tryUpdate(s, func(ctx context.Context, tx domain.Tx) error {
		_, err := tx.AppendMessage(ctx, inbound("msg_4", conv, "SM123"))
		return err
	})
	wantCode(t, "the same client id twice on one resource", err, domain.CodeConflict)
	equal(t, "messages after the refused duplicate", len(read(t, s, func(ctx context.Context, tx domain.Tx) ([]domain.Message, error) {
		return tx.ListMessages(ctx, a.Org.ID, conv.ID, 0, 0)
	})), 1)
	equal(t, "the refused duplicate took no number", read(t, s, func(ctx context.Context, tx domain.Tx) (int64, error) {
		ms, err := tx.ListMessages(ctx, a.Org.ID, conv.ID, 0, 0)
		return ms[len(ms)-1].Seq, err
	}), int64(1))
}

// testRoutes checks routes: set, moved, isolated by org, and that of two
// transactions creating one route concurrently, one conflicts and, run
// again, sees the other's route.
func testRoutes(t *testing.T, newStore Factory) {
	s := newStore(t)
	a, b := seed(t, s)
	conv, conv2, convB := a.conversation("conv_a1", minute(10)), a.conversation("conv_a2", minute(11)), b.conversation("conv_b1", minute(10))
	update(t, s, func(ctx context.Context, tx domain.Tx) error {
		for _, c := range []domain.Conversation{conv, conv2, convB} {
			if err := tx.CreateConversation(ctx, c); err != nil {
				return err
			}
		}
		return nil
	})
	route := func(org domain.OrgID, res domain.ResourceID, dest string) (domain.ConversationID, bool) {
		var id domain.ConversationID
		var ok bool
		update(t, s, func(ctx context.Context, tx domain.Tx) (err error) {
			id, ok, err = tx.GetRoute(ctx, org, res, dest)
			return err
		})
		return id, ok
	}
	set := func(org domain.OrgID, res domain.ResourceID, dest string, c domain.ConversationID) {
		update(t, s, func(ctx context.Context, tx domain.Tx) error { return tx.SetRoute(ctx, org, res, dest, c) })
	}
	if _, ok := route(a.Org.ID, a.Resource.ID, "+15550100001"); ok {
		t.Fatal("GetRoute found a route before any was set")
	}
	set(a.Org.ID, a.Resource.ID, "+15550100001", conv.ID)
	id, ok := route(a.Org.ID, a.Resource.ID, "+15550100001")
	equal(t, "GetRoute after SetRoute", [2]any{id, ok}, [2]any{conv.ID, true})
	set(a.Org.ID, a.Resource.ID, "+15550100001", conv2.ID)
	id, _ = route(a.Org.ID, a.Resource.ID, "+15550100001")
	equal(t, "GetRoute after moving the route", id, conv2.ID)
	if _, ok := route(b.Org.ID, a.Resource.ID, "+15550100001"); ok {
		t.Error("GetRoute found another org's route")
	}
	if _, ok := route(a.Org.ID, a.Resource.ID, "+15550100002"); ok {
		t.Error("GetRoute found the route of another destination")
	}

	// Concurrent creators of one route, each locking the route's key first
	// as the service does (domain.RouteKey): each reads "no route", then
	// sets its own; exactly one wins, and every loser finds the winner's
	// route and leaves it.
	const racers = 8
	var wg sync.WaitGroup
	created := make([]bool, racers)
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := tryUpdate(s, func(ctx context.Context, tx domain.Tx) error {
				created[i] = false
				if err := tx.LockKeys(ctx, a.Org.ID, domain.RouteKey(a.Resource.ID, "+15550100003")); err != nil {
					return err
				}
				_, found, err := tx.GetRoute(ctx, a.Org.ID, a.Resource.ID, "+15550100003")
				if err != nil || found {
					return err
				}
				created[i] = true
				return tx.SetRoute(ctx, a.Org.ID, a.Resource.ID, "+15550100003", conv.ID)
			})
			if err != nil {
				t.Errorf("racer %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	winners := 0
	for _, c := range created {
		if c {
			winners++
		}
	}
	equal(t, "racers that created the route", winners, 1)
}
