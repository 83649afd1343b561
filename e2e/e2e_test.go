// Package e2e runs the parley binary as a newcomer does: build it, start
// "parley serve" on a fresh data directory, create orgs with the admin
// commands and walk through README.md with the Go client.
package e2e

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/e2e/proc"
)

func TestEndToEndScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the parley binary")
	}
	bin := proc.Build(t)
	data := t.TempDir()
	srv := proc.Start(t, bin, "--data", data)
	if !strings.Contains(srv.Logs(), "created a development operator key pair") {
		t.Errorf("server log does not name the development key:\n%s", srv.Logs())
	}
	ctx := context.Background()

	// An org with an ENTERPRISE licence, created with the admin command.
	acme := createOrg(t, bin, data, "PARLEY", "--name", "Acme", "--plan", "enterprise")
	api := client.New(srv.URL(), acme.key)
	org, err := api.GetOrg(ctx)
	must(t, err)
	if org.ID != acme.org || org.License == nil || org.License.Plan != "enterprise" {
		t.Fatalf("GET /v1/org = %+v, want %s with an enterprise licence", org, acme.org)
	}

	// An app, a version, published to production, and a web chat resource.
	app, err := api.CreateApp(ctx, client.CreateAppRequest{Name: "Support bot"})
	must(t, err)
	version, err := api.CreateVersion(ctx, app.ID, client.CreateVersionRequest{})
	must(t, err)
	if version.Number != 1 || version.AppID != app.ID {
		t.Fatalf("version = %+v, want number 1 of %s", version, app.ID)
	}
	dep, err := api.Publish(ctx, app.ID, client.PublishRequest{VersionID: version.ID, Environment: client.EnvProduction})
	must(t, err)
	if !dep.Active || dep.VersionID != version.ID || dep.Environment != client.EnvProduction {
		t.Fatalf("deployment = %+v, want an active production deployment of %s", dep, version.ID)
	}
	res, err := api.CreateChannelResource(ctx, client.CreateChannelResourceRequest{Kind: client.KindWebChat, Name: "Website", Address: "site-widget"})
	must(t, err)

	// Two conversations for tel:+1 555 010 0000 join one customer.
	const oldID, newID, otherID = "tel:+1 555 010 0000", "tel:+1 555 010 0001", "tel:+1 555 010 0002"
	start := func(destination, identifier string) *client.StartedConversation {
		t.Helper()
		st, err := api.StartConversation(ctx, client.StartConversationRequest{
			DeploymentID: dep.ID, ResourceID: res.ID, CustomerDestination: destination, CustomerIdentifier: identifier,
		})
		must(t, err)
		return st
	}
	first, second := start("web-1", oldID), start("web-2", oldID)
	customer := first.Customer.ID
	if second.Customer.ID != customer || deref(first.Customer.Identifier) != "tel:+15550100000" {
		t.Fatalf("customers = %s (%s) and %s, want one customer holding tel:+15550100000",
			first.Customer.ID, deref(first.Customer.Identifier), second.Customer.ID)
	}
	if deref(first.Conversation.IdentifierAtStart) != "tel:+15550100000" || first.Conversation.Status != "live" {
		t.Fatalf("first conversation = %+v", first.Conversation)
	}

	// update_customer_identifier with the conversationId read from the session.
	session, err := api.GetSession(ctx, first.Conversation.SessionID)
	must(t, err)
	conversationID := session.ConversationIDVariable()
	if conversationID != first.Conversation.ID {
		t.Fatalf("session channels.message.conversationId = %q, want %s", conversationID, first.Conversation.ID)
	}
	updated := runOp(t, api, client.OpUpdateCustomerIdentifier, client.RunRequest{
		SessionID: session.ID,
		Inputs:    map[string]any{"conversationId": conversationID, "customerIdentifier": newID},
	})
	if ok, err := updated.Bool(); err != nil || !ok || updated.Error != nil || deref(updated.Variable) != "customer-identifier" {
		t.Fatalf("update = value %s, variable %v, error %+v; want true in customer-identifier", updated.Value, deref(updated.Variable), updated.Error)
	}
	session, err = api.GetSession(ctx, session.ID)
	must(t, err)
	if session.Variables["customer-identifier"] != true {
		t.Errorf("session variables after update = %v, want customer-identifier true", session.Variables)
	}
	history, err := api.CustomerIdentifiers(ctx, customer)
	must(t, err)
	if len(history) != 2 || history[0].Identifier != "tel:+15550100000" || history[0].ValidTo == nil ||
		history[1].Identifier != "tel:+15550100001" || history[1].ValidTo != nil {
		t.Errorf("identifier history = %+v, want the old interval closed and the new one open", history)
	}

	// Find by the new identifier: both conversations, newest first; by the
	// old one: none.
	both := []string{second.Conversation.ID, first.Conversation.ID}
	if got := find(t, api, newID); !slices.Equal(got, both) {
		t.Errorf("find(%s) = %v, want %v", newID, got, both)
	}
	if got := find(t, api, oldID); len(got) != 0 {
		t.Errorf("find(%s) = %v, want none", oldID, got)
	}
	// The old number's timeline: the customer held it until the update;
	// the new one's holder, looked up by identifier.
	timeline, err := api.IdentifierHolders(ctx, "tel:+15550100000", client.PageParams{})
	must(t, err)
	if len(timeline.Items) != 1 || timeline.Items[0].CustomerID != customer || timeline.Items[0].ValidTo == nil {
		t.Errorf("timeline of tel:+15550100000 = %+v, want %s until the update", timeline.Items, customer)
	}
	holders, err := api.ListCustomers(ctx, client.ListCustomersParams{Identifier: newID})
	must(t, err)
	if len(holders.Items) != 1 || holders.Items[0].ID != customer {
		t.Errorf("customers holding %s = %+v, want %s", newID, holders.Items, customer)
	}

	// A conflicting update: false, identifier_taken naming the holder, and
	// nothing changes.
	other := start("web-3", otherID)
	conflict := runOp(t, api, client.OpUpdateCustomerIdentifier, client.RunRequest{
		Inputs: map[string]any{"conversationId": other.Conversation.ID, "customerIdentifier": newID},
	})
	if ok, err := conflict.Bool(); err != nil || ok {
		t.Errorf("conflicting update value = %s, want false", conflict.Value)
	}
	if conflict.Error == nil || conflict.Error.Code != "identifier_taken" || conflict.Error.Details["holderCustomerId"] != customer {
		t.Fatalf("conflicting update error = %+v, want identifier_taken naming %s", conflict.Error, customer)
	}
	otherCustomer, err := api.GetCustomer(ctx, other.Customer.ID)
	must(t, err)
	if deref(otherCustomer.Identifier) != "tel:+15550100002" {
		t.Errorf("after the refused update the other customer holds %q, want tel:+15550100002", deref(otherCustomer.Identifier))
	}
	if got := find(t, api, newID); !slices.Equal(got, both) {
		t.Errorf("find(%s) after the refused update = %v, want %v", newID, got, both)
	}

	// A preview conversation of the version (published, but the preview
	// does not run on its deployment): not_deployed.
	preview, err := api.StartPreview(ctx, client.StartPreviewRequest{VersionID: version.ID, ResourceID: res.ID, CustomerDestination: "web-preview"})
	must(t, err)
	if !preview.Conversation.Preview || preview.Conversation.DeploymentID != nil {
		t.Fatalf("preview conversation = %+v, want a preview run", preview.Conversation)
	}
	_, err = api.RunDataOperation(ctx, client.OpUpdateCustomerIdentifier, client.RunRequest{
		Inputs: map[string]any{"conversationId": preview.Conversation.ID, "customerIdentifier": "tel:+1 555 010 0003"},
	})
	wantProblem(t, err, http.StatusConflict, "not_deployed")
	// The app was published above: the message must say what is true.
	var notDeployed *client.Error
	if errors.As(err, &notDeployed); !strings.Contains(notDeployed.Detail, "preview conversation") || strings.Contains(notDeployed.Detail, "unpublished") {
		t.Errorf("not_deployed detail = %q, want it to say the conversation is a preview, not that the app is unpublished", notDeployed.Detail)
	}

	// An org without ENTERPRISE: license_required, and it sees nothing of Acme.
	basic := createOrg(t, bin, data, "BASIC", "--name", "Basic", "--plan", "standard")
	basicAPI := api.WithAPIKey(basic.key)
	_, err = basicAPI.RunDataOperation(ctx, client.OpFindConversations, client.RunRequest{Inputs: map[string]any{"customerIdentifier": newID}})
	wantProblem(t, err, http.StatusForbidden, "license_required")
	_, err = basicAPI.GetConversation(ctx, first.Conversation.ID)
	wantProblem(t, err, http.StatusNotFound, "conversation_not_found")
	_, err = api.WithAPIKey("pk_not-a-key").GetOrg(ctx)
	wantProblem(t, err, http.StatusUnauthorized, "unauthorized")

	// A runtime key made with the admin command runs operations but cannot
	// manage apps.
	created := proc.Run(t, bin, "key", "create", "--data", data, "--org", acme.org, "--scope", "runtime", "--env-prefix", "BOT")
	runtimeKey := proc.ShellVars(created)["BOT_KEY"]
	if !isAPIKey(runtimeKey) {
		t.Fatalf("parley key create printed %q, want a BOT_KEY=pk_... line", created)
	}
	bot := api.WithAPIKey(runtimeKey)
	if got := find(t, bot, newID); !slices.Equal(got, both) {
		t.Errorf("find(%s) with the runtime key = %v, want %v", newID, got, both)
	}
	_, err = bot.CreateApp(ctx, client.CreateAppRequest{Name: "not allowed"})
	wantProblem(t, err, http.StatusForbidden, "forbidden")

	// Graceful shutdown: SIGTERM, exit 0.
	srv.Stop(t)
}

