package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/parleyhq/parley/domain"
)

// RunConsole checks the domain.ConsoleTx methods: console sessions (round
// trip, ending with their key's revocation, deletion by key and by expiry,
// org isolation), the filtered run log, and the service's console
// sign-in and operator identifier changes on the backend.
func RunConsole(t *testing.T, newStore Factory) {
	t.Run("Sessions", func(t *testing.T) { testConsoleSessions(t, newStore) })
	t.Run("FindRuns", func(t *testing.T) { testFindRuns(t, newStore) })
	t.Run("SignIn", func(t *testing.T) { testConsoleSignIn(t, newStore) })
	t.Run("OperatorIdentifier", func(t *testing.T) { testOperatorIdentifier(t, newStore) })
}

func testConsoleSessions(t *testing.T, newStore Factory) {
	s := newStore(t)
	a, b := seed(t, s)
	keys := []domain.APIKey{
		{ID: "key_a1", OrgID: a.Org.ID, Name: "ops", Scope: domain.ScopeAdmin, Prefix: "pk_a1", Hash: []byte{1}, CreatedAt: minute(5)},
		{ID: "key_a2", OrgID: a.Org.ID, Name: "ops2", Scope: domain.ScopeAdmin, Prefix: "pk_a2", Hash: []byte{2}, CreatedAt: minute(5)},
		{ID: "key_b1", OrgID: b.Org.ID, Name: "ops", Scope: domain.ScopeAdmin, Prefix: "pk_b1", Hash: []byte{3}, CreatedAt: minute(5)},
	}
	session := func(hash byte, key domain.APIKey, expires int) domain.ConsoleSession {
		return domain.ConsoleSession{TokenHash: []byte{hash, 0, 255}, OrgID: key.OrgID, APIKeyID: key.ID,
			CSRFToken: fmt.Sprintf("csrf-%d", hash), CreatedAt: minute(6), ExpiresAt: minute(expires)}
	}
	sessions := []domain.ConsoleSession{
		session(1, keys[0], 100), session(2, keys[0], 50), session(3, keys[1], 100), session(4, keys[2], 100),
	}
	update(t, s, func(ctx context.Context, tx domain.Tx) error {
		for _, k := range keys {
			if err := tx.CreateAPIKey(ctx, k); err != nil {
				return err
			}
		}
		for _, cs := range sessions {
			if err := tx.CreateConsoleSession(ctx, cs); err != nil {
				return err
			}
		}
		return nil
	})
	get := func(cs domain.ConsoleSession) error {
		return readErr(t, s, func(ctx context.Context, tx domain.Tx) error {
			got, err := tx.GetConsoleSession(ctx, cs.TokenHash)
			if err == nil {
				equal(t, "GetConsoleSession", got, cs)
			}
			return err
		})
	}
	for _, cs := range sessions {
		if err := get(cs); err != nil {
			t.Errorf("GetConsoleSession %v: %v", cs.TokenHash, err)
		}
	}
	wantCode(t, "GetConsoleSession unknown", get(session(9, keys[0], 100)), domain.CodeNotFound)
	wantCode(t, "duplicate token hash", tryUpdate(s, func(ctx context.Context, tx domain.Tx) error {
		return tx.CreateConsoleSession(ctx, session(1, keys[1], 100))
	}), domain.CodeConflict)

	// A revoked key's sessions are gone at once, whatever revoked it.
	update(t, s, func(ctx context.Context, tx domain.Tx) error {
		return tx.RevokeAPIKey(ctx, a.Org.ID, keys[1].ID, minute(7))
	})
	wantCode(t, "session of a revoked key", get(sessions[2]), domain.CodeNotFound)

	deleted := func(fn func(ctx context.Context, tx domain.Tx) (int, error)) int {
		var n int
		update(t, s, func(ctx context.Context, tx domain.Tx) (err error) {
			n, err = fn(ctx, tx)
			return err
		})
		return n
	}
	equal(t, "DeleteConsoleSessionsOfKey of another org", deleted(func(ctx context.Context, tx domain.Tx) (int, error) {
		return tx.DeleteConsoleSessionsOfKey(ctx, a.Org.ID, keys[2].ID)
	}), 0)
	if err := get(sessions[3]); err != nil {
		t.Errorf("org b's session after deleting org a's sessions of its key: %v", err)
	}
	equal(t, "DeleteConsoleSessionsOfKey", deleted(func(ctx context.Context, tx domain.Tx) (int, error) {
		return tx.DeleteConsoleSessionsOfKey(ctx, a.Org.ID, keys[1].ID)
	}), 1)

	equal(t, "DeleteExpiredConsoleSessions before any expiry", deleted(func(ctx context.Context, tx domain.Tx) (int, error) {
		return tx.DeleteExpiredConsoleSessions(ctx, minute(50).Add(-time.Microsecond))
	}), 0)
	equal(t, "DeleteExpiredConsoleSessions at the expiry", deleted(func(ctx context.Context, tx domain.Tx) (int, error) {
		return tx.DeleteExpiredConsoleSessions(ctx, minute(50))
	}), 1)
	wantCode(t, "expired session after deletion", get(sessions[1]), domain.CodeNotFound)
	if err := get(sessions[0]); err != nil {
		t.Errorf("unexpired session after deleting expired ones: %v", err)
	}

	update(t, s, func(ctx context.Context, tx domain.Tx) error {
		if err := tx.DeleteConsoleSession(ctx, sessions[0].TokenHash); err != nil {
			return err
		}
		return tx.DeleteConsoleSession(ctx, sessions[0].TokenHash) // missing: no-op
	})
	wantCode(t, "signed-out session", get(sessions[0]), domain.CodeNotFound)
	if err := get(sessions[3]); err != nil {
		t.Errorf("org b's session after org a signed out: %v", err)
	}
}

