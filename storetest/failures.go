package storetest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/service"
)

// failureCase is one failing run. setup prepares the world and returns the
// request; the run must fail with code and leave the store unchanged.
type failureCase struct {
	name  string
	code  string
	setup func(w *World) (domain.OrgID, service.RunRequest)
	// cancel runs the request with a cancelled context.
	cancel bool
}

func dataOp(name string, inputs map[string]any) service.RunRequest {
	return service.RunRequest{Kind: domain.KindDataOperation, Name: name, Inputs: inputs}
}

func updateOf(conv domain.ConversationID, ident string) service.RunRequest {
	return dataOp(service.OpUpdateCustomerIdentifier, map[string]any{"conversationId": string(conv), "customerIdentifier": ident})
}

var failureCases = []failureCase{
	// Business outcomes: output false or empty, error recorded, nothing else changes.
	{name: "identifier taken", code: domain.CodeIdentifierTaken, setup: func(w *World) (domain.OrgID, service.RunRequest) {
		w.Start("tel:+15550100000")
		return w.Org, updateOf(w.Start("tel:+15550100001").Conversation.ID, "tel:+1 555 010 0000")
	}},
	{name: "conversation closed", code: domain.CodeConversationClosed, setup: func(w *World) (domain.OrgID, service.RunRequest) {
		st := w.Start("tel:+15550100000")
		_, err := w.Service.CloseConversation(context.Background(), w.Org, st.Conversation.ID)
		must(w.T, err)
		return w.Org, updateOf(st.Conversation.ID, "tel:+15550100009")
	}},
	{name: "close a closed conversation", code: domain.CodeConversationClosed, setup: func(w *World) (domain.OrgID, service.RunRequest) {
		st := w.Start("")
		_, err := w.Service.CloseConversation(context.Background(), w.Org, st.Conversation.ID)
		must(w.T, err)
		return w.Org, dataOp(service.OpCloseConversation, map[string]any{"conversation": string(st.Conversation.ID)})
	}},
	{name: "send to a closed conversation", code: domain.CodeConversationClosed, setup: func(w *World) (domain.OrgID, service.RunRequest) {
		st := w.Start("")
		_, err := w.Service.CloseConversation(context.Background(), w.Org, st.Conversation.ID)
		must(w.T, err)
		return w.Org, dataOp(service.OpSendMessage, map[string]any{"conversation": string(st.Conversation.ID), "message": "hi"})
	}},
	{name: "update unknown conversation", code: domain.CodeConversationNotFound, setup: func(w *World) (domain.OrgID, service.RunRequest) {
		return w.Org, updateOf("conv_missing", "tel:+15550100000")
	}},
	{name: "transcript unknown conversation", code: domain.CodeConversationNotFound, setup: func(w *World) (domain.OrgID, service.RunRequest) {
		return w.Org, dataOp(service.OpConversationTranscript, map[string]any{"conversation": "conv_missing"})
	}},
	{name: "conversation of another org", code: domain.CodeConversationNotFound, setup: func(w *World) (domain.OrgID, service.RunRequest) {
		other := w.NewOrg("Other", domain.PlanEnterprise)
		return other, updateOf(w.Start("").Conversation.ID, "tel:+15550100000")
	}},
	// Thrown failures: the run fails, nothing changes.
	{name: "no licence", code: domain.CodeLicenseRequired, setup: func(w *World) (domain.OrgID, service.RunRequest) {
		return w.NewOrg("Unlicensed", ""), dataOp(service.OpFindConversations, map[string]any{"customerIdentifier": "x"})
	}},
	{name: "standard licence", code: domain.CodeLicenseRequired, setup: func(w *World) (domain.OrgID, service.RunRequest) {
		return w.NewOrg("Small", domain.PlanStandard), dataOp(service.OpFindConversations, map[string]any{"customerIdentifier": "x"})
	}},
	{name: "expired licence", code: domain.CodeLicenseRequired, setup: func(w *World) (domain.OrgID, service.RunRequest) {
		st := w.Start("")
		w.Clock.Advance(366 * 24 * time.Hour)
		return w.Org, updateOf(st.Conversation.ID, "tel:+15550100000")
	}},
	{name: "licence of another org", code: domain.CodeLicenseRequired, setup: func(w *World) (domain.OrgID, service.RunRequest) {
		other := w.NewOrg("Other", "")
		setLicenseToken(w, other, w.License(w.Org, domain.PlanEnterprise, time.Hour))
		return other, dataOp(service.OpFindConversations, map[string]any{"customerIdentifier": "x"})
	}},
	{name: "tampered licence", code: domain.CodeLicenseRequired, setup: func(w *World) (domain.OrgID, service.RunRequest) {
		other := w.NewOrg("Other", "")
		token := w.License(other, domain.PlanStandard, time.Hour)
		setLicenseToken(w, other, tamper(token))
		return other, dataOp(service.OpFindConversations, map[string]any{"customerIdentifier": "x"})
	}},
	{name: "action without licence", code: domain.CodeLicenseRequired, setup: func(w *World) (domain.OrgID, service.RunRequest) {
		return w.NewOrg("Unlicensed", ""), service.RunRequest{Kind: domain.KindAction, Name: service.ActionStartConversation,
			Inputs: map[string]any{"deploymentId": "dep_x", "resourceId": "res_x", "customerDestination": "d"}}
	}},
	{name: "update in a preview run", code: domain.CodeNotDeployed, setup: func(w *World) (domain.OrgID, service.RunRequest) {
		return w.Org, updateOf(w.StartPreview("").Conversation.ID, "tel:+15550100000")
	}},
	{name: "transcript of a preview run", code: domain.CodeNotDeployed, setup: func(w *World) (domain.OrgID, service.RunRequest) {
		return w.Org, dataOp(service.OpConversationTranscript, map[string]any{"conversation": string(w.StartPreview("").Conversation.ID)})
	}},
	{name: "close a preview run", code: domain.CodeNotDeployed, setup: func(w *World) (domain.OrgID, service.RunRequest) {
		return w.Org, dataOp(service.OpCloseConversation, map[string]any{"conversation": string(w.StartPreview("").Conversation.ID)})
	}},
	{name: "send to a preview run", code: domain.CodeNotDeployed, setup: func(w *World) (domain.OrgID, service.RunRequest) {
		return w.Org, dataOp(service.OpSendMessage, map[string]any{"conversation": string(w.StartPreview("").Conversation.ID), "message": "hi"})
	}},
	{name: "deployed-only operation inside a preview session", code: domain.CodeNotDeployed, setup: func(w *World) (domain.OrgID, service.RunRequest) {
		req := dataOp(service.OpConversationTranscript, map[string]any{"conversation": string(w.Start("").Conversation.ID)})
		req.SessionID = w.StartPreview("").Session.ID
		return w.Org, req
	}},
	{name: "update action in a preview session", code: domain.CodeNotDeployed, setup: func(w *World) (domain.OrgID, service.RunRequest) {
		return w.Org, service.RunRequest{Kind: domain.KindAction, Name: service.ActionUpdateCustomerIdentifier,
			SessionID: w.StartPreview("").Session.ID, Inputs: map[string]any{"customerIdentifier": "tel:+15550100000"}}
	}},
	{name: "start on a replaced deployment", code: domain.CodeNotDeployed, setup: func(w *World) (domain.OrgID, service.RunRequest) {
		old := w.Deployment
		_, err := w.Service.Publish(context.Background(), w.Org, old.AppID, w.Draft.ID, domain.EnvProduction)
		must(w.T, err)
		return w.Org, service.RunRequest{Kind: domain.KindAction, Name: service.ActionStartConversation, Inputs: map[string]any{
			"deploymentId": string(old.ID), "resourceId": string(w.Resource.ID), "customerDestination": "web-1"}}
	}},
	{name: "malformed phone number", code: domain.CodeIdentifierInvalid, setup: func(w *World) (domain.OrgID, service.RunRequest) {
		return w.Org, updateOf(w.Start("").Conversation.ID, "tel:call me")
	}},
	{name: "control character in identifier", code: domain.CodeIdentifierInvalid, setup: func(w *World) (domain.OrgID, service.RunRequest) {
		return w.Org, dataOp(service.OpFindConversations, map[string]any{"customerIdentifier": "ann\x00"})
	}},
	{name: "identifier too long", code: domain.CodeIdentifierInvalid, setup: func(w *World) (domain.OrgID, service.RunRequest) {
		return w.Org, updateOf(w.Start("").Conversation.ID, strings.Repeat("a", 257))
	}},
	// Present and empty is not "absent" (#9 item 4): identifier_invalid on
	// every operation, as a blank identifier is.
	{name: "empty identifier on update", code: domain.CodeIdentifierInvalid, setup: func(w *World) (domain.OrgID, service.RunRequest) {
		return w.Org, updateOf(w.Start("").Conversation.ID, "")
	}},
	{name: "empty identifier on find", code: domain.CodeIdentifierInvalid, setup: func(w *World) (domain.OrgID, service.RunRequest) {
		return w.Org, dataOp(service.OpFindConversations, map[string]any{"customerIdentifier": ""})
	}},
	{name: "empty identifier on send with createIfNeeded", code: domain.CodeIdentifierInvalid, setup: func(w *World) (domain.OrgID, service.RunRequest) {
		req := dataOp(service.OpSendMessage, map[string]any{"message": "hi", "createIfNeeded": true,
			"resourceId": string(w.Resource.ID), "customerDestination": "web-9", "customerIdentifier": ""})
		req.SessionID = w.Start("").Session.ID
		return w.Org, req
	}},
	{name: "empty identifier on start action", code: domain.CodeIdentifierInvalid, setup: func(w *World) (domain.OrgID, service.RunRequest) {
		return w.Org, service.RunRequest{Kind: domain.KindAction, Name: service.ActionStartConversation, Inputs: map[string]any{
			"deploymentId": string(w.Deployment.ID), "resourceId": string(w.Resource.ID), "customerDestination": "web-1", "customerIdentifier": ""}}
	}},
	{name: "empty identifier on update action", code: domain.CodeIdentifierInvalid, setup: func(w *World) (domain.OrgID, service.RunRequest) {
		return w.Org, service.RunRequest{Kind: domain.KindAction, Name: service.ActionUpdateCustomerIdentifier,
			SessionID: w.Start("").Session.ID, Inputs: map[string]any{"customerIdentifier": ""}}
	}},
	{name: "blank identifier on find", code: domain.CodeIdentifierInvalid, setup: func(w *World) (domain.OrgID, service.RunRequest) {
		return w.Org, dataOp(service.OpFindConversations, map[string]any{"customerIdentifier": "   "})
	}},
	// An unset time is not "now" (#9 item 5).
	{name: "empty asOf", code: domain.CodeInvalidArgument, setup: func(w *World) (domain.OrgID, service.RunRequest) {
		return w.Org, dataOp(service.OpFindConversations, map[string]any{"customerIdentifier": "x", "asOf": ""})
	}},
	// One mailbox, one identifier (#9 item 6); no invisible characters (item 7).
	{name: "mailto with a query", code: domain.CodeIdentifierInvalid, setup: func(w *World) (domain.OrgID, service.RunRequest) {
		w.Start("mailto:ann@example.com")
		return w.Org, updateOf(w.Start("").Conversation.ID, "mailto:ann@example.com?subject=hello")
	}},
	{name: "invisible format character in identifier", code: domain.CodeIdentifierInvalid, setup: func(w *World) (domain.OrgID, service.RunRequest) {
		w.Start("ext:ann")
		return w.Org, updateOf(w.Start("").Conversation.ID, "ext:a\u200bnn")
	}},
	{name: "unknown data operation", code: domain.CodeInvalidArgument, setup: func(w *World) (domain.OrgID, service.RunRequest) {
		return w.Org, dataOp("delete_everything", nil)
	}},
	{name: "unknown data operation with control characters", code: domain.CodeInvalidArgument, setup: func(w *World) (domain.OrgID, service.RunRequest) {
		req := dataOp("drop\x00table\n"+strings.Repeat("x", 500), nil)
		req.SessionID = "ses\x00"
		return w.Org, req
	}},
	{name: "unknown action", code: domain.CodeInvalidArgument, setup: func(w *World) (domain.OrgID, service.RunRequest) {
		return w.Org, service.RunRequest{Kind: domain.KindAction, Name: "find_conversations_by_customer_identifier"}
	}},
	{name: "unknown input", code: domain.CodeInvalidArgument, setup: func(w *World) (domain.OrgID, service.RunRequest) {
		return w.Org, dataOp(service.OpFindConversations, map[string]any{"customerIdentifier": "x", "limit": 5.0})
	}},
	{name: "missing input", code: domain.CodeInvalidArgument, setup: func(w *World) (domain.OrgID, service.RunRequest) {
		return w.Org, dataOp(service.OpUpdateCustomerIdentifier, map[string]any{"customerIdentifier": "x"})
	}},
	{name: "wrong input type", code: domain.CodeInvalidArgument, setup: func(w *World) (domain.OrgID, service.RunRequest) {
		return w.Org, dataOp(service.OpUpdateCustomerIdentifier, map[string]any{"conversationId": 12.0, "customerIdentifier": "x"})
	}},
	{name: "malformed asOf", code: domain.CodeInvalidArgument, setup: func(w *World) (domain.OrgID, service.RunRequest) {
		return w.Org, dataOp(service.OpFindConversations, map[string]any{"customerIdentifier": "x", "asOf": "yesterday"})
	}},
	{name: "reserved output variable", code: domain.CodeInvalidArgument, setup: func(w *World) (domain.OrgID, service.RunRequest) {
		req := updateOf(w.Start("").Conversation.ID, "x")
		req.OutputVariable = "channels"
		return w.Org, req
	}},
	{name: "unknown session", code: domain.CodeInvalidArgument, setup: func(w *World) (domain.OrgID, service.RunRequest) {
		req := updateOf(w.Start("").Conversation.ID, "x")
		req.SessionID = "ses_missing"
		return w.Org, req
	}},
	{name: "action outside a session", code: domain.CodeInvalidArgument, setup: func(w *World) (domain.OrgID, service.RunRequest) {
		return w.Org, service.RunRequest{Kind: domain.KindAction, Name: service.ActionCloseConversation}
	}},
	{name: "start with unknown resource", code: domain.CodeInvalidArgument, setup: func(w *World) (domain.OrgID, service.RunRequest) {
		return w.Org, service.RunRequest{Kind: domain.KindAction, Name: service.ActionStartConversation, Inputs: map[string]any{
			"deploymentId": string(w.Deployment.ID), "resourceId": "res_missing", "customerDestination": "web-1", "customerIdentifier": "ext:7"}}
	}},
	{name: "message too long", code: domain.CodeInvalidArgument, setup: func(w *World) (domain.OrgID, service.RunRequest) {
		return w.Org, dataOp(service.OpSendMessage, map[string]any{"conversation": string(w.Start("").Conversation.ID), "message": strings.Repeat("m", 10001)})
	}},
	{name: "request cancelled", code: domain.CodeInternal, cancel: true, setup: func(w *World) (domain.OrgID, service.RunRequest) {
		return w.Org, updateOf(w.Start("").Conversation.ID, "tel:+15550100000")
	}},
}

