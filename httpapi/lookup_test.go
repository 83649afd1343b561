package httpapi

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/domain"
)

// lookupWorld: customer A starts with tel:+15550100000 and moves to
// tel:+15550100001; customer B then starts with tel:+15550100000 (a
// recycled number); customer C has no identifier.
type lookupWorld struct {
	env     *testEnv
	c       *client.Client
	key     string
	a, b, n *client.StartedConversation
	moved   time.Time // when A left tel:+15550100000
}

func newLookupWorld(t *testing.T) lookupWorld {
	t.Helper()
	env, c, key, _, dep, res := newPublishedEnv(t)
	w := lookupWorld{env: env, c: c, key: key}
	start := func(destination, identifier string) *client.StartedConversation {
		t.Helper()
		env.clock.Advance(time.Minute)
		st, err := c.StartConversation(t.Context(), client.StartConversationRequest{
			DeploymentID: dep.ID, ResourceID: res.ID, CustomerDestination: destination, CustomerIdentifier: identifier,
		})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	w.a = start("a", "tel:+1 555 010 0000")
	env.clock.Advance(time.Minute)
	w.moved = env.clock.Now().UTC()
	_, err := c.RunDataOperation(t.Context(), client.OpUpdateCustomerIdentifier, client.RunRequest{
		Inputs: map[string]any{"conversationId": w.a.Conversation.ID, "customerIdentifier": "tel:+15550100001"},
	})
	if err != nil {
		t.Fatal(err)
	}
	w.b = start("b", "tel:+15550100000")
	w.n = start("n", "")
	return w
}

// TestIdentifierHolders checks GET /v1/identifiers/{identifier}/holders:
// the identifier's whole timeline across customers, normalized, paged,
// with identifiers of any text passed percent-encoded.
func TestIdentifierHolders(t *testing.T) {
	w := newLookupWorld(t)
	ctx := t.Context()
	page, err := w.c.IdentifierHolders(ctx, "tel:+1 (555) 010-0000", client.PageParams{})
	if err != nil {
		t.Fatal(err)
	}
	if page.Identifier != "tel:+15550100000" || page.NextCursor != nil || len(page.Items) != 2 {
		t.Fatalf("timeline = %+v, want 2 holders of tel:+15550100000 on one page", page)
	}
	first, second := page.Items[0], page.Items[1]
	if first.CustomerID != w.a.Customer.ID || first.ValidTo == nil || !first.ValidTo.Equal(w.moved) ||
		second.CustomerID != w.b.Customer.ID || second.ValidTo != nil || second.ValidFrom.Before(*first.ValidTo) {
		t.Fatalf("timeline = %+v, want A until %s then B", page.Items, w.moved)
	}

	// Pages of one, following the cursor.
	paged := readPages(t, func(cursor string) ([]string, *string, error) {
		pg, err := w.c.IdentifierHolders(ctx, "tel:+15550100000", client.PageParams{Limit: 1, Cursor: cursor})
		if err != nil {
			return nil, nil, err
		}
		var ids []string
		for _, iv := range pg.Items {
			ids = append(ids, iv.CustomerID)
		}
		return ids, pg.NextCursor, nil
	})
	if !slices.Equal(paged, []string{w.a.Customer.ID, w.b.Customer.ID}) {
		t.Fatalf("paged holders = %v, want A then B", paged)
	}

	// Identifiers holding a slash, a question mark, a percent sign, spaces
	// or only dots are one percent-encoded path segment.
	for _, ident := range []string{"ext:CRM/42", "ext:a?b#c", "100% ann", ".", "..", "ext:../x"} {
		_, err := w.c.RunDataOperation(ctx, client.OpUpdateCustomerIdentifier, client.RunRequest{
			Inputs: map[string]any{"conversationId": w.n.Conversation.ID, "customerIdentifier": ident},
		})
		if err != nil {
			t.Fatal(err)
		}
		w.env.clock.Advance(time.Minute)
		pg, err := w.c.IdentifierHolders(ctx, ident, client.PageParams{})
		if err != nil || pg.Identifier != ident || len(pg.Items) != 1 || pg.Items[0].CustomerID != w.n.Customer.ID {
			t.Fatalf("holders of %q = %+v (%v), want customer %s", ident, pg, err, w.n.Customer.ID)
		}
	}
	raw := w.env.do("GET", "/v1/identifiers/ext:CRM%2F42/holders", w.key, "", nil)
	if raw.status != http.StatusOK {
		t.Fatalf("percent-encoded slash = %d %s", raw.status, raw.body)
	}

	// Nobody, an invalid identifier, another org, a bad cursor.
	if pg, err := w.c.IdentifierHolders(ctx, "ext:nobody", client.PageParams{}); err != nil || len(pg.Items) != 0 || pg.NextCursor != nil {
		t.Fatalf("holders of an identifier never held = %+v (%v), want none", pg, err)
	}
	_, err = w.c.IdentifierHolders(ctx, "tel:call me", client.PageParams{})
	wantCode(t, err, http.StatusBadRequest, domain.CodeIdentifierInvalid)
	_, err = w.c.IdentifierHolders(ctx, "ann\u200b", client.PageParams{})
	wantCode(t, err, http.StatusBadRequest, domain.CodeIdentifierInvalid)
	_, other := w.env.newOrg("Other", "")
	if pg, err := other.IdentifierHolders(ctx, "tel:+15550100000", client.PageParams{}); err != nil || len(pg.Items) != 0 {
		t.Fatalf("another org's timeline = %+v (%v), want empty", pg, err)
	}
	for _, cursor := range []string{"nope", encodeStringCursor(w.moved, "x"), encodeStringCursor(w.moved, "-1")} {
		_, err = w.c.IdentifierHolders(ctx, "tel:+15550100000", client.PageParams{Cursor: cursor})
		wantCode(t, err, http.StatusBadRequest, domain.CodeInvalidArgument)
	}
}

// readPages reads every page of a list: page returns the ids of the page
// after cursor ("" for the first) and the next cursor (nil on the last).
func readPages(t *testing.T, page func(cursor string) ([]string, *string, error)) []string {
	t.Helper()
	var all []string
	cursor := ""
	for range 100 {
		ids, next, err := page(cursor)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, ids...)
		if next == nil {
			return all
		}
		cursor = *next
	}
	t.Fatalf("more than 100 pages: %v", all)
	return nil
}