// orgCredentials are the values "parley org create" prints for eval.
type orgCredentials struct{ org, key string }

// createOrg runs "parley org create" on the data directory and parses its
// PREFIX_ORG= and PREFIX_KEY= lines.
func createOrg(t *testing.T, bin, data, prefix string, args ...string) orgCredentials {
	t.Helper()
	stdout := proc.Run(t, bin, append([]string{"org", "create", "--data", data, "--env-prefix", prefix}, args...)...)
	vars := proc.ShellVars(stdout)
	c := orgCredentials{org: vars[prefix+"_ORG"], key: vars[prefix+"_KEY"]}
	if !strings.HasPrefix(c.org, "org_") || !isAPIKey(c.key) {
		t.Fatalf("parley org create printed %q, want %s_ORG and %s_KEY lines", stdout, prefix, prefix)
	}
	return c
}

// isAPIKey reports whether s looks like an API key: pk_ and more.
func isAPIKey(s string) bool {
	rest, ok := strings.CutPrefix(s, "pk_")
	return ok && rest != ""
}

func runOp(t *testing.T, api *client.Client, name string, req client.RunRequest) *client.RunResult {
	t.Helper()
	res, err := api.RunDataOperation(context.Background(), name, req)
	must(t, err)
	if res.Operation != name {
		t.Fatalf("result operation = %q, want %q", res.Operation, name)
	}
	return res
}

func find(t *testing.T, api *client.Client, identifier string) []string {
	t.Helper()
	res := runOp(t, api, client.OpFindConversations, client.RunRequest{Inputs: map[string]any{"customerIdentifier": identifier}})
	ids, err := res.Strings()
	must(t, err)
	if res.Error != nil || deref(res.Variable) != "conversation-ids" {
		t.Fatalf("find(%s): error %+v, variable %q", identifier, res.Error, deref(res.Variable))
	}
	return ids
}

// wantProblem asserts that err is a problem with status and code.
func wantProblem(t *testing.T, err error, status int, code string) {
	t.Helper()
	var e *client.Error
	if !errors.As(err, &e) || e.Status != status || e.Code != code {
		t.Fatalf("error = %v, want HTTP %d %s", err, status, code)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
