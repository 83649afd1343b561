package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/service"
)

// RunInbound checks the inbound entry point every channel calls
// (service.Receive) and its twin for a known conversation: routing by
// resource and destination, resource bindings, a new conversation after a
// close, customers identified by their number, client ids stored once,
// gap-free per-conversation numbering, and exactly one conversation for
// concurrent first messages, also from several server processes.
func RunInbound(t *testing.T, open Opener) {
	single := func(t testing.TB) domain.Store { return open(t, 1)[0] }
	t.Run("routing and bindings", func(t *testing.T) { inboundRouting(t, NewWorld(t, single(t))) })
	t.Run("unbound and unpublished resources", func(t *testing.T) { inboundUnbound(t, NewWorld(t, single(t))) })
	t.Run("identify by destination", func(t *testing.T) { inboundIdentify(t, NewWorld(t, single(t))) })
	t.Run("client ids", func(t *testing.T) { inboundClientIDs(t, NewWorld(t, single(t))) })
	t.Run("concurrent first messages", func(t *testing.T) { inboundConcurrentFirst(t, open) })
}

// Channel returns a resource of kind bound to the world's production app
// (following publishes) with identifyBy.
func (w *World) Channel(kind domain.ResourceKind, address string, by domain.IdentifyBy) domain.ChannelResource {
	w.T.Helper()
	res, err := w.Service.CreateResource(context.Background(), w.Org, service.ResourceInput{
		Kind: kind, Name: "channel " + address, Address: address,
		AppID: w.Deployment.AppID, Environment: domain.EnvProduction, IdentifyBy: by,
	})
	must(w.T, err)
	return res
}

// Receive hands an inbound message to the service and fails on an error.
func (w *World) Receive(res domain.ResourceID, from, text, clientID string) service.Received {
	w.T.Helper()
	rec, err := w.Service.Receive(context.Background(), w.Org, service.Inbound{
		ResourceID: res, Destination: from, Text: text, ClientID: clientID,
	})
	must(w.T, err)
	return rec
}