// RunFailures runs every failure case on a fresh store: the code is the
// expected one, the outcome is reported the right way (business outcomes in
// the result, everything else thrown), the failed run is recorded, and the
// store is otherwise unchanged.
func RunFailures(t *testing.T, newStore Factory) {
	for _, tc := range failureCases {
		t.Run(tc.name, func(t *testing.T) {
			w := NewWorld(t, newStore(t))
			org, req := tc.setup(w)
			before := TakeSnapshot(t, w.Store, org)
			ctx := context.Background()
			if tc.cancel {
				cancelled, cancel := context.WithCancel(ctx)
				cancel()
				ctx = cancelled
			}
			res, err := w.Service.Run(ctx, org, req)
			assertFailure(t, tc.code, res, err)
			after := TakeSnapshot(t, w.Store, org)
			AssertUnchanged(t, before, after)
			assertRunLogged(t, tc, before, after)
		})
	}
	t.Run("unknown API key", func(t *testing.T) {
		w := NewWorld(t, newStore(t))
		before := TakeSnapshot(t, w.Store, w.Org)
		for _, secret := range []string{"", "pk_nope", "Bearer x", strings.Repeat("pk_", 100)} {
			if _, err := w.Service.Authenticate(context.Background(), secret); domain.ErrorCode(err) != domain.CodeUnauthorized {
				t.Fatalf("Authenticate(%q): %v, want unauthorized", secret, err)
			}
		}
		after := TakeSnapshot(t, w.Store, w.Org)
		AssertUnchanged(t, before, after)
		if len(after.Runs) != len(before.Runs) {
			t.Fatal("a refused key recorded a run")
		}
	})
	t.Run("key revoked by another process", func(t *testing.T) { testRevokedKeyRuns(t, newStore) })
	t.Run("runtime key on a management route", func(t *testing.T) {
		w := NewWorld(t, newStore(t))
		ctx := context.Background()
		created, err := w.Service.CreateAPIKey(ctx, w.Org, "bot", domain.ScopeRuntime)
		must(t, err)
		key, err := w.Service.AuthenticateKey(ctx, created.Secret)
		must(t, err)
		before := TakeSnapshot(t, w.Store, w.Org)
		if err := service.Authorize(key, domain.ScopeAdmin); domain.ErrorCode(err) != domain.CodeForbidden {
			t.Fatalf("runtime key authorized as admin: %v", err)
		}
		AssertUnchanged(t, before, TakeSnapshot(t, w.Store, w.Org))
		if err := service.Authorize(key, domain.ScopeRuntime); err != nil {
			t.Fatalf("runtime key refused at runtime: %v", err)
		}
	})
	t.Run("revoked API key", func(t *testing.T) {
		w := NewWorld(t, newStore(t))
		key, err := w.Service.CreateAPIKey(context.Background(), w.Org, "bot", domain.ScopeRuntime)
		must(t, err)
		_, err = w.Service.Authenticate(context.Background(), key.Secret)
		must(t, err)
		must(t, w.Service.RevokeAPIKey(context.Background(), w.Org, key.Key.ID))
		if _, err := w.Service.Authenticate(context.Background(), key.Secret); domain.ErrorCode(err) != domain.CodeUnauthorized {
			t.Fatalf("revoked key: %v, want unauthorized", err)
		}
	})
}