func encodeStringCursor(at time.Time, id string) string { return *encodeCursor(at, id) }

// TestListCustomers checks GET /v1/customers: newest first with a cursor,
// and lookup by current identifier.
func TestListCustomers(t *testing.T) {
	w := newLookupWorld(t)
	ctx := t.Context()
	want := []string{w.n.Customer.ID, w.b.Customer.ID, w.a.Customer.ID}
	paged := readPages(t, func(cursor string) ([]string, *string, error) {
		pg, err := w.c.ListCustomers(ctx, client.ListCustomersParams{Limit: 2, Cursor: cursor})
		if err != nil {
			return nil, nil, err
		}
		var ids []string
		for _, c := range pg.Items {
			ids = append(ids, c.ID)
		}
		return ids, pg.NextCursor, nil
	})
	if !slices.Equal(paged, want) {
		t.Fatalf("customers = %v, want %v (newest first)", paged, want)
	}

	for identifier, holder := range map[string]string{
		"tel:+1 555 010 0001": w.a.Customer.ID, // A's current identifier, as typed
		"TEL:+15550100000":    w.b.Customer.ID, // the recycled number's new holder
		"ext:nobody":          "",
	} {
		pg, err := w.c.ListCustomers(ctx, client.ListCustomersParams{Identifier: identifier})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, c := range pg.Items {
			got = append(got, c.ID)
		}
		if (holder == "" && len(got) != 0) || (holder != "" && !slices.Equal(got, []string{holder})) {
			t.Errorf("customers holding %q = %v, want %q", identifier, got, holder)
		}
	}
	r := w.env.do("GET", "/v1/customers?identifier=", w.key, "", nil)
	decodeProblem(t, r, http.StatusBadRequest, domain.CodeIdentifierInvalid)
	r = w.env.do("GET", "/v1/customers?identifier=tel:nope", w.key, "", nil)
	decodeProblem(t, r, http.StatusBadRequest, domain.CodeIdentifierInvalid)
	r = w.env.do("GET", "/v1/customers?cursor=zzz", w.key, "", nil)
	decodeProblem(t, r, http.StatusBadRequest, domain.CodeInvalidArgument)
	_, other := w.env.newOrg("Other", "")
	if pg, err := other.ListCustomers(ctx, client.ListCustomersParams{Identifier: "tel:+15550100000"}); err != nil || len(pg.Items) != 0 {
		t.Fatalf("another org's lookup = %+v (%v), want empty", pg, err)
	}
}