func inboundRouting(t *testing.T, w *World) {
	ctx := context.Background()
	web := w.Channel(domain.ResourceWebChat, "site", domain.IdentifyByNone)
	first := w.Receive(web.ID, "visitor-1", "hello", "")
	if !first.Started || first.Message.Seq != 1 || first.Message.Author != domain.AuthorCustomer ||
		first.Conversation.DeploymentID != w.Deployment.ID || first.Conversation.CustomerDestination != "visitor-1" {
		t.Fatalf("first message: %+v", first)
	}
	second := w.Receive(web.ID, "visitor-1", "are you there?", "")
	if second.Started || second.Conversation.ID != first.Conversation.ID || second.Message.Seq != 2 {
		t.Fatalf("second message went elsewhere: %+v", second)
	}
	other := w.Receive(web.ID, "visitor-2", "hi", "")
	if !other.Started || other.Conversation.ID == first.Conversation.ID || other.Message.Seq != 1 {
		t.Fatalf("another visitor's message: %+v", other)
	}

	// After a close, the next message starts a new conversation; a
	// republish moves new conversations, not live ones.
	live := w.Receive(web.ID, "visitor-2", "still here", "")
	_, err := w.Service.CloseConversation(ctx, w.Org, first.Conversation.ID)
	must(t, err)
	v2, err := w.Service.CreateVersion(ctx, w.Org, w.Deployment.AppID, []byte(`{}`))
	must(t, err)
	dep2, err := w.Service.Publish(ctx, w.Org, w.Deployment.AppID, v2.ID, domain.EnvProduction)
	must(t, err)
	again := w.Receive(web.ID, "visitor-1", "me again", "")
	if !again.Started || again.Conversation.ID == first.Conversation.ID || again.Conversation.DeploymentID != dep2.ID {
		t.Fatalf("message after a close and a republish: %+v", again)
	}
	stayed := w.Receive(web.ID, "visitor-2", "and now?", "")
	if stayed.Started || stayed.Conversation.ID != live.Conversation.ID || stayed.Conversation.DeploymentID != w.Deployment.ID {
		t.Fatalf("a live conversation moved with the republish: %+v", stayed)
	}

	// A conversation started through the API receives its destination's
	// messages.
	st, err := w.Service.StartConversation(ctx, w.Org, service.StartInput{DeploymentID: dep2.ID,
		Party: service.Party{ResourceID: web.ID, CustomerDestination: "visitor-3"}})
	must(t, err)
	routed := w.Receive(web.ID, "visitor-3", "hi", "")
	if routed.Started || routed.Conversation.ID != st.Conversation.ID {
		t.Fatalf("message to an API-started conversation: %+v", routed)
	}

	// The messages of the first conversation, numbered without gaps.
	msgs, err := w.Service.ListMessages(ctx, w.Org, first.Conversation.ID, 0, 50)
	must(t, err)
	if len(msgs) != 2 || msgs[0].Text != "hello" || msgs[1].Seq != 2 {
		t.Fatalf("messages of the first conversation: %+v", msgs)
	}

	// Writing into a known conversation: inbound runs the same path,
	// outbound is an operator's, a closed conversation refuses both.
	rec, err := w.Service.AddMessage(ctx, w.Org, live.Conversation.ID, domain.Outbound, "an operator here", "")
	must(t, err)
	if rec.Message.Author != domain.AuthorOperator || rec.Message.Direction != domain.Outbound || rec.Message.Seq != 4 {
		t.Fatalf("operator message: %+v", rec.Message)
	}
	for _, dir := range []domain.Direction{domain.Inbound, domain.Outbound} {
		_, err = w.Service.AddMessage(ctx, w.Org, first.Conversation.ID, dir, "closed?", "")
		wantCode(t, "a message into a closed conversation", err, domain.CodeConversationClosed)
	}
	_, err = w.Service.AddMessage(ctx, w.Org, "conv_missing", domain.Inbound, "anyone?", "")
	wantCode(t, "a message into a missing conversation", err, domain.CodeConversationNotFound)
}

func inboundUnbound(t *testing.T, w *World) {
	ctx := context.Background()
	// w.Resource is bound to nothing.
	_, err := w.Service.Receive(ctx, w.Org, service.Inbound{ResourceID: w.Resource.ID, Destination: "v", Text: "hi"})
	wantCode(t, "a message on an unbound resource", err, domain.CodeNotDeployed)
	app, err := w.Service.CreateApp(ctx, w.Org, "Unpublished")
	must(t, err)
	res, err := w.Service.CreateResource(ctx, w.Org, service.ResourceInput{Kind: domain.ResourceWebChat, Name: "qa",
		Address: "qa", AppID: app.ID, Environment: domain.EnvQA})
	must(t, err)
	_, err = w.Service.Receive(ctx, w.Org, service.Inbound{ResourceID: res.ID, Destination: "v", Text: "hi"})
	wantCode(t, "a message on a resource following an environment with nothing published", err, domain.CodeNotDeployed)
	fixed, err := w.Service.CreateResource(ctx, w.Org, service.ResourceInput{Kind: domain.ResourceWebChat, Name: "fixed",
		Address: "fixed", DeploymentID: w.Deployment.ID})
	must(t, err)
	v2, err := w.Service.CreateVersion(ctx, w.Org, w.Deployment.AppID, []byte(`{}`))
	must(t, err)
	_, err = w.Service.Publish(ctx, w.Org, w.Deployment.AppID, v2.ID, domain.EnvProduction)
	must(t, err)
	_, err = w.Service.Receive(ctx, w.Org, service.Inbound{ResourceID: fixed.ID, Destination: "v", Text: "hi"})
	wantCode(t, "a message on a resource bound to a replaced deployment", err, domain.CodeNotDeployed)
	_, err = w.Service.Receive(ctx, w.Org, service.Inbound{ResourceID: "res_missing", Destination: "v", Text: "hi"})
	wantCode(t, "a message on a missing resource", err, domain.CodeNotFound)
	snapshot := func() int {
		cs, err := w.Service.ListConversations(ctx, w.Org, domain.ConversationFilter{Limit: 10})
		must(t, err)
		return len(cs)
	}
	if n := snapshot(); n != 0 {
		t.Fatalf("%d conversations after refused messages, want 0", n)
	}

	bad := []service.ResourceInput{
		{Kind: domain.ResourceWebChat, Name: "x", Address: "x", DeploymentID: w.Deployment.ID, AppID: w.Deployment.AppID, Environment: domain.EnvQA},
		{Kind: domain.ResourceWebChat, Name: "x", Address: "x", AppID: w.Deployment.AppID},
		{Kind: domain.ResourceWebChat, Name: "x", Address: "x", Environment: domain.EnvQA},
		{Kind: domain.ResourceWebChat, Name: "x", Address: "x", AppID: "app_missing", Environment: domain.EnvQA},
		{Kind: domain.ResourceWebChat, Name: "x", Address: "x", DeploymentID: "dep_missing"},
		{Kind: domain.ResourceWebChat, Name: "x", Address: "x", IdentifyBy: domain.IdentifyByDestination},
		{Kind: domain.ResourceSMS, Name: "x", Address: "+15550100000", IdentifyBy: "phone"},
	}
	for i, in := range bad {
		_, err := w.Service.CreateResource(ctx, w.Org, in)
		wantCode(t, fmt.Sprintf("bad resource %d", i), err, domain.CodeInvalidArgument)
	}
}

