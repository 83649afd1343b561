package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/parleyhq/parley/domain"
)

func testConversations(t *testing.T, newStore Factory) {
	s := newStore(t)
	a, b := seed(t, s)
	deployed := a.conversation("conv_a1", minute(20))
	deployed.ExternalID = "ext-1"
	deployed.IdentifierAtStart = "tel:+15550100001"
	preview := domain.Conversation{ID: "conv_a2", OrgID: a.Org.ID, PreviewVersionID: a.Version.ID, AppID: a.App.ID,
		ResourceID: a.Resource.ID, CustomerID: a.Customer.ID, SessionID: "ses_a2", Status: domain.StatusLive,
		CustomerDestination: "web-session-1", StartedAt: minute(21)}
	closed := a.conversation("conv_a3", minute(22))
	closed.Status, closed.ClosedAt = domain.StatusClosed, ptr(minute(23))
	other := b.conversation("conv_b1", minute(20))
	update(t, s, func(ctx context.Context, tx domain.Tx) error {
		for _, c := range []domain.Conversation{deployed, preview, closed, other} {
			if err := tx.CreateConversation(ctx, c); err != nil {
				return err
			}
		}
		return nil
	})
	get := func(org domain.OrgID, id domain.ConversationID) domain.Conversation {
		return read(t, s, func(ctx context.Context, tx domain.Tx) (domain.Conversation, error) {
			return tx.GetConversation(ctx, org, id)
		})
	}
	for _, c := range []domain.Conversation{deployed, preview, closed, other} {
		equal(t, "GetConversation "+string(c.ID), get(c.OrgID, c.ID), c)
	}

	update(t, s, func(ctx context.Context, tx domain.Tx) error {
		if err := tx.CloseConversation(ctx, a.Org.ID, deployed.ID, minute(30)); err != nil {
			return err
		}
		return tx.CloseConversation(ctx, a.Org.ID, closed.ID, minute(31)) // keeps minute(23)
	})
	wantClosed := deployed
	wantClosed.Status, wantClosed.ClosedAt = domain.StatusClosed, ptr(minute(30))
	equal(t, "closed conversation", get(a.Org.ID, deployed.ID), wantClosed)
	equal(t, "conversation closed twice", get(a.Org.ID, closed.ID), closed)

	wantNotFound(t, s, []notFoundCase{
		{"GetConversation missing", func(ctx context.Context, tx domain.Tx) error {
			_, err := tx.GetConversation(ctx, a.Org.ID, "conv_x")
			return err
		}},
		{"GetConversation of another org", func(ctx context.Context, tx domain.Tx) error {
			_, err := tx.GetConversation(ctx, a.Org.ID, other.ID)
			return err
		}},
		{"CloseConversation missing", func(ctx context.Context, tx domain.Tx) error {
			return tx.CloseConversation(ctx, a.Org.ID, "conv_x", minute(40))
		}},
		{"CloseConversation of another org", func(ctx context.Context, tx domain.Tx) error {
			return tx.CloseConversation(ctx, a.Org.ID, other.ID, minute(40))
		}},
	})
	equal(t, "org b's conversation after cross-org close", get(b.Org.ID, other.ID), other)

	// CustomerConversationIDs: newest first, ties on StartedAt by id
	// descending, only the customer's, only the org's.
	cus2 := domain.Customer{ID: "cus_a2", OrgID: a.Org.ID, CreatedAt: minute(1)}
	tie := a.conversation("conv_a9", minute(22)) // same start as conv_a3
	foreign := a.conversation("conv_a5", minute(50))
	foreign.CustomerID = cus2.ID
	update(t, s, func(ctx context.Context, tx domain.Tx) error {
		if err := tx.CreateCustomer(ctx, cus2); err != nil {
			return err
		}
		if err := tx.CreateConversation(ctx, tie); err != nil {
			return err
		}
		return tx.CreateConversation(ctx, foreign)
	})
	ids := func(org domain.OrgID, customer domain.CustomerID) []domain.ConversationID {
		return read(t, s, func(ctx context.Context, tx domain.Tx) ([]domain.ConversationID, error) {
			return tx.CustomerConversationIDs(ctx, org, customer)
		})
	}
	equal(t, "CustomerConversationIDs", ids(a.Org.ID, a.Customer.ID),
		[]domain.ConversationID{"conv_a9", "conv_a3", "conv_a2", "conv_a1"})
	equal(t, "CustomerConversationIDs of the other customer", ids(a.Org.ID, cus2.ID), []domain.ConversationID{"conv_a5"})
	equal(t, "CustomerConversationIDs of another org's customer", len(ids(a.Org.ID, b.Customer.ID)), 0)

	// HeldConversationIDs: those of the identifier's current holder; none
	// once the holder's interval is closed, nor for another org's holder.
	held := func(org domain.OrgID, identifier string) []domain.ConversationID {
		return read(t, s, func(ctx context.Context, tx domain.Tx) ([]domain.ConversationID, error) {
			return tx.HeldConversationIDs(ctx, org, identifier, nil)
		})
	}
	x, y := "tel:+15550100077", "tel:+15550100078"
	update(t, s, func(ctx context.Context, tx domain.Tx) error {
		for _, iv := range []domain.IdentifierInterval{
			{OrgID: a.Org.ID, CustomerID: cus2.ID, Identifier: x, ValidFrom: minute(1)},
			{OrgID: b.Org.ID, CustomerID: b.Customer.ID, Identifier: y, ValidFrom: minute(1)},
		} {
			if err := tx.OpenInterval(ctx, iv); err != nil {
				return err
			}
		}
		return nil
	})
	equal(t, "HeldConversationIDs of the first holder", held(a.Org.ID, x), []domain.ConversationID{"conv_a5"})
	update(t, s, func(ctx context.Context, tx domain.Tx) error {
		if err := tx.CloseInterval(ctx, a.Org.ID, cus2.ID, x, minute(60)); err != nil {
			return err
		}
		return tx.OpenInterval(ctx, domain.IdentifierInterval{OrgID: a.Org.ID, CustomerID: a.Customer.ID, Identifier: x, ValidFrom: minute(60)})
	})
	equal(t, "HeldConversationIDs of the next holder", held(a.Org.ID, x),
		[]domain.ConversationID{"conv_a9", "conv_a3", "conv_a2", "conv_a1"})
	update(t, s, func(ctx context.Context, tx domain.Tx) error {
		return tx.CloseInterval(ctx, a.Org.ID, a.Customer.ID, x, minute(70))
	})
	equal(t, "HeldConversationIDs once released", len(held(a.Org.ID, x)), 0)
	equal(t, "HeldConversationIDs of an identifier never held", len(held(a.Org.ID, "tel:+15550100079")), 0)
	equal(t, "HeldConversationIDs of another org's identifier", len(held(a.Org.ID, y)), 0)
	equal(t, "HeldConversationIDs in the holder's org", held(b.Org.ID, y), []domain.ConversationID{"conv_b1"})

	// At an instant: the holder then, whatever holds it now.
	heldAt := func(at time.Time) []domain.ConversationID {
		return read(t, s, func(ctx context.Context, tx domain.Tx) ([]domain.ConversationID, error) {
			return tx.HeldConversationIDs(ctx, a.Org.ID, x, &at)
		})
	}
	equal(t, "HeldConversationIDs at minute 30", heldAt(minute(30)), []domain.ConversationID{"conv_a5"})
	equal(t, "HeldConversationIDs at minute 65", heldAt(minute(65)), []domain.ConversationID{"conv_a9", "conv_a3", "conv_a2", "conv_a1"})
	equal(t, "HeldConversationIDs before the first holder", len(heldAt(minute(0))), 0)
	equal(t, "HeldConversationIDs after the release", len(heldAt(minute(75))), 0)

	// ViewLatest: several statements, each on the latest data, one after
	// the other in one call.
	var latest [][]domain.ConversationID
	err := s.ViewLatest(context.Background(), func(tx domain.Tx) error {
		ctx := context.Background()
		for _, q := range []struct {
			org   domain.OrgID
			ident string
			at    *time.Time
		}{{a.Org.ID, x, ptr(minute(30))}, {b.Org.ID, y, nil}, {a.Org.ID, x, nil}} {
			ids, err := tx.HeldConversationIDs(ctx, q.org, q.ident, q.at)
			if err != nil {
				return err
			}
			latest = append(latest, ids)
		}
		_, err := tx.GetOrg(ctx, a.Org.ID)
		return err
	})
	if err != nil {
		t.Fatalf("ViewLatest of three reads and a row: %v", err)
	}
	equal(t, "ViewLatest reads", latest, [][]domain.ConversationID{{"conv_a5"}, {"conv_b1"}, nil})
}