func assertFailure(t *testing.T, code string, res service.RunResult, err error) {
	t.Helper()
	if !domain.IsBusinessOutcome(code) {
		if domain.ErrorCode(err) != code {
			t.Fatalf("got result %+v error %v, want thrown %s", res, err, code)
		}
		return
	}
	if err != nil {
		t.Fatalf("business outcome %s was thrown: %v", code, err)
	}
	if res.Error == nil || res.Error.Code != code || res.Error.Message == "" {
		t.Fatalf("got outcome %+v, want %s", res.Error, code)
	}
	switch v := res.Value.(type) {
	case bool:
		if v {
			t.Fatalf("output true with outcome %s", code)
		}
	case nil:
	default:
		t.Fatalf("output %#v with outcome %s, want false or nil", v, code)
	}
}

// assertRunLogged checks the one run record a failure adds (a request
// cancelled by its client too: the run log does not use the request's
// context).
func assertRunLogged(t *testing.T, tc failureCase, before, after Snapshot) {
	t.Helper()
	added := len(after.Runs) - len(before.Runs)
	if added != 1 {
		t.Fatalf("%d runs recorded, want 1", added)
	}
	if got := after.Runs[0].ErrorCode; got != tc.code {
		t.Fatalf("run recorded error %q, want %q", got, tc.code)
	}
	if domain.IsBusinessOutcome(tc.code) {
		return // committed with its output: no run.failed
	}
	if len(after.Events) == 0 {
		t.Fatal("no run.failed event for the failed run")
	}
	last := after.Events[len(after.Events)-1]
	if last.Type != domain.EventRunFailed || last.Subject != string(after.Runs[0].ID) || last.Payload["errorCode"] != tc.code {
		t.Fatalf("last event %+v, want run.failed of run %s with errorCode %s", last, after.Runs[0].ID, tc.code)
	}
}