func inboundIdentify(t *testing.T, w *World) {
	ctx := context.Background()
	sms := w.Channel(domain.ResourceSMS, "+15550109999", domain.IdentifyByDestination)
	first := w.Receive(sms.ID, "+1 (555) 010-0001", "hi", "")
	if first.Conversation.CustomerDestination != "+15550100001" || first.Conversation.IdentifierAtStart != "tel:+15550100001" {
		t.Fatalf("SMS conversation: %+v", first.Conversation)
	}
	_, err := w.Service.CloseConversation(ctx, w.Org, first.Conversation.ID)
	must(t, err)
	again := w.Receive(sms.ID, "+15550100001", "it's me again", "")
	if !again.Started || again.Conversation.CustomerID != first.Conversation.CustomerID {
		t.Fatalf("the same number's next conversation has another customer: %+v", again.Conversation)
	}
	if ids := w.Find("tel:+15550100001", nil); len(ids) != 2 {
		t.Fatalf("find by the number: %v, want both conversations", ids)
	}
	// A verified identifier names the customer of a new conversation.
	web := w.Channel(domain.ResourceWebChat, "site", domain.IdentifyByNone)
	rec, err := w.Service.Receive(ctx, w.Org, service.Inbound{ResourceID: web.ID, Destination: "visitor",
		Text: "hi", CustomerIdentifier: "tel:+1 555 010 0001"})
	must(t, err)
	if rec.Conversation.CustomerID != first.Conversation.CustomerID {
		t.Fatalf("web chat with a verified identifier joined customer %s, want %s", rec.Conversation.CustomerID, first.Conversation.CustomerID)
	}
	_, err = w.Service.Receive(ctx, w.Org, service.Inbound{ResourceID: sms.ID, Destination: "not a number", Text: "hi"})
	wantCode(t, "an SMS from something that is not a number", err, domain.CodeInvalidArgument)
}