func testListConversations(t *testing.T, newStore Factory) {
	s := newStore(t)
	a, b := seed(t, s)
	cus2 := domain.Customer{ID: "cus_a2", OrgID: a.Org.ID, CreatedAt: minute(1)}
	res2 := domain.ChannelResource{ID: "res_a2", OrgID: a.Org.ID, Kind: domain.ResourceWebChat, Name: "web",
		Address: "wk", CreatedAt: minute(1)}
	dep2 := domain.Deployment{ID: "dep_a2", OrgID: a.Org.ID, AppID: a.App.ID, VersionID: a.Version.ID,
		Environment: domain.EnvQA, PublishedAt: minute(2)}

	// Eight conversations of org a (c1 oldest ... c8 newest; c4 and c5
	// start at the same time) and one of org b, newer than all.
	var convs []domain.Conversation
	for i, start := range []int{10, 11, 12, 13, 13, 15, 16, 17} {
		c := a.conversation("conv_a"+string(rune('1'+i)), minute(start))
		convs = append(convs, c)
	}
	convs[1].CustomerID = cus2.ID
	convs[4].CustomerID = cus2.ID
	convs[2].ResourceID = res2.ID
	convs[5].ResourceID = res2.ID
	convs[3].DeploymentID = dep2.ID
	convs[6].DeploymentID = ""
	convs[6].PreviewVersionID = a.Version.ID
	convs[0].ExternalID = "ext-1"
	convs[7].ExternalID = "ext-1"
	convs[5].ExternalID = "ext-2"
	convs[1].Status, convs[1].ClosedAt = domain.StatusClosed, ptr(minute(20))
	convs[5].Status, convs[5].ClosedAt = domain.StatusClosed, ptr(minute(20))
	otherOrg := b.conversation("conv_b1", minute(99))
	update(t, s, func(ctx context.Context, tx domain.Tx) error {
		if err := tx.CreateCustomer(ctx, cus2); err != nil {
			return err
		}
		if err := tx.CreateResource(ctx, res2); err != nil {
			return err
		}
		if err := tx.CreateDeployment(ctx, dep2); err != nil {
			return err
		}
		for _, c := range append(convs, otherOrg) {
			if err := tx.CreateConversation(ctx, c); err != nil {
				return err
			}
		}
		return nil
	})
	list := func(org domain.OrgID, f domain.ConversationFilter) []domain.ConversationID {
		got := read(t, s, func(ctx context.Context, tx domain.Tx) ([]domain.Conversation, error) {
			return tx.ListConversations(ctx, org, f)
		})
		ids := make([]domain.ConversationID, len(got))
		for i, c := range got {
			ids[i] = c.ID
		}
		return ids
	}
	// Newest first; conv_a5 before conv_a4 (same start, id descending).
	all := []domain.ConversationID{"conv_a8", "conv_a7", "conv_a6", "conv_a5", "conv_a4", "conv_a3", "conv_a2", "conv_a1"}
	cases := []struct {
		name string
		f    domain.ConversationFilter
		want []domain.ConversationID
	}{
		{"all", domain.ConversationFilter{Limit: 100}, all},
		{"limit", domain.ConversationFilter{Limit: 3}, all[:3]},
		{"status live", domain.ConversationFilter{Status: domain.StatusLive, Limit: 100},
			[]domain.ConversationID{"conv_a8", "conv_a7", "conv_a5", "conv_a4", "conv_a3", "conv_a1"}},
		{"status closed", domain.ConversationFilter{Status: domain.StatusClosed, Limit: 100},
			[]domain.ConversationID{"conv_a6", "conv_a2"}},
		{"customer", domain.ConversationFilter{CustomerID: cus2.ID, Limit: 100},
			[]domain.ConversationID{"conv_a5", "conv_a2"}},
		{"deployment", domain.ConversationFilter{DeploymentID: dep2.ID, Limit: 100},
			[]domain.ConversationID{"conv_a4"}},
		{"resource", domain.ConversationFilter{ResourceID: res2.ID, Limit: 100},
			[]domain.ConversationID{"conv_a6", "conv_a3"}},
		{"external id", domain.ConversationFilter{ExternalID: "ext-1", Limit: 100},
			[]domain.ConversationID{"conv_a8", "conv_a1"}},
		{"customer and status", domain.ConversationFilter{CustomerID: cus2.ID, Status: domain.StatusLive, Limit: 100},
			[]domain.ConversationID{"conv_a5"}},
		{"resource and external id", domain.ConversationFilter{ResourceID: res2.ID, ExternalID: "ext-2", Limit: 100},
			[]domain.ConversationID{"conv_a6"}},
		{"deployment a (preview excluded)", domain.ConversationFilter{DeploymentID: a.Deployment.ID, Limit: 100},
			[]domain.ConversationID{"conv_a8", "conv_a6", "conv_a5", "conv_a3", "conv_a2", "conv_a1"}},
		{"no match", domain.ConversationFilter{ExternalID: "none", Limit: 100}, []domain.ConversationID{}},
		{"before a start time only", domain.ConversationFilter{BeforeStartedAt: minute(13), Limit: 100},
			[]domain.ConversationID{"conv_a3", "conv_a2", "conv_a1"}},
		{"before the tie's larger id", domain.ConversationFilter{BeforeStartedAt: minute(13), BeforeID: "conv_a5", Limit: 100},
			[]domain.ConversationID{"conv_a4", "conv_a3", "conv_a2", "conv_a1"}},
		{"cursor with a filter", domain.ConversationFilter{CustomerID: cus2.ID, BeforeStartedAt: minute(13), BeforeID: "conv_a5", Limit: 100},
			[]domain.ConversationID{"conv_a2"}},
		{"customer of another org", domain.ConversationFilter{CustomerID: b.Customer.ID, Limit: 100}, []domain.ConversationID{}},
	}
	for _, c := range cases {
		equal(t, "ListConversations "+c.name, list(a.Org.ID, c.f), c.want)
	}
	equal(t, "ListConversations org b", list(b.Org.ID, domain.ConversationFilter{Limit: 100}), []domain.ConversationID{"conv_b1"})

	// Page through with the keyset cursor, two at a time.
	var paged []domain.ConversationID
	f := domain.ConversationFilter{Limit: 2}
	for page := 0; page < 10; page++ {
		got := read(t, s, func(ctx context.Context, tx domain.Tx) ([]domain.Conversation, error) {
			return tx.ListConversations(ctx, a.Org.ID, f)
		})
		if len(got) == 0 {
			break
		}
		for _, c := range got {
			paged = append(paged, c.ID)
		}
		last := got[len(got)-1]
		f.BeforeStartedAt, f.BeforeID = last.StartedAt, last.ID
	}
	equal(t, "ListConversations paged by 2", paged, all)

	// Full rows come back, not only ids.
	full := read(t, s, func(ctx context.Context, tx domain.Tx) ([]domain.Conversation, error) {
		return tx.ListConversations(ctx, a.Org.ID, domain.ConversationFilter{ExternalID: "ext-2", Limit: 1})
	})
	equal(t, "ListConversations rows", full, []domain.Conversation{convs[5]})

	err := readErr(t, s, func(ctx context.Context, tx domain.Tx) error {
		_, err := tx.ListConversations(ctx, a.Org.ID, domain.ConversationFilter{})
		return err
	})
	wantCode(t, "ListConversations without a limit", err, domain.CodeInvalidArgument)
}

