package httpapi

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/domain"
)

// TestScenario drives the brief's walkthrough through the client.
func TestScenario(t *testing.T) {
	env := newEnv(t)
	ctx := t.Context()
	_, c := env.newOrg("Acme", domain.PlanEnterprise)

	org, err := c.GetOrg(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if org.Name != "Acme" || org.License == nil || org.License.Plan != "enterprise" || org.LicenseError != nil {
		t.Fatalf("org = %+v", org)
	}

	app, err := c.CreateApp(ctx, client.CreateAppRequest{Name: "Support bot"})
	if err != nil {
		t.Fatal(err)
	}
	version, err := c.CreateVersion(ctx, app.ID, client.CreateVersionRequest{Definition: json.RawMessage(`{"description": "hi"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if version.Number != 1 || string(version.Definition) != `{"description":"hi"}` {
		t.Fatalf("version = %+v (definition %s)", version, version.Definition)
	}
	dep, err := c.Publish(ctx, app.ID, client.PublishRequest{VersionID: version.ID, Environment: client.EnvProduction})
	if err != nil {
		t.Fatal(err)
	}
	if !dep.Active || dep.VersionID != version.ID || dep.ReplacedAt != nil {
		t.Fatalf("deployment = %+v", dep)
	}
	res, err := c.CreateChannelResource(ctx, client.CreateChannelResourceRequest{Kind: client.KindWebChat, Name: "Site", Address: "widget-1"})
	if err != nil {
		t.Fatal(err)
	}

	const phone = "tel:+1 555 010 0000"
	start := func(dest, ident string) *client.StartedConversation {
		t.Helper()
		st, err := c.StartConversation(ctx, client.StartConversationRequest{
			DeploymentID: dep.ID, ResourceID: res.ID, CustomerDestination: dest, CustomerIdentifier: ident,
		})
		if err != nil {
			t.Fatal(err)
		}
		env.clock.Advance(time.Minute)
		return st
	}
	first, second := start("web-1", phone), start("web-2", "tel:+15550100000")
	if first.Customer.ID != second.Customer.ID || *first.Customer.Identifier != "tel:+15550100000" {
		t.Fatalf("customers = %+v and %+v, want one customer holding tel:+15550100000", first.Customer, second.Customer)
	}
	if first.Conversation.Status != "live" || first.Conversation.Preview || *first.Conversation.DeploymentID != dep.ID {
		t.Fatalf("conversation = %+v", first.Conversation)
	}

	session, err := c.GetSession(ctx, first.Session.ID)
	if err != nil {
		t.Fatal(err)
	}
	convID := session.ConversationIDVariable()
	if convID != first.Conversation.ID {
		t.Fatalf("channels.message.conversationId = %q, want %q", convID, first.Conversation.ID)
	}

	beforeUpdate := env.clock.Now()
	env.clock.Advance(time.Hour)
	const newPhone = "tel:+15550109999"
	upd, err := c.RunDataOperation(ctx, client.OpUpdateCustomerIdentifier, client.RunRequest{
		Inputs:    map[string]any{"conversationId": convID, "customerIdentifier": "tel:+1 (555) 010-9999"},
		SessionID: first.Session.ID,
	})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := upd.Bool(); err != nil || !ok || upd.Error != nil || upd.Operation != client.OpUpdateCustomerIdentifier || *upd.Variable != "customer-identifier" || upd.RunID == "" {
		t.Fatalf("update = %+v (value %s)", upd, upd.Value)
	}
	session, err = c.GetSession(ctx, first.Session.ID)
	if err != nil {
		t.Fatal(err)
	}
	if session.Variables["customer-identifier"] != true {
		t.Fatalf("session variables = %v, want customer-identifier true", session.Variables)
	}

	find := func(ident string, asOf *time.Time) []string {
		t.Helper()
		inputs := map[string]any{"customerIdentifier": ident}
		if asOf != nil {
			inputs["asOf"] = asOf.Format(time.RFC3339Nano)
		}
		r, err := c.RunDataOperation(ctx, client.OpFindConversations, client.RunRequest{Inputs: inputs})
		if err != nil {
			t.Fatal(err)
		}
		ids, err := r.Strings()
		if err != nil || r.Error != nil {
			t.Fatalf("find %s = %+v (%v)", ident, r, err)
		}
		return ids
	}
	both := []string{second.Conversation.ID, first.Conversation.ID}
	if got := find(newPhone, nil); !slices.Equal(got, both) {
		t.Fatalf("find new identifier = %v, want %v", got, both)
	}
	if got := find(phone, nil); len(got) != 0 {
		t.Fatalf("find old identifier = %v, want none", got)
	}
	if got := find(phone, &beforeUpdate); !slices.Equal(got, both) {
		t.Fatalf("find old identifier as of before the update = %v, want %v", got, both)
	}

	third := start("web-3", "mailto:Other@Example.com")
	conflict, err := c.RunDataOperation(ctx, client.OpUpdateCustomerIdentifier, client.RunRequest{
		Inputs: map[string]any{"conversationId": third.Conversation.ID, "customerIdentifier": newPhone},
	})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := conflict.Bool(); err != nil || ok {
		t.Fatalf("conflicting update value = %s, want false", conflict.Value)
	}
	if conflict.Error == nil || conflict.Error.Code != "identifier_taken" || conflict.Error.Details["holderCustomerId"] != first.Customer.ID {
		t.Fatalf("conflicting update error = %+v, want identifier_taken held by %s", conflict.Error, first.Customer.ID)
	}

	history, err := c.CustomerIdentifiers(ctx, first.Customer.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(history) != 2 || history[0].Identifier != "tel:+15550100000" || history[0].ValidTo == nil ||
		history[1].Identifier != newPhone || history[1].ValidTo != nil {
		t.Fatalf("identifier history = %+v", history)
	}
	customer, err := c.GetCustomer(ctx, first.Customer.ID)
	if err != nil {
		t.Fatal(err)
	}
	if customer.Identifier == nil || *customer.Identifier != newPhone || customer.IdentifierSince == nil {
		t.Fatalf("customer = %+v", customer)
	}
	convs, err := c.CustomerConversations(ctx, first.Customer.ID)
	if err != nil || !slices.Equal(convs, both) {
		t.Fatalf("customer conversations = %v (%v), want %v", convs, err, both)
	}

	preview, err := c.StartPreview(ctx, client.StartPreviewRequest{VersionID: version.ID, ResourceID: res.ID, CustomerDestination: "web-preview"})
	if err != nil {
		t.Fatal(err)
	}
	if !preview.Conversation.Preview || preview.Conversation.DeploymentID != nil || *preview.Conversation.PreviewVersionID != version.ID {
		t.Fatalf("preview conversation = %+v", preview.Conversation)
	}
	_, err = c.RunDataOperation(ctx, client.OpUpdateCustomerIdentifier, client.RunRequest{
		Inputs: map[string]any{"conversationId": preview.Conversation.ID, "customerIdentifier": "tel:+15550101111"},
	})
	wantCode(t, err, http.StatusConflict, domain.CodeNotDeployed)

	_, standard := env.newOrg("Basic", domain.PlanStandard)
	_, err = standard.RunDataOperation(ctx, client.OpFindConversations, client.RunRequest{Inputs: map[string]any{"customerIdentifier": phone}})
	wantCode(t, err, http.StatusForbidden, domain.CodeLicenseRequired)
	if lic, err := standard.GetLicense(ctx); err != nil || lic.Plan != "standard" || lic.EnterpriseFeatures ||
		lic.Problem == nil || lic.Problem.Code != domain.CodeLicenseRequired {
		t.Fatalf("standard licence = %+v (%v)", lic, err)
	}
	if lic, err := c.GetLicense(ctx); err != nil || !lic.EnterpriseFeatures || lic.Problem != nil {
		t.Fatalf("enterprise licence = %+v (%v)", lic, err)
	}
	_, unlicensed := env.newOrg("Nobody", "")
	if o, err := unlicensed.GetOrg(ctx); err != nil || o.License != nil || o.LicenseError == nil || o.LicenseError.Code != domain.CodeLicenseRequired {
		t.Fatalf("unlicensed org = %+v (%v)", o, err)
	}
	_, err = unlicensed.GetLicense(ctx)
	wantCode(t, err, http.StatusForbidden, domain.CodeLicenseRequired)

	runs, err := c.ListRuns(ctx, client.ListRunsParams{Limit: 2})
	if err != nil || len(runs) != 2 {
		t.Fatalf("runs = %+v (%v)", runs, err)
	}
	if runs[0].Error == nil || runs[0].Error.Code != domain.CodeNotDeployed {
		t.Fatalf("newest run = %+v, want the not_deployed failure", runs[0])
	}
	run, err := c.GetRun(ctx, conflict.RunID)
	if err != nil || run.Error == nil || run.Error.Code != "identifier_taken" || run.Name != client.OpUpdateCustomerIdentifier {
		t.Fatalf("run = %+v (%v)", run, err)
	}
}

// TestConversationLifecycle covers messages, transcripts, closing,
// listing with cursors, actions, events and API keys.
func TestConversationLifecycle(t *testing.T) {
	env := newEnv(t)
	ctx := t.Context()
	_, c := env.newOrg("Acme", domain.PlanEnterprise)
	_, _, dep := publishApp(t, c, client.EnvQA)
	res, err := c.CreateChannelResource(ctx, client.CreateChannelResourceRequest{Kind: client.KindSMS, Name: "SMS", Address: "+1 555 010 2000"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Address != "+15550102000" {
		t.Fatalf("sms address = %q, want E.164", res.Address)
	}

	var started []string
	for i := range 3 {
		env.clock.Advance(time.Second)
		act, err := c.RunAction(ctx, client.ActionStartConversation, client.RunRequest{Inputs: map[string]any{
			"deploymentId": dep.ID, "resourceId": res.ID, "customerDestination": "+1 555 010 300" + string(rune('0'+i)),
		}})
		if err != nil {
			t.Fatal(err)
		}
		var out struct{ ConversationID, SessionID, CustomerID string }
		if err := act.DecodeValue(&out); err != nil || act.Action != client.ActionStartConversation || act.Variable != nil || out.ConversationID == "" {
			t.Fatalf("start action = %+v value %s (%v)", act, act.Value, err)
		}
		started = append(started, out.ConversationID)
	}

	page1, err := c.ListConversations(ctx, client.ListConversationsParams{Limit: 2, DeploymentID: dep.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(page1.Items) != 2 || page1.Items[0].ID != started[2] || page1.Items[1].ID != started[1] || page1.NextCursor == nil {
		t.Fatalf("page 1 = %+v", page1)
	}
	page2, err := c.ListConversations(ctx, client.ListConversationsParams{Limit: 2, DeploymentID: dep.ID, Cursor: *page1.NextCursor})
	if err != nil {
		t.Fatal(err)
	}
	if len(page2.Items) != 1 || page2.Items[0].ID != started[0] || page2.NextCursor != nil {
		t.Fatalf("page 2 = %+v", page2)
	}
	_, err = c.ListConversations(ctx, client.ListConversationsParams{Cursor: "not a cursor"})
	wantCode(t, err, http.StatusBadRequest, domain.CodeInvalidArgument)
	_, err = c.ListConversations(ctx, client.ListConversationsParams{Limit: 1000})
	wantCode(t, err, http.StatusBadRequest, domain.CodeInvalidArgument)

	conv := started[0]
	for _, text := range []string{"hello", "how can I help?"} {
		if _, err := c.AddMessage(ctx, conv, client.AddMessageRequest{Direction: client.Inbound, Text: text}); err != nil {
			t.Fatal(err)
		}
	}
	msgs, err := c.ListMessages(ctx, conv, client.ListMessagesParams{})
	if err != nil || len(msgs) != 2 || msgs[0].Text != "hello" {
		t.Fatalf("messages = %+v (%v)", msgs, err)
	}
	rest, err := c.ListMessages(ctx, conv, client.ListMessagesParams{After: msgs[0].Seq})
	if err != nil || len(rest) != 1 || rest[0].ID != msgs[1].ID {
		t.Fatalf("messages after the first = %+v (%v)", rest, err)
	}
	closed, err := c.CloseConversation(ctx, conv)
	if err != nil || closed.Status != "closed" || closed.ClosedAt == nil {
		t.Fatalf("closed = %+v (%v)", closed, err)
	}
	_, err = c.CloseConversation(ctx, conv)
	wantCode(t, err, http.StatusConflict, domain.CodeConversationClosed)
	_, err = c.AddMessage(ctx, conv, client.AddMessageRequest{Direction: client.Inbound, Text: "again"})
	wantCode(t, err, http.StatusConflict, domain.CodeConversationClosed)
	tr, err := c.Transcript(ctx, conv)
	if err != nil || tr.Status != "closed" || len(tr.Messages) != 2 || tr.ClosedAt == nil || tr.ID != conv {
		t.Fatalf("transcript = %+v (%v)", tr, err)
	}
	_, err = c.GetConversation(ctx, "conv_missing")
	wantCode(t, err, http.StatusNotFound, domain.CodeConversationNotFound)

	events, err := c.ListEvents(ctx, client.ListEventsParams{})
	if err != nil || len(events.Items) == 0 || events.Next != events.Items[len(events.Items)-1].Seq {
		t.Fatalf("events = %+v (%v)", events, err)
	}
	after, err := c.ListEvents(ctx, client.ListEventsParams{After: events.Next})
	if err != nil || len(after.Items) != 0 || after.Next != events.Next {
		t.Fatalf("events after the last = %+v (%v)", after, err)
	}

	key, err := c.CreateAPIKey(ctx, client.CreateAPIKeyRequest{Name: "ci"})
	if err != nil || key.Secret == "" {
		t.Fatalf("new key = %+v (%v)", key, err)
	}
	second := c.WithAPIKey(key.Secret)
	if _, err := second.GetOrg(ctx); err != nil {
		t.Fatal(err)
	}
	keys, err := c.ListAPIKeys(ctx)
	if err != nil || len(keys) != 2 {
		t.Fatalf("keys = %+v (%v)", keys, err)
	}
	if err := c.RevokeAPIKey(ctx, key.ID); err != nil {
		t.Fatal(err)
	}
	_, err = second.GetOrg(ctx)
	wantCode(t, err, http.StatusUnauthorized, domain.CodeUnauthorized)
}
