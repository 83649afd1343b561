package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/service"
)

// testConsoleSignIn checks the service's console sessions on a backend:
// admin keys only, expiry by the clock, sign-out, and revocation of the key.
func testConsoleSignIn(t *testing.T, newStore Factory) {
	w := NewWorld(t, newStore(t))
	ctx := context.Background()
	admin, err := w.Service.CreateAPIKey(ctx, w.Org, "ops", domain.ScopeAdmin)
	must(t, err)
	runtime, err := w.Service.CreateAPIKey(ctx, w.Org, "bot", domain.ScopeRuntime)
	must(t, err)

	_, err = w.Service.SignInConsole(ctx, runtime.Secret, time.Hour)
	wantCode(t, "sign in with a runtime key", err, domain.CodeForbidden)
	_, err = w.Service.SignInConsole(ctx, "pk_unknown", time.Hour)
	wantCode(t, "sign in with an unknown key", err, domain.CodeUnauthorized)

	first, err := w.Service.SignInConsole(ctx, admin.Secret, time.Hour)
	must(t, err)
	second, err := w.Service.SignInConsole(ctx, admin.Secret, 2*time.Hour)
	must(t, err)
	if first.Token == second.Token || first.Session.CSRFToken == second.Session.CSRFToken {
		t.Fatal("two sign-ins share a token")
	}
	got, err := w.Service.ConsoleSession(ctx, first.Token)
	must(t, err)
	equal(t, "session org and key", []string{string(got.OrgID), string(got.APIKeyID)}, []string{string(w.Org), string(admin.Key.ID)})

	w.Clock.Advance(time.Hour)
	_, err = w.Service.ConsoleSession(ctx, first.Token)
	wantCode(t, "expired session", err, domain.CodeUnauthorized)
	if _, err := w.Service.ConsoleSession(ctx, second.Token); err != nil {
		t.Errorf("unexpired session: %v", err)
	}

	must(t, w.Service.SignOutConsole(ctx, second.Token))
	_, err = w.Service.ConsoleSession(ctx, second.Token)
	wantCode(t, "signed-out session", err, domain.CodeUnauthorized)

	third, err := w.Service.SignInConsole(ctx, admin.Secret, time.Hour)
	must(t, err)
	must(t, w.Service.RevokeAPIKey(ctx, w.Org, admin.Key.ID))
	_, err = w.Service.ConsoleSession(ctx, third.Token)
	wantCode(t, "session of a revoked key", err, domain.CodeUnauthorized)
	_, err = w.Service.SignInConsole(ctx, admin.Secret, time.Hour)
	wantCode(t, "sign in with a revoked key", err, domain.CodeUnauthorized)
}

// testOperatorIdentifier checks SetCustomerIdentifier and IdentifierHolder:
// the rules of update_customer_identifier without a conversation.
func testOperatorIdentifier(t *testing.T, newStore Factory) {
	w := NewWorld(t, newStore(t))
	ctx := context.Background()
	alice := w.Start("tel:+1 555 010 0001").Customer
	bob := w.Start("tel:+15550100002").Customer
	before := w.Clock.Now()
	w.Clock.Advance(time.Minute)

	_, err := w.Service.SetCustomerIdentifier(ctx, w.Org, alice.ID, "tel:12")
	wantCode(t, "invalid identifier", err, domain.CodeIdentifierInvalid)
	_, err = w.Service.SetCustomerIdentifier(ctx, w.Org, "cus_missing", "tel:+15550100009")
	wantCode(t, "missing customer", err, domain.CodeNotFound)

	snap := TakeSnapshot(t, w.Store, w.Org)
	_, err = w.Service.SetCustomerIdentifier(ctx, w.Org, alice.ID, "tel:+1 (555) 010-0002")
	wantCode(t, "identifier another customer holds", err, domain.CodeIdentifierTaken)
	equal(t, "holder named", domain.ErrorDetails(err)["holderCustomerId"], any(string(bob.ID)))
	AssertUnchanged(t, snap, TakeSnapshot(t, w.Store, w.Org))

	same, err := w.Service.SetCustomerIdentifier(ctx, w.Org, alice.ID, "tel:+15550100001")
	must(t, err)
	equal(t, "same identifier keeps its interval", same.IdentifierSince, alice.IdentifierSince)

	changed, err := w.Service.SetCustomerIdentifier(ctx, w.Org, alice.ID, "tel:+1 555 010 0003")
	must(t, err)
	equal(t, "new identifier, normalized", changed.Identifier, "tel:+15550100003")
	AssertIdentifierInvariants(t, w.Store, w.Org)

	holder := func(input string, asOf *time.Time) (domain.CustomerID, bool) {
		t.Helper()
		h, err := w.Service.IdentifierHolder(ctx, w.Org, input, asOf)
		must(t, err)
		return h.Interval.CustomerID, h.Found
	}
	if id, found := holder("tel:+1 555 010 0001", &before); !found || id != alice.ID {
		t.Errorf("holder of the old identifier before the change: %v %v, want %s", id, found, alice.ID)
	}
	if _, found := holder("tel:+15550100001", nil); found {
		t.Error("the old identifier is still held now")
	}
	if id, found := holder("tel:+15550100003", nil); !found || id != alice.ID {
		t.Errorf("holder of the new identifier: %v %v, want %s", id, found, alice.ID)
	}
	_, err = w.Service.IdentifierHolder(ctx, w.Org, " ", nil)
	wantCode(t, "holder of an invalid identifier", err, domain.CodeIdentifierInvalid)

	basic := w.NewOrg("Basic", domain.PlanStandard)
	app, err := w.Service.CreateApp(ctx, basic, "bot")
	must(t, err)
	v, err := w.Service.CreateVersion(ctx, basic, app.ID, nil)
	must(t, err)
	dep, err := w.Service.Publish(ctx, basic, app.ID, v.ID, domain.EnvProduction)
	must(t, err)
	res, err := w.Service.CreateResource(ctx, basic, service.ResourceInput{Kind: domain.ResourceWebChat, Name: "chat", Address: "basic"})
	must(t, err)
	st, err := w.Service.StartConversation(ctx, basic, service.StartInput{DeploymentID: dep.ID,
		Party: service.Party{ResourceID: res.ID, CustomerDestination: "web-1"}})
	must(t, err)
	_, err = w.Service.SetCustomerIdentifier(ctx, basic, st.Customer.ID, "tel:+15550100004")
	wantCode(t, "standard licence", err, domain.CodeLicenseRequired)
}
