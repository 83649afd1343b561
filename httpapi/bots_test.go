package httpapi

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/parleyhq/parley/bot"
	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/examples"
)

// TestInvalidDefinition checks that a bad bot definition is refused with
// 400 invalid_definition and the JSON pointer of its first problem, and
// that nothing is stored.
func TestInvalidDefinition(t *testing.T) {
	env := newEnv(t)
	_, c := env.newOrg("Acme", "")
	key := apiKeyOf(t, c)
	app, err := c.CreateApp(t.Context(), client.CreateAppRequest{Name: "bot"})
	if err != nil {
		t.Fatal(err)
	}
	body := `{"definition": {"triggers": {"conversation_started": "hi"}, "steps": {"hi": {"say": "'Hello' + 1"}}}}`
	p := decodeProblem(t, env.postJSON("/v1/apps/"+app.ID+"/versions", key, body), http.StatusBadRequest, domain.CodeInvalidDefinition)
	if p.Details["path"] != "/steps/hi/say" {
		t.Fatalf("details = %v, want path /steps/hi/say", p.Details)
	}
	if vs, err := c.ListVersions(t.Context(), app.ID); err != nil || len(vs) != 0 {
		t.Fatalf("versions = %v (%v), want none", vs, err)
	}
	good := `{"definition": {"triggers": {"conversation_started": "hi"}, "steps": {"hi": {"say": "'Hello ' + conversation.id"}}}}`
	if r := env.postJSON("/v1/apps/"+app.ID+"/versions", key, good); r.status != http.StatusCreated {
		t.Fatalf("good definition: %d %s", r.status, r.body)
	} else {
		var v struct{ Definition json.RawMessage }
		if err := json.Unmarshal(r.body, &v); err != nil || len(v.Definition) < 10 {
			t.Fatalf("stored definition: %s (%v)", r.body, err)
		}
	}
}

// TestBotOverHTTP converses with the example bot through the API: the
// start answers the greeting, each message answers the bot's replies, the
// turns and their traces are readable, and a failing turn still answers
// 201 with the message stored.
func TestBotOverHTTP(t *testing.T) {
	env := newEnv(t)
	_, c := env.newOrg("Acme", domain.PlanEnterprise)
	ctx := t.Context()
	doc, err := bot.ToJSON(examples.ChangeNumber)
	if err != nil {
		t.Fatal(err)
	}
	app, err := c.CreateApp(ctx, client.CreateAppRequest{Name: "change number"})
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.CreateVersion(ctx, app.ID, client.CreateVersionRequest{Definition: doc})
	if err != nil {
		t.Fatal(err)
	}
	dep, err := c.Publish(ctx, app.ID, client.PublishRequest{VersionID: v.ID, Environment: client.EnvProduction})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.CreateChannelResource(ctx, client.CreateChannelResourceRequest{Kind: "webchat", Name: "site", Address: "site"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.StartConversation(ctx, client.StartConversationRequest{DeploymentID: dep.ID, ResourceID: res.ID, CustomerDestination: "web-1", CustomerIdentifier: "tel:+15550100000"})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Replies) != 2 || st.Replies[1].Text != "What is your new phone number? Please include the country code, e.g. +1 555 010 0199." {
		t.Fatalf("start replies: %+v", st.Replies)
	}
	got, err := c.AddMessage(ctx, st.Conversation.ID, client.AddMessageRequest{Text: "+1 555 010 0001"})
	if err != nil {
		t.Fatal(err)
	}
	if got.ConversationStatus != "closed" || len(got.Replies) != 1 || got.Replies[0].Text != "Done: we now know you by +15550100001. Goodbye!" {
		t.Fatalf("answer: %+v", got)
	}
	turns, err := c.ListTurns(ctx, st.Conversation.ID, client.ListTurnsParams{})
	if err != nil {
		t.Fatal(err)
	}
	if len(turns) != 2 || turns[1].Outcome != "closed" || turns[1].Trace.Steps[1].Operation.Name != "update_customer_identifier" {
		t.Fatalf("turns: %+v", turns)
	}
	one, err := c.GetTurn(ctx, turns[0].ID)
	if err != nil || one.Number != 1 || one.WaitingAt == nil || *one.WaitingAt != "ask" {
		t.Fatalf("turn %+v (%v)", one, err)
	}
	after, err := c.ListTurns(ctx, st.Conversation.ID, client.ListTurnsParams{After: 1})
	if err != nil || len(after) != 1 || after[0].Number != 2 {
		t.Fatalf("turns after 1: %+v (%v)", after, err)
	}
	_, err = c.GetTurn(ctx, "turn_nope")
	wantCode(t, err, http.StatusNotFound, domain.CodeNotFound)

	// A preview: the deployed-only update throws not_deployed into the
	// trace; the message is answered 201 all the same.
	pv, err := c.StartPreview(ctx, client.StartPreviewRequest{VersionID: v.ID, ResourceID: res.ID, CustomerDestination: "web-2"})
	if err != nil {
		t.Fatal(err)
	}
	r := env.postJSON("/v1/conversations/"+pv.Conversation.ID+"/messages", apiKeyOf(t, c), `{"text": "+1 555 010 0002"}`)
	if r.status != http.StatusCreated {
		t.Fatalf("preview message: %d %s", r.status, r.body)
	}
	turns, err = c.ListTurns(ctx, pv.Conversation.ID, client.ListTurnsParams{})
	if err != nil {
		t.Fatal(err)
	}
	if op := turns[1].Trace.Steps[1].Operation; op == nil || op.Error == nil || op.Error.Code != domain.CodeNotDeployed {
		t.Fatalf("preview trace: %+v", turns[1].Trace)
	}
}