func testSessions(t *testing.T, newStore Factory) {
	s := newStore(t)
	a, b := seed(t, s)
	vars := map[string]any{
		"channels": map[string]any{"message": map[string]any{"conversationId": "conv_a1", "identifier": "tel:+15550100001"}},
		"count":    float64(3),
		"ratio":    1.25,
		"ok":       true,
		"nothing":  nil,
		"list":     []any{"a", float64(1), map[string]any{"deep": []any{}}},
		"text":     "héllo \"quoted\" \u2603",
	}
	ses := domain.Session{ID: "ses_a1", OrgID: a.Org.ID, ConversationID: "conv_a1", Variables: vars, UpdatedAt: minute(20)}
	sesB := domain.Session{ID: "ses_b1", OrgID: b.Org.ID, ConversationID: "conv_b1", Variables: map[string]any{"x": "y"}, UpdatedAt: minute(20)}
	update(t, s, func(ctx context.Context, tx domain.Tx) error {
		if err := tx.CreateSession(ctx, ses); err != nil {
			return err
		}
		return tx.CreateSession(ctx, sesB)
	})
	get := func(org domain.OrgID, id domain.SessionID) domain.Session {
		return read(t, s, func(ctx context.Context, tx domain.Tx) (domain.Session, error) { return tx.GetSession(ctx, org, id) })
	}
	equal(t, "GetSession", get(a.Org.ID, ses.ID), ses)

	replaced := map[string]any{"only": map[string]any{"this": []any{true, false}}}
	update(t, s, func(ctx context.Context, tx domain.Tx) error {
		return tx.SetSessionVariables(ctx, a.Org.ID, ses.ID, replaced, minute(21))
	})
	equal(t, "session after SetSessionVariables (replaced, not merged)", get(a.Org.ID, ses.ID),
		domain.Session{ID: ses.ID, OrgID: a.Org.ID, ConversationID: "conv_a1", Variables: replaced, UpdatedAt: minute(21)})

	wantNotFound(t, s, []notFoundCase{
		{"GetSession missing", func(ctx context.Context, tx domain.Tx) error {
			_, err := tx.GetSession(ctx, a.Org.ID, "ses_x")
			return err
		}},
		{"GetSession of another org", func(ctx context.Context, tx domain.Tx) error {
			_, err := tx.GetSession(ctx, a.Org.ID, sesB.ID)
			return err
		}},
		{"SetSessionVariables missing", func(ctx context.Context, tx domain.Tx) error {
			return tx.SetSessionVariables(ctx, a.Org.ID, "ses_x", map[string]any{}, minute(22))
		}},
		{"SetSessionVariables of another org", func(ctx context.Context, tx domain.Tx) error {
			return tx.SetSessionVariables(ctx, a.Org.ID, sesB.ID, map[string]any{"stolen": true}, minute(22))
		}},
	})
	equal(t, "org b's session after cross-org write", get(b.Org.ID, sesB.ID), sesB)
}
