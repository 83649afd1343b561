package httpapi

import (
	"context"
	"crypto/ed25519"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/storetest"
)

// countingStore counts the read transactions the service opens (View and
// ViewLatest).
type countingStore struct {
	domain.Store
	views *atomic.Int64
}

func (s countingStore) View(ctx context.Context, fn func(domain.Tx) error) error {
	s.views.Add(1)
	return s.Store.View(ctx, fn)
}

func (s countingStore) ViewLatest(ctx context.Context, fn func(domain.Tx) error) error {
	s.views.Add(1)
	return s.Store.ViewLatest(ctx, fn)
}

// TestRunsVerifyKnownKeysInTheirTransaction checks that a data operation
// with a key this server has authenticated before does not look the key up
// again: a find is one read transaction, in which the key is verified.
func TestRunsVerifyKnownKeysInTheirTransaction(t *testing.T) {
	views := &atomic.Int64{}
	env := newEnvOn(t, func(s domain.Store) domain.Store { return countingStore{s, views} })
	_, c := env.newOrg("Acme", domain.PlanEnterprise)
	key := apiKeyOf(t, c)
	find := `{"inputs":{"customerIdentifier":"ext:nobody"}}`
	const path = "/v1/data-operations/" + client.OpFindConversations
	// The first call looks the key up; the later ones take it on trust.
	if r := env.postJSON(path, key, find); r.status != http.StatusOK {
		t.Fatalf("first find: %d %s", r.status, r.body)
	}
	for range 3 {
		before := views.Load()
		if r := env.postJSON(path, key, find); r.status != http.StatusOK {
			t.Fatalf("find: %d %s", r.status, r.body)
		}
		if n := views.Load() - before; n != 1 {
			t.Fatalf("a find of a known key opened %d read transactions, want 1 (the find's, which verifies the key)", n)
		}
	}
	// A run that fails before its transaction looks the key up once (in
	// the service), not again in the transport.
	before := views.Load()
	if r := env.postJSON(path, key, `{"inputs":{"customerIdentifier":"mailto:nope"}}`); r.status != http.StatusBadRequest {
		t.Fatalf("invalid find: %d %s", r.status, r.body)
	}
	if n := views.Load() - before; n != 1 {
		t.Fatalf("a failed find of a known key opened %d read transactions, want 1 (the key's lookup)", n)
	}
	// With an Idempotency-Key the key is looked up first, as elsewhere.
	before = views.Load()
	if r := env.postJSON(path, key, find, "Idempotency-Key", "f1"); r.status != http.StatusOK {
		t.Fatalf("idempotent find: %d %s", r.status, r.body)
	}
	if n := views.Load() - before; n < 2 {
		t.Fatalf("an idempotent find opened %d read transactions, want the key's lookup too", n)
	}
}

// TestRevokedKeyRefusedByRuns checks that a key this server took on trust,
// then revoked by another server process (whose revocation this one does
// not hear of), is refused with unauthorized on the run routes, on every
// path a request can fail on, and that nothing of the request is applied
// or recorded: no change, no run, no event. Each case has a world of its
// own, since a refused key is forgotten and later looked up first.
func TestRevokedKeyRefusedByRuns(t *testing.T) {
	cases := []struct {
		name, path string
		body       func(conv string) string
	}{
		{"find", "/v1/data-operations/" + client.OpFindConversations, func(string) string { return `{"inputs":{"customerIdentifier":"ext:alice"}}` }},
		{"update", "/v1/data-operations/update_customer_identifier", updateBody("ext:bob")},
		{"action", "/v1/actions/update_customer_identifier", updateBody("ext:bob")},
		{"business outcome", "/v1/data-operations/update_customer_identifier",
			func(string) string {
				return `{"inputs":{"conversationId":"conv_missing","customerIdentifier":"ext:bob"}}`
			}},
		{"invalid identifier", "/v1/data-operations/update_customer_identifier", updateBody("mailto:nope")},
		{"unknown operation", "/v1/data-operations/no_such_operation", updateBody("ext:bob")},
		{"malformed body", "/v1/data-operations/update_customer_identifier", func(string) string { return `{"inputs":` }},
		{"invalid path value", "/v1/data-operations/bad%01name", updateBody("ext:bob")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env, org, conv, secret := revokedKeyWorld(t)
			before := storetest.TakeSnapshot(t, env.store, org)
			decodeProblem(t, env.postJSON(tc.path, secret, tc.body(conv)), http.StatusUnauthorized, domain.CodeUnauthorized)
			after := storetest.TakeSnapshot(t, env.store, org)
			storetest.AssertUnchanged(t, before, after)
			if len(after.Runs) != len(before.Runs) || len(after.Events) != len(before.Events) {
				t.Fatalf("runs %d -> %d, events %d -> %d: the refused request left a trace",
					len(before.Runs), len(after.Runs), len(before.Events), len(after.Events))
			}
		})
	}
}

func updateBody(identifier string) func(conv string) string {
	return func(conv string) string {
		return `{"inputs":{"conversationId":"` + conv + `","customerIdentifier":"` + identifier + `"}}`
	}
}

// revokedKeyWorld makes an org with a live deployed conversation of
// ext:alice and a key that the server has authenticated, and revokes the
// key through a second service on the same database (another process).
// The org's first key still runs.
func revokedKeyWorld(t *testing.T) (env *testEnv, org domain.OrgID, conv, secret string) {
	t.Helper()
	env, c, key, _, dep, res := newPublishedEnv(t)
	ctx := t.Context()
	org, err := env.svc.Authenticate(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.StartConversation(ctx, client.StartConversationRequest{
		DeploymentID: dep.ID, ResourceID: res.ID, CustomerDestination: "d1", CustomerIdentifier: "ext:alice",
	})
	if err != nil {
		t.Fatal(err)
	}
	created, err := c.CreateAPIKey(ctx, client.CreateAPIKeyRequest{Name: "runner"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.WithAPIKey(created.Secret).RunDataOperation(ctx, client.OpFindConversations, client.RunRequest{
		Inputs: map[string]any{"customerIdentifier": "ext:alice"},
	}); err != nil {
		t.Fatal(err)
	}
	other := newTestService(env.store, env.clock, env.signer.Public().(ed25519.PublicKey))
	if err := other.RevokeAPIKey(ctx, org, domain.APIKeyID(created.ID)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// The org's other key still runs, taken on trust as well.
		for range 2 {
			out, err := c.RunDataOperation(context.Background(), client.OpFindConversations, client.RunRequest{
				Inputs: map[string]any{"customerIdentifier": "ext:alice"},
			})
			if err != nil || out.Error != nil {
				t.Errorf("find with the admin key = %+v (%v)", out, err)
			}
		}
	})
	return env, org, st.Conversation.ID, created.Secret
}