// TestEventFilters checks GET /v1/events filtered by type (repeated or
// comma-separated) and by customer or conversation, with the after cursor.
func TestEventFilters(t *testing.T) {
	w := newLookupWorld(t)
	ctx := t.Context()
	if _, err := w.c.CloseConversation(ctx, w.b.Conversation.ID); err != nil {
		t.Fatal(err)
	}
	all, err := w.c.ListEvents(ctx, client.ListEventsParams{Limit: 200})
	if err != nil {
		t.Fatal(err)
	}
	seqsOf := func(page *client.EventPage) []int64 {
		out := []int64{}
		for _, e := range page.Items {
			out = append(out, e.Seq)
		}
		return out
	}
	// where lists the seqs of the events keep keeps, as a filter should.
	where := func(keep func(e client.Event) bool) []int64 {
		out := []int64{}
		for _, e := range all.Items {
			if keep(e) {
				out = append(out, e.Seq)
			}
		}
		return out
	}
	about := func(e client.Event, key, id string) bool {
		return e.Payload[key] == id || (key == "conversationId" && e.Subject == id && len(e.Type) > 13 && e.Type[:13] == "conversation.")
	}
	cases := []struct {
		name string
		p    client.ListEventsParams
		want []int64
	}{
		{"one type", client.ListEventsParams{Types: []string{"conversation.started"}},
			where(func(e client.Event) bool { return e.Type == "conversation.started" })},
		{"two types", client.ListEventsParams{Types: []string{"conversation.closed", "customer.identifier_changed"}},
			where(func(e client.Event) bool {
				return e.Type == "conversation.closed" || e.Type == "customer.identifier_changed"
			})},
		{"customer", client.ListEventsParams{CustomerID: w.a.Customer.ID},
			where(func(e client.Event) bool { return about(e, "customerId", w.a.Customer.ID) })},
		{"conversation", client.ListEventsParams{ConversationID: w.b.Conversation.ID},
			where(func(e client.Event) bool { return about(e, "conversationId", w.b.Conversation.ID) })},
		{"customer and type", client.ListEventsParams{CustomerID: w.b.Customer.ID, Types: []string{"conversation.closed"}},
			where(func(e client.Event) bool { return e.Type == "conversation.closed" })},
	}
	for _, tc := range cases {
		tc.p.Limit = 200
		pg, err := w.c.ListEvents(ctx, tc.p)
		if err != nil {
			t.Fatal(err)
		}
		if got := seqsOf(pg); len(tc.want) == 0 || !slices.Equal(got, tc.want) {
			t.Errorf("events %s = %v, want %v (non-empty)", tc.name, got, tc.want)
		}
	}
	// A customer's events include those of its conversations: A's
	// conversation.started event names A in its payload, not as subject.
	customer := where(func(e client.Event) bool { return about(e, "customerId", w.a.Customer.ID) })
	if !slices.ContainsFunc(all.Items, func(e client.Event) bool {
		return e.Type == "conversation.started" && e.Subject == w.a.Conversation.ID && slices.Contains(customer, e.Seq)
	}) {
		t.Errorf("A's conversation.started is not among A's events %v", customer)
	}

	// The comma-separated form and the after cursor.
	r := w.env.do("GET", "/v1/events?type=conversation.closed,customer.identifier_changed&limit=1", w.key, "", nil)
	if r.status != http.StatusOK {
		t.Fatalf("comma-separated types = %d %s", r.status, r.body)
	}
	first, err := w.c.ListEvents(ctx, client.ListEventsParams{Types: []string{"conversation.closed", "customer.identifier_changed"}, Limit: 1})
	if err != nil || len(first.Items) != 1 {
		t.Fatalf("first page = %+v (%v)", first, err)
	}
	rest, err := w.c.ListEvents(ctx, client.ListEventsParams{Types: []string{"conversation.closed", "customer.identifier_changed"}, After: first.Next})
	if err != nil || len(rest.Items) != 1 || rest.Items[0].Type != "conversation.closed" {
		t.Fatalf("after %d = %+v (%v), want the closed event", first.Next, rest, err)
	}
	empty, err := w.c.ListEvents(ctx, client.ListEventsParams{Types: []string{"never.happened"}, After: 3})
	if err != nil || len(empty.Items) != 0 || empty.Next != 3 {
		t.Fatalf("no match = %+v (%v), want none and next 3", empty, err)
	}

	for _, query := range []string{"type=", "type=Not%20A%20Type", "customerId=a%20b", "conversationId=x%00"} {
		r := w.env.do("GET", "/v1/events?"+query, w.key, "", nil)
		decodeProblem(t, r, http.StatusBadRequest, domain.CodeInvalidArgument)
	}
}