func inboundClientIDs(t *testing.T, w *World) {
	ctx := context.Background()
	web := w.Channel(domain.ResourceWebChat, "site", domain.IdentifyByNone)
	first := w.Receive(web.ID, "visitor-1", "hello", "c-1")
	dup := w.Receive(web.ID, "visitor-1", "hello", "c-1")
	if !dup.Duplicate || dup.Message.ID != first.Message.ID || dup.Started {
		t.Fatalf("resent message: %+v", dup)
	}
	// Even after its conversation closed, a resent id is not stored again.
	_, err := w.Service.CloseConversation(ctx, w.Org, first.Conversation.ID)
	must(t, err)
	late := w.Receive(web.ID, "visitor-1", "hello", "c-1")
	if !late.Duplicate || late.Message.ID != first.Message.ID {
		t.Fatalf("resent after a close: %+v", late)
	}
	cs, err := w.Service.ListConversations(ctx, w.Org, domain.ConversationFilter{ResourceID: web.ID, Limit: 10})
	must(t, err)
	if len(cs) != 1 {
		t.Fatalf("%d conversations, want 1", len(cs))
	}
	next := w.Receive(web.ID, "visitor-1", "new one", "c-2")
	viaAPI, err := w.Service.ReceiveInConversation(ctx, w.Org, next.Conversation.ID, "new one", "c-2")
	must(t, err)
	if !viaAPI.Duplicate || viaAPI.Message.ID != next.Message.ID {
		t.Fatalf("a resent id through the API: %+v", viaAPI)
	}
	_, err = w.Service.ReceiveInConversation(ctx, w.Org, next.Conversation.ID, "hijack", "c-1")
	wantCode(t, "a client id of another conversation", err, domain.CodeConflict)
	for _, bad := range []string{"with\x00nul", string(make([]byte, 201))} {
		_, err = w.Service.ReceiveInConversation(ctx, w.Org, next.Conversation.ID, "x", bad)
		wantCode(t, "a bad client id", err, domain.CodeInvalidArgument)
	}
	msgs, err := w.Service.ListMessages(ctx, w.Org, next.Conversation.ID, 0, 50)
	must(t, err)
	if len(msgs) != 1 {
		t.Fatalf("%d messages after resends and refusals, want 1: %+v", len(msgs), msgs)
	}
}

// inboundConcurrentFirst sends 100 first messages of one destination at
// once, through three store handles (server processes): one conversation
// holds all of them, numbered 1..100, each once.
func inboundConcurrentFirst(t *testing.T, open Opener) {
	const processes, messages = 3, 100
	stores := open(t, processes)
	w := NewWorld(t, stores[0])
	web := w.Channel(domain.ResourceWebChat, "site", domain.IdentifyByNone)
	services := make([]*service.Service, processes)
	for i, s := range stores {
		services[i] = w.ServiceOn(s)
	}
	var wg sync.WaitGroup
	results := make([]service.Received, messages)
	errs := make([]error, messages)
	for i := range messages {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = services[i%processes].Receive(context.Background(), w.Org, service.Inbound{
				ResourceID: web.ID, Destination: "visitor", Text: fmt.Sprintf("message %d", i), ClientID: fmt.Sprintf("c-%d", i),
			})
		}()
	}
	wg.Wait()
	started := 0
	for i, err := range errs {
		must(t, err)
		if results[i].Started {
			started++
		}
		if results[i].Conversation.ID != results[0].Conversation.ID {
			t.Fatalf("message %d went to %s, message 0 to %s", i, results[i].Conversation.ID, results[0].Conversation.ID)
		}
	}
	if started != 1 {
		t.Fatalf("%d messages started a conversation, want 1", started)
	}
	msgs, err := w.Service.ListMessages(context.Background(), w.Org, results[0].Conversation.ID, 0, service.MaxPageSize)
	must(t, err)
	seen := map[string]bool{}
	for i, m := range msgs {
		if m.Seq != int64(i+1) {
			t.Fatalf("message %d has seq %d", i, m.Seq)
		}
		if seen[m.ClientID] {
			t.Fatalf("client id %s stored twice", m.ClientID)
		}
		seen[m.ClientID] = true
	}
	if len(msgs) != messages {
		t.Fatalf("%d messages stored, want %d", len(msgs), messages)
	}
}
