package storetest

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/service"
)

// RunTemporal checks the identifier history and find semantics.
func RunTemporal(t *testing.T, newStore Factory) {
	t.Run("changed identifier keeps history and frees the old one", func(t *testing.T) { temporalChange(t, newStore(t)) })
	t.Run("update to the held identifier changes nothing", func(t *testing.T) { temporalSameIdentifier(t, newStore(t)) })
	t.Run("conversation without identifier is named later", func(t *testing.T) { temporalNameLater(t, newStore(t)) })
	t.Run("intervals never overlap when the clock steps back", func(t *testing.T) { temporalClockSkew(t, newStore(t)) })
	t.Run("output is written to the session variable", func(t *testing.T) { temporalSessionOutput(t, newStore(t)) })
	t.Run("asOf accepts every RFC 3339 form", func(t *testing.T) { temporalAsOfForms(t, newStore(t)) })
}

// temporalAsOfForms: asOf in lower case ("t", "z", allowed by RFC 3339
// section 5.6), with an offset or with surrounding space resolves the same
// holder as the canonical form.
func temporalAsOfForms(t *testing.T, store domain.Store) {
	w := NewWorld(t, store)
	st := w.Start("ext:ann")
	w.Clock.Advance(time.Hour)
	at := w.Clock.Now().UTC()
	want := []string{string(st.Conversation.ID)}
	for _, asOf := range []string{
		at.Format(time.RFC3339), strings.ToLower(at.Format(time.RFC3339)), at.Format("2006-01-02t15:04:05.000000Z"),
		at.In(time.FixedZone("", -5*3600)).Format(time.RFC3339), " " + at.Format(time.RFC3339) + " ",
	} {
		res, err := w.Op(service.OpFindConversations, map[string]any{"customerIdentifier": "ext:ann", "asOf": asOf})
		must(t, err)
		got, _ := res.Value.([]string)
		assertFound(t, "find(ext:ann, asOf "+asOf+")", got, want)
	}
}

// temporalChange: A holds X and changes to Y; B then starts a conversation
// with X. find(X) returns only B's conversations; find(X, asOf before the
// change) returns A's; find(Y) returns all of A's, those under X included.
func temporalChange(t *testing.T, store domain.Store) {
	w := NewWorld(t, store)
	const x, y = "tel:+15550100000", "tel:+15550100001"
	a1 := w.Start("tel:+1 (555) 010-0000")
	w.Clock.Advance(time.Minute)
	a2 := w.Start(x)
	if a2.Customer.ID != a1.Customer.ID {
		t.Fatalf("second conversation with %s created customer %s, want %s", x, a2.Customer.ID, a1.Customer.ID)
	}
	w.Clock.Advance(time.Minute)
	beforeChange := w.Clock.Now()
	w.Clock.Advance(time.Minute)
	changedAt := w.Clock.Now().UTC()
	if res := w.Update(a2.Conversation.ID, y); res.Value != true || res.Error != nil {
		t.Fatalf("update X->Y: %+v", res)
	}
	if got := w.Find(x, nil); len(got) != 0 {
		t.Fatalf("find(X) after A left it = %v, want empty (nobody holds it)", got)
	}
	w.Clock.Advance(time.Minute)
	b := w.Start(x)
	if b.Customer.ID == a1.Customer.ID {
		t.Fatal("B joined A's customer")
	}
	want := func(ids ...service.Started) []string {
		out := make([]string, len(ids))
		for i, st := range ids {
			out[i] = string(st.Conversation.ID)
		}
		return out
	}
	assertFound(t, "find(X)", w.Find(x, nil), want(b))
	assertFound(t, "find(X, before change)", w.Find(x, &beforeChange), want(a2, a1))
	// Intervals are half-open: at the instant A left X nobody held it, and
	// B holds it from the instant B's conversation started.
	assertFound(t, "find(X, at change)", w.Find(x, &changedAt), nil)
	bStart := b.Conversation.StartedAt
	assertFound(t, "find(X, at B's start)", w.Find(x, &bStart), want(b))
	assertFound(t, "find(Y)", w.Find(y, nil), want(a2, a1))
	early := Epoch.Add(-time.Hour)
	assertFound(t, "find(X, before anyone)", w.Find(x, &early), nil)

	for _, st := range []service.Started{a1, a2, b} {
		c, err := w.Service.GetConversation(context.Background(), w.Org, st.Conversation.ID)
		must(t, err)
		if c.IdentifierAtStart != x {
			t.Fatalf("conversation %s started under %q, want %s", c.ID, c.IdentifierAtStart, x)
		}
	}
	history, err := w.Service.CustomerHistory(context.Background(), w.Org, a1.Customer.ID)
	must(t, err)
	if len(history) != 2 || history[0].Identifier != x || history[0].ValidTo == nil ||
		!history[0].ValidTo.Equal(changedAt) || history[1].Identifier != y || history[1].ValidTo != nil ||
		!history[1].ValidFrom.Equal(changedAt) || !history[0].ValidFrom.Equal(Epoch) {
		t.Fatalf("A's history = %+v", history)
	}
	AssertIdentifierInvariants(t, w.Store, w.Org)
}