func testFindRuns(t *testing.T, newStore Factory) {
	s := newStore(t)
	a, b := seed(t, s)
	type spec struct {
		name, code string
		session    domain.SessionID
	}
	specs := []spec{
		{"update_customer_identifier", "", "ses_1"},
		{"update_customer_identifier", domain.CodeIdentifierTaken, "ses_1"},
		{"close_conversation", "", "ses_2"},
		{"update_customer_identifier", domain.CodeLicenseRequired, ""},
		{"close_conversation", domain.CodeConversationClosed, "ses_1"},
		{"find_conversations_by_customer_identifier", "", ""},
	}
	update(t, s, func(ctx context.Context, tx domain.Tx) error {
		for i, sp := range specs {
			r := domain.OperationRun{
				// Ids that do not sort in recording order.
				ID: domain.RunID(fmt.Sprintf("run_a%d", 9-i)), OrgID: a.Org.ID, Kind: domain.KindDataOperation,
				Name: sp.name, SessionID: sp.session, Inputs: map[string]any{"n": float64(i)}, Output: false,
				ErrorCode: sp.code, StartedAt: minute(20 + i),
			}
			if sp.code != "" {
				r.ErrorMessage = "failed: " + sp.code
			}
			if err := tx.RecordRun(ctx, r); err != nil {
				return err
			}
		}
		return tx.RecordRun(ctx, domain.OperationRun{ID: "run_b1", OrgID: b.Org.ID, Kind: domain.KindAction,
			Name: "update_customer_identifier", SessionID: "ses_1", ErrorCode: domain.CodeIdentifierTaken, StartedAt: minute(21)})
	})
	find := func(org domain.OrgID, f domain.RunFilter) []domain.RunID {
		t.Helper()
		got := read(t, s, func(ctx context.Context, tx domain.Tx) ([]domain.OperationRun, error) {
			return tx.FindRuns(ctx, org, f)
		})
		ids := []domain.RunID{}
		for _, r := range got {
			ids = append(ids, r.ID)
		}
		return ids
	}
	ids := func(ns ...int) []domain.RunID {
		out := []domain.RunID{}
		for _, n := range ns {
			out = append(out, domain.RunID(fmt.Sprintf("run_a%d", n)))
		}
		return out
	}
	cases := []struct {
		name string
		f    domain.RunFilter
		want []domain.RunID
	}{
		{"all", domain.RunFilter{}, ids(4, 5, 6, 7, 8, 9)},
		{"limit", domain.RunFilter{Limit: 2}, ids(4, 5)},
		{"before", domain.RunFilter{Before: "run_a6", Limit: 2}, ids(7, 8)},
		{"by name", domain.RunFilter{Name: "update_customer_identifier"}, ids(6, 8, 9)},
		{"by error code", domain.RunFilter{ErrorCode: domain.CodeIdentifierTaken}, ids(8)},
		{"failed", domain.RunFilter{Failed: true}, ids(5, 6, 8)},
		{"by session", domain.RunFilter{SessionID: "ses_1"}, ids(5, 8, 9)},
		{"name and failed", domain.RunFilter{Name: "close_conversation", Failed: true}, ids(5)},
		{"session, name and before", domain.RunFilter{SessionID: "ses_1", Name: "update_customer_identifier", Before: "run_a8"}, ids(9)},
		{"nothing matches", domain.RunFilter{Name: "close_conversation", ErrorCode: domain.CodeIdentifierTaken}, ids()},
	}
	for _, c := range cases {
		equal(t, "FindRuns "+c.name, find(a.Org.ID, c.f), c.want)
	}
	equal(t, "FindRuns org b", find(b.Org.ID, domain.RunFilter{SessionID: "ses_1"}), []domain.RunID{"run_b1"})
	got := read(t, s, func(ctx context.Context, tx domain.Tx) ([]domain.OperationRun, error) {
		return tx.FindRuns(ctx, a.Org.ID, domain.RunFilter{ErrorCode: domain.CodeLicenseRequired})
	})
	if len(got) == 1 {
		equal(t, "FindRuns row", got[0].ErrorMessage, "failed: license_required")
		equal(t, "FindRuns inputs", got[0].Inputs, map[string]any{"n": float64(3)})
	}
	wantNotFound(t, s, []notFoundCase{
		{"FindRuns before an unknown run", func(ctx context.Context, tx domain.Tx) error {
			_, err := tx.FindRuns(ctx, a.Org.ID, domain.RunFilter{Before: "run_x"})
			return err
		}},
		{"FindRuns before a run of another org", func(ctx context.Context, tx domain.Tx) error {
			_, err := tx.FindRuns(ctx, a.Org.ID, domain.RunFilter{Before: "run_b1"})
			return err
		}},
	})
}
