package storetest

import (
	"context"
	"reflect"
	"regexp"
	"testing"
	"time"

	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/identifier"
	"github.com/parleyhq/parley/service"
)

// RunOperations checks the successful paths of every data operation and
// action.
func RunOperations(t *testing.T, newStore Factory) {
	t.Run("transcript, send and close", func(t *testing.T) { opsTranscriptSendClose(t, newStore(t)) })
	t.Run("send creates a conversation when needed", func(t *testing.T) { opsSendCreates(t, newStore(t)) })
	t.Run("actions", func(t *testing.T) { opsActions(t, newStore(t)) })
	t.Run("publish replaces the deployment", func(t *testing.T) { opsPublish(t, newStore(t)) })
	t.Run("idempotency keys: replay, lease, expiry", func(t *testing.T) { opsIdempotency(t, newStore(t)) })
}

func opsTranscriptSendClose(t *testing.T, store domain.Store) {
	w := NewWorld(t, store)
	ctx := context.Background()
	st := w.Start("tel:+15550100000")
	_, err := w.Service.AddMessage(ctx, w.Org, st.Conversation.ID, domain.Inbound, "hello", "")
	must(t, err)
	id := string(st.Conversation.ID)
	res, err := w.Op(service.OpSendMessage, map[string]any{"conversation": id, "message": "how can I help?"})
	must(t, err)
	if res.Variable != "messages" || res.Value != true || res.Error != nil {
		t.Fatalf("send: %+v", res)
	}
	res, err = w.Op(service.OpConversationTranscript, map[string]any{"conversation": id})
	must(t, err)
	tr := res.Value.(map[string]any)
	msgs := tr["messages"].([]any)
	if res.Variable != "conversation" || tr["id"] != id || tr["status"] != "live" || tr["customerIdentifier"] != "tel:+15550100000" || len(msgs) != 2 ||
		msgs[0].(map[string]any)["text"] != "hello" || msgs[1].(map[string]any)["direction"] != "outbound" {
		t.Fatalf("transcript: %+v", tr)
	}
	micros := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$`)
	if tr["externalId"] != nil || tr["closedAt"] != nil || !micros.MatchString(tr["startedAt"].(string)) ||
		!micros.MatchString(msgs[0].(map[string]any)["createdAt"].(string)) {
		t.Fatalf("transcript optional fields or times: %+v", tr)
	}
	res, err = w.Op(service.OpCloseConversation, map[string]any{"conversation": id})
	must(t, err)
	if res.Variable != "conversation" || res.Value != true {
		t.Fatalf("close: %+v", res)
	}
	c, err := w.Service.GetConversation(ctx, w.Org, st.Conversation.ID)
	must(t, err)
	if c.Status != domain.StatusClosed || c.ClosedAt == nil {
		t.Fatalf("closed conversation: %+v", c)
	}
}

func opsSendCreates(t *testing.T, store domain.Store) {
	w := NewWorld(t, store)
	ctx := context.Background()
	caller := w.Start("")
	target := w.Start("ext:9")
	_, err := w.Service.CloseConversation(ctx, w.Org, target.Conversation.ID)
	must(t, err)
	res, err := w.Service.Run(ctx, w.Org, service.RunRequest{
		Kind: domain.KindDataOperation, Name: service.OpSendMessage, SessionID: caller.Session.ID,
		Inputs: map[string]any{
			"conversation": string(target.Conversation.ID), "message": "we are back", "createIfNeeded": true,
			"resourceId": string(w.Resource.ID), "customerDestination": "web-new", "customerIdentifier": "ext:9",
		},
	})
	must(t, err)
	if res.Value != true || res.Error != nil {
		t.Fatalf("send with createIfNeeded: %+v", res)
	}
	ids, err := w.Service.CustomerConversations(ctx, w.Org, target.Customer.ID)
	must(t, err)
	if len(ids) != 2 || ids[1] != target.Conversation.ID {
		t.Fatalf("customer conversations %v, want a new one before %s", ids, target.Conversation.ID)
	}
	msgs, err := w.Service.ListMessages(ctx, w.Org, ids[0], 0, 10)
	must(t, err)
	if len(msgs) != 1 || msgs[0].Text != "we are back" || msgs[0].Direction != domain.Outbound {
		t.Fatalf("messages of the new conversation: %+v", msgs)
	}
	session, err := w.Service.GetSession(ctx, w.Org, caller.Session.ID)
	must(t, err)
	if session.Variables["messages"] != true {
		t.Fatalf("caller's session variables: %v", session.Variables)
	}
}

func opsActions(t *testing.T, store domain.Store) {
	w := NewWorld(t, store)
	ctx := context.Background()
	action := func(name string, session domain.SessionID, inputs map[string]any) service.RunResult {
		t.Helper()
		res, err := w.Service.Run(ctx, w.Org, service.RunRequest{Kind: domain.KindAction, Name: name, SessionID: session, Inputs: inputs})
		must(t, err)
		return res
	}
	res := action(service.ActionStartConversation, "", map[string]any{
		"deploymentId": string(w.Deployment.ID), "resourceId": string(w.Resource.ID),
		"customerDestination": "web-7", "externalId": "crm-7", "customerIdentifier": "whatsapp:+44 7700 900123",
	})
	started := res.Value.(map[string]any)
	convID := domain.ConversationID(started["conversationId"].(string))
	c, err := w.Service.GetConversation(ctx, w.Org, convID)
	must(t, err)
	if c.ExternalID != "crm-7" || c.IdentifierAtStart != "whatsapp:447700900123" || string(c.SessionID) != started["sessionId"] {
		t.Fatalf("started conversation %+v from %v", c, started)
	}
	if res := action(service.ActionUpdateCustomerIdentifier, c.SessionID, map[string]any{"customerIdentifier": "ext:crm-7"}); res.Value != true {
		t.Fatalf("update action: %+v", res)
	}
	if got := w.Find("ext:crm-7", nil); !reflect.DeepEqual(got, []string{string(convID)}) {
		t.Fatalf("find after update action: %v", got)
	}
	if res := action(service.ActionCloseConversation, c.SessionID, nil); res.Value != true {
		t.Fatalf("close action: %+v", res)
	}
	if res := action(service.ActionCloseConversation, c.SessionID, nil); res.Value != false || res.Error.Code != domain.CodeConversationClosed {
		t.Fatalf("second close action: %+v", res)
	}
}

func opsPublish(t *testing.T, store domain.Store) {
	w := NewWorld(t, store)
	ctx := context.Background()
	old := w.Start("ext:1")
	next, err := w.Service.Publish(ctx, w.Org, w.Deployment.AppID, w.Draft.ID, domain.EnvProduction)
	must(t, err)
	ds, err := w.Service.ListDeployments(ctx, w.Org, w.Deployment.AppID)
	must(t, err)
	if len(ds) != 2 || ds[0].ID != next.ID || !ds[0].Active() || ds[1].Active() {
		t.Fatalf("deployments after republish: %+v", ds)
	}
	// Conversations of the replaced deployment are still deployed ones.
	if res := w.Update(old.Conversation.ID, "ext:2"); res.Value != true {
		t.Fatalf("update on a replaced deployment's conversation: %+v", res)
	}
	qa, err := w.Service.Publish(ctx, w.Org, w.Deployment.AppID, w.Draft.ID, domain.EnvQA)
	must(t, err)
	if qa.ID == next.ID || !qa.Active() {
		t.Fatalf("qa deployment %+v", qa)
	}
}

// opsIdempotency: a completed request is replayed; a key still in progress
// answers conflict until its lease runs out (its server died), then a
// retry takes it over; a key is forgotten after a day. The response is
// stored by the write itself, in its transaction; a request whose key was
// taken over is not applied; releasing a key leaves a stored response and
// another request's claim alone.
func opsIdempotency(t *testing.T, store domain.Store) {
	w := NewWorld(t, store)
	ctx := context.Background()
	begin := func(key, hash string) (*service.Replay, *service.IdempotencyClaim, error) {
		return w.Service.BeginIdempotent(ctx, w.Org, key, hash)
	}
	respond := func(result any) (int, []byte, error) {
		return 201, []byte(`{"id":"` + string(result.(domain.App).ID) + `"}`), nil
	}
	if replay, claim, err := begin("crashed", "h1"); replay != nil || claim == nil || err != nil {
		t.Fatalf("first use: %v %v %v", replay, claim, err)
	}
	if _, _, err := begin("crashed", "h1"); domain.ErrorCode(err) != domain.CodeConflict {
		t.Fatalf("while in progress: %v, want conflict", err)
	}
	w.Clock.Advance(3 * time.Minute)
	_, claim, err := begin("crashed", "h1")
	if claim == nil || err != nil {
		t.Fatalf("after the lease: %v %v, want the key taken over", claim, err)
	}
	claim.SetResponder(respond)
	app, err := w.Service.CreateApp(service.WithIdempotency(ctx, claim), w.Org, "bot")
	must(t, err)
	want := `{"id":"` + string(app.ID) + `"}`
	if stored := claim.Stored(); stored == nil || stored.Status != 201 || string(stored.Body) != want {
		t.Fatalf("claim stored %+v, want 201 %s", stored, want)
	}
	replay, _, err := begin("crashed", "h1")
	if err != nil || replay == nil || replay.Status != 201 || string(replay.Body) != want {
		t.Fatalf("after completion: %+v %v, want the stored response", replay, err)
	}
	must(t, w.Service.ReleaseIdempotent(ctx, claim))
	if replay, _, err := begin("crashed", "h1"); err != nil || replay == nil {
		t.Fatalf("release after completion forgot the response: %+v %v", replay, err)
	}
	if _, _, err := begin("crashed", "h2"); domain.ErrorCode(err) != domain.CodeConflict {
		t.Fatalf("same key, other request: %v, want conflict", err)
	}
	w.Clock.Advance(25 * time.Hour)
	if replay, claim, err := begin("crashed", "h2"); replay != nil || claim == nil || err != nil {
		t.Fatalf("a day later: %v %v, want the key forgotten", replay, err)
	}

	// A slow request whose key was taken over after the lease is not
	// applied: the retry that took over is the one that runs.
	_, slow, err := begin("slow", "h3")
	must(t, err)
	w.Clock.Advance(3 * time.Minute)
	_, retry, err := begin("slow", "h3")
	must(t, err)
	before := TakeSnapshot(t, w.Store, w.Org)
	slow.SetResponder(respond)
	_, err = w.Service.CreateApp(service.WithIdempotency(ctx, slow), w.Org, "slow")
	if domain.ErrorCode(err) != domain.CodeConflict || slow.Stored() != nil {
		t.Fatalf("write of a request whose key was taken over: %v, want conflict", err)
	}
	AssertUnchanged(t, before, TakeSnapshot(t, w.Store, w.Org))
	must(t, w.Service.ReleaseIdempotent(ctx, slow)) // the retry's claim stays
	retry.SetResponder(respond)
	_, err = w.Service.CreateApp(service.WithIdempotency(ctx, retry), w.Org, "slow")
	must(t, err)
	if retry.Stored() == nil {
		t.Fatal("the retry that took the key over stored no response")
	}

	// A failed request releases its key: a retry runs.
	_, failed, err := begin("failed", "h4")
	must(t, err)
	failed.SetResponder(respond)
	if _, err := w.Service.CreateApp(service.WithIdempotency(ctx, failed), w.Org, ""); domain.ErrorCode(err) != domain.CodeInvalidArgument {
		t.Fatalf("create with an empty name: %v", err)
	}
	must(t, w.Service.ReleaseIdempotent(ctx, failed))
	if replay, claim, err := begin("failed", "h4"); replay != nil || claim == nil || err != nil {
		t.Fatalf("after a failure: %v %v %v, want the key free", replay, claim, err)
	}

	// A shorter configured retention forgets a completed key sooner.
	short := service.New(service.Config{Store: store, Clock: w.Clock, IDs: w.IDs, Licenses: w.Verifier,
		Identifiers: identifier.Normalizer{}, IdempotencyRetention: 10 * time.Minute})
	_, claim, err = short.BeginIdempotent(ctx, w.Org, "short", "h5")
	must(t, err)
	claim.SetResponder(respond)
	_, err = short.CreateApp(service.WithIdempotency(ctx, claim), w.Org, "short")
	must(t, err)
	w.Clock.Advance(9 * time.Minute)
	if replay, _, err := short.BeginIdempotent(ctx, w.Org, "short", "h5"); err != nil || replay == nil {
		t.Fatalf("within the short retention: %+v %v, want the stored response", replay, err)
	}
	w.Clock.Advance(2 * time.Minute)
	if replay, claim, err := short.BeginIdempotent(ctx, w.Org, "short", "h5"); replay != nil || claim == nil || err != nil {
		t.Fatalf("after the short retention: %v %v %v, want the key forgotten", replay, claim, err)
	}
}