func assertFound(t *testing.T, what string, got, want []string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s = %v, want %v (newest first)", what, got, want)
	}
}

func temporalSameIdentifier(t *testing.T, store domain.Store) {
	w := NewWorld(t, store)
	st := w.Start("mailto:ann@example.com")
	before := TakeSnapshot(t, w.Store, w.Org)
	w.Clock.Advance(time.Minute)
	if res := w.Update(st.Conversation.ID, "MAILTO:Ann@Example.com"); res.Value != true || res.Error != nil {
		t.Fatalf("update to the held identifier: %+v", res)
	}
	AssertUnchanged(t, before, TakeSnapshot(t, w.Store, w.Org))
}

func temporalNameLater(t *testing.T, store domain.Store) {
	w := NewWorld(t, store)
	st := w.Start("")
	if st.Customer.Identifier != "" || st.Conversation.IdentifierAtStart != "" {
		t.Fatalf("customer without identifier got %+v", st.Customer)
	}
	if res := w.Update(st.Conversation.ID, "ext:crm-42"); res.Value != true {
		t.Fatalf("naming the customer: %+v", res)
	}
	assertFound(t, "find(ext:crm-42)", w.Find("ext:crm-42", nil), []string{string(st.Conversation.ID)})
	c, err := w.Service.GetCustomer(context.Background(), w.Org, st.Customer.ID)
	must(t, err)
	if c.Identifier != "ext:crm-42" {
		t.Fatalf("customer identifier %q", c.Identifier)
	}
	events := SettledEvents(t, w.Store, w.Org, 0, 100)
	last := events[len(events)-1]
	if last.Type != domain.EventCustomerIdentifierChanged || last.Subject != string(st.Customer.ID) || last.Payload["identifier"] != "ext:crm-42" {
		t.Fatalf("last event %+v", last)
	}
}

// temporalClockSkew: a server whose clock is behind must not create an
// interval that starts before the previous holder's ended.
func temporalClockSkew(t *testing.T, store domain.Store) {
	w := NewWorld(t, store)
	a := w.Start("ext:shared")
	b := w.Start("")
	w.Clock.Advance(time.Hour)
	if res := w.Update(a.Conversation.ID, "ext:a-new"); res.Value != true {
		t.Fatalf("A leaves: %+v", res)
	}
	w.Clock.Advance(-30 * time.Minute)
	if res := w.Update(b.Conversation.ID, "ext:shared"); res.Value != true {
		t.Fatalf("B takes the freed identifier: %+v", res)
	}
	w.Clock.Advance(-2 * time.Hour)
	if res := w.Update(a.Conversation.ID, "ext:a-newer"); res.Value != true {
		t.Fatalf("A changes again: %+v", res)
	}
	AssertIdentifierInvariants(t, w.Store, w.Org)
}

func temporalSessionOutput(t *testing.T, store domain.Store) {
	w := NewWorld(t, store)
	holder := w.Start("ext:taken")
	st := w.Start("")
	ctx := context.Background()
	session, err := w.Service.GetSession(ctx, w.Org, st.Session.ID)
	must(t, err)
	msg := session.Variables["channels"].(map[string]any)["message"].(map[string]any)
	if msg["conversationId"] != string(st.Conversation.ID) || msg["identifier"] != st.Conversation.CustomerDestination {
		t.Fatalf("channels.message = %v", msg)
	}
	run := func(ident, variable string) service.RunResult {
		res, err := w.Service.Run(ctx, w.Org, service.RunRequest{
			Kind: domain.KindDataOperation, Name: service.OpUpdateCustomerIdentifier, SessionID: st.Session.ID,
			OutputVariable: variable, Inputs: map[string]any{"conversationId": msg["conversationId"], "customerIdentifier": ident},
		})
		must(t, err)
		return res
	}
	if res := run("ext:taken", ""); res.Variable != "customer-identifier" || res.Value != false ||
		res.Error.Details["holderCustomerId"] != string(holder.Customer.ID) {
		t.Fatalf("conflicting update: %+v", res)
	}
	if res := run("ext:mine", "renamed"); res.Variable != "renamed" || res.Value != true {
		t.Fatalf("renamed update: %+v", res)
	}
	session, err = w.Service.GetSession(ctx, w.Org, st.Session.ID)
	must(t, err)
	if session.Variables["customer-identifier"] != false || session.Variables["renamed"] != true {
		t.Fatalf("session variables %v", session.Variables)
	}
	runs, err := w.Service.ListRuns(ctx, w.Org, "", 2)
	must(t, err)
	if runs[0].Variable != "renamed" || runs[0].ErrorCode != "" || runs[1].ErrorCode != domain.CodeIdentifierTaken ||
		runs[1].SessionID != st.Session.ID || runs[1].Inputs["customerIdentifier"] != "ext:taken" {
		t.Fatalf("runs %+v", runs)
	}
}