func setLicenseToken(w *World, org domain.OrgID, token string) {
	w.T.Helper()
	must(w.T, w.Store.Update(context.Background(), func(tx domain.Tx) error {
		return tx.SetOrgLicense(context.Background(), org, token)
	}))
}

// tamper flips one character of the payload so the signature fails.
func tamper(token string) string {
	parts := strings.Split(token, ".")
	p := []byte(parts[1])
	if p[3] == 'A' {
		p[3] = 'B'
	} else {
		p[3] = 'A'
	}
	parts[1] = string(p)
	return strings.Join(parts, ".")
}

// testRevokedKeyRuns: a run whose key this process authenticated before,
// then revoked through another process, fails with unauthorized and
// leaves nothing behind, whether its transaction reads or writes; a live
// key of the same org runs.
func testRevokedKeyRuns(t *testing.T, newStore Factory) {
	w := NewWorld(t, newStore(t))
	ctx := context.Background()
	conv := w.Start("ext:alice")
	find := dataOp(service.OpFindConversations, map[string]any{"customerIdentifier": "ext:alice"})
	update := dataOp(service.OpUpdateCustomerIdentifier, map[string]any{
		"conversationId": string(conv.Conversation.ID), "customerIdentifier": "ext:bob"})
	live, err := w.Service.CreateAPIKey(ctx, w.Org, "live", domain.ScopeRuntime)
	must(t, err)
	revoked, err := w.Service.CreateAPIKey(ctx, w.Org, "revoked", domain.ScopeRuntime)
	must(t, err)
	for _, k := range []service.NewAPIKey{live, revoked} {
		_, err := w.Service.AuthenticateKey(ctx, k.Secret)
		must(t, err)
	}
	must(t, w.ServiceOn(w.Store).RevokeAPIKey(ctx, w.Org, revoked.Key.ID))
	for _, req := range []service.RunRequest{find, update} {
		before := TakeSnapshot(t, w.Store, w.Org)
		req.VerifyKey = revoked.Secret
		res, err := w.Service.Run(ctx, w.Org, req)
		assertFailure(t, domain.CodeUnauthorized, res, err)
		after := TakeSnapshot(t, w.Store, w.Org)
		AssertUnchanged(t, before, after)
		if len(after.Runs) != len(before.Runs) || len(after.Events) != len(before.Events) {
			t.Fatalf("%s with a revoked key: runs %d -> %d, events %d -> %d", req.Name,
				len(before.Runs), len(after.Runs), len(before.Events), len(after.Events))
		}
		req.VerifyKey = live.Secret
		if res, err := w.Service.Run(ctx, w.Org, req); err != nil || res.Error != nil {
			t.Fatalf("%s with a live key: %+v, %v", req.Name, res.Error, err)
		}
	}
}
