package sqlite

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/domain"
)

// TestQueryPlans runs every Tx method once, then asks SQLite for the plan of
// every statement they prepared: none may scan a table (ListOrgs, over the
// tiny orgs table, excepted) or sort in a temporary b-tree, and the hot
// identifier and conversation lookups must be answered from an index alone.
func TestQueryPlans(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, t.TempDir()+"/plan.db")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	checkPlans(ctx, t, db)
}

// TestQueryPlansWithStatistics: the same plans once the planner has
// statistics of a populated database (Optimize, which the store runs after
// migrating and every hour), and the STAT4 samples are gone.
func TestQueryPlansWithStatistics(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, t.TempDir()+"/plan.db")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	seedForPlans(ctx, t, db)
	if err := db.Optimize(ctx, true); err != nil {
		t.Fatal(err)
	}
	var stat1, stat4 int
	if err := db.writer.db.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM sqlite_stat1),
		(SELECT count(*) FROM sqlite_stat4)`).Scan(&stat1, &stat4); err != nil {
		t.Fatal(err)
	}
	if stat1 < 10 || stat4 != 0 {
		t.Fatalf("after Optimize: %d sqlite_stat1 rows, %d sqlite_stat4 rows; want statistics without samples", stat1, stat4)
	}
	checkPlans(ctx, t, db)
}

// seedForPlans fills two orgs with customers, intervals, conversations,
// messages, runs, events and idempotency keys, skewed as real data is (one
// big org, one small), in one transaction.
func seedForPlans(ctx context.Context, t *testing.T, db *DB) {
	t.Helper()
	sqlTx, err := db.writer.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sqlTx.Rollback() //nolint:errcheck // committed below
	exec := func(query string, args ...any) {
		if _, err := sqlTx.ExecContext(ctx, query, args...); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
	}
	for _, org := range []struct {
		id        string
		customers int
	}{{"org_big", 3000}, {"org_small", 30}} {
		exec(`INSERT INTO orgs (id, name, created_at) VALUES (?, ?, 0)`, org.id, org.id)
		exec(`INSERT INTO apps (id, org_id, name, created_at) VALUES (?, ?, 'a', 0)`, "app_"+org.id, org.id)
		exec(`INSERT INTO app_versions (id, org_id, app_id, number, definition, created_at) VALUES (?, ?, ?, 1, '{}', 0)`,
			"ver_"+org.id, org.id, "app_"+org.id)
		exec(`INSERT INTO deployments (id, org_id, app_id, version_id, environment, published_at) VALUES (?, ?, ?, ?, 'production', 0)`,
			"dep_"+org.id, org.id, "app_"+org.id, "ver_"+org.id)
		exec(`INSERT INTO channel_resources (id, org_id, kind, name, address, created_at) VALUES (?, ?, 'webchat', 'w', 'w', 0)`,
			"res_"+org.id, org.id)
		// Apps published again and again, resources and keys: small
		// tables, but not of one row.
		for a := range 40 {
			app := fmt.Sprintf("app_%s_%d", org.id, a)
			exec(`INSERT INTO apps (id, org_id, name, created_at) VALUES (?, ?, 'a', ?)`, app, org.id, a)
			for v := range 5 {
				ver := fmt.Sprintf("ver_%s_%d", app, v)
				exec(`INSERT INTO app_versions (id, org_id, app_id, number, definition, created_at) VALUES (?, ?, ?, ?, '{}', ?)`,
					ver, org.id, app, v+1, v)
				var replaced any = v
				if v == 4 {
					replaced = nil
				}
				exec(`INSERT INTO deployments (id, org_id, app_id, version_id, environment, published_at, replaced_at)
					VALUES (?, ?, ?, ?, 'production', ?, ?)`, "dep_"+ver, org.id, app, ver, v, replaced)
			}
			exec(`INSERT INTO channel_resources (id, org_id, kind, name, address, created_at) VALUES (?, ?, 'sms', 'w', ?, ?)`,
				"res_"+app, org.id, fmt.Sprint(a), a)
			exec(`INSERT INTO api_keys (id, org_id, name, scope, prefix, hash, created_at) VALUES (?, ?, 'k', 'admin', 'pk_', ?, ?)`,
				"key_"+app, org.id, []byte(app), a)
		}
		for c := range org.customers {
			cus, ident := fmt.Sprintf("cus_%s_%d", org.id, c), fmt.Sprintf("ext:%s-%d", org.id, c)
			exec(`INSERT INTO customers (id, org_id, identifier, identifier_since, created_at) VALUES (?, ?, ?, ?, ?)`, cus, org.id, ident, c, c)
			exec(`INSERT INTO identifier_intervals (org_id, customer_id, identifier, valid_from) VALUES (?, ?, ?, ?)`, org.id, cus, ident, c)
			for k := range 8 {
				conv := fmt.Sprintf("conv_%s_%d_%d", org.id, c, k)
				exec(`INSERT INTO conversations (id, org_id, deployment_id, app_id, resource_id, customer_id, session_id, status,
					customer_destination, external_id, identifier_at_start, started_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'live', ?, ?, ?, ?)`,
					conv, org.id, "dep_"+org.id, "app_"+org.id, "res_"+org.id, cus, "ses_"+conv, "web-"+conv, nil, ident, c*10+k)
				exec(`INSERT INTO messages (id, org_id, conversation_id, direction, text, created_at) VALUES (?, ?, ?, 'inbound', 'hi', ?)`,
					"msg_"+conv, org.id, conv, c*10+k)
			}
			exec(`INSERT INTO operation_runs (id, org_id, kind, name, session_id, inputs, variable, output, error_code, error_message,
				duration_us, started_at) VALUES (?, ?, 'data_operation', 'find', '', '{}', 'v', 'null', '', '', 1, ?)`,
				"run_"+cus, org.id, c)
			exec(`INSERT INTO events (org_id, type, subject, payload, created_at) VALUES (?, 'conversation.started', ?, '{}', ?)`, org.id, cus, c)
			exec(`INSERT INTO idempotency_keys (org_id, key, request_hash, status, created_at) VALUES (?, ?, 'h', 200, ?)`, org.id, cus, c)
		}
	}
	if err := sqlTx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// checkPlans runs every Tx method once, then checks the plans of the
// statements they prepared.
func checkPlans(ctx context.Context, t *testing.T, db *DB) {
	t.Helper()
	readAll(ctx, t, db)
	writeAll(ctx, t, db)

	plans := map[string]string{}
	for _, p := range []*pool{db.reader, db.writer} {
		p.preparePending(ctx)
		for query := range p.stmts {
			plans[query] = explain(ctx, t, db, query)
		}
	}
	if len(plans) < 40 {
		t.Fatalf("only %d statements prepared; did every method run?", len(plans))
	}
	queries := make([]string, 0, len(plans))
	for q := range plans {
		queries = append(queries, q)
	}
	slices.Sort(queries)
	for _, q := range queries {
		plan := plans[q]
		t.Logf("%s\n    %s", oneLine(q), strings.ReplaceAll(plan, "\n", "\n    "))
		if strings.Contains(q, "FROM orgs ORDER BY") {
			continue
		}
		for _, line := range strings.Split(plan, "\n") {
			if strings.HasPrefix(line, "SCAN ") && !strings.Contains(line, " INDEX ") {
				t.Errorf("full table scan in %s:\n%s", oneLine(q), plan)
			}
			if strings.Contains(line, "TEMP B-TREE") {
				t.Errorf("sort in %s:\n%s", oneLine(q), plan)
			}
		}
	}
	indexOnly := map[string]string{
		"CustomerConversationIDs": "SELECT id FROM conversations WHERE org_id = ? AND customer_id = ?",
		"LatestInterval":          "WHERE org_id = ? AND identifier = ? ORDER BY valid_from DESC",
		"IntervalAt":              "WHERE org_id = ? AND identifier = ? AND valid_from <= ?",
	}
	for name, fragment := range indexOnly {
		q := find(plans, fragment)
		if q == "" {
			t.Errorf("%s: statement not found", name)
		} else if !strings.Contains(plans[q], "USING COVERING INDEX") {
			t.Errorf("%s is not index-only:\n%s", name, plans[q])
		}
	}
	for _, filter := range []string{"", "customer_id", "deployment_id", "resource_id", "external_id"} {
		for q, plan := range plans {
			if !strings.Contains(q, "FROM conversations WHERE org_id = ?") || !strings.Contains(q, "LIMIT") {
				continue
			}
			if filter != "" && !strings.Contains(q, filter+" = ?") {
				continue
			}
			want := "SEARCH conversations USING INDEX conversations_" + map[string]string{"": "started",
				"customer_id": "customer", "deployment_id": "deployment", "resource_id": "resource", "external_id": "external"}[filter]
			if filter == "" && strings.Count(q, " = ?") > 1 {
				continue
			}
			if !strings.HasPrefix(plan, want) {
				t.Errorf("ListConversations by %q: plan %q, want %q", filter, plan, want)
			}
		}
	}
}

func find(plans map[string]string, fragment string) string {
	for q := range plans {
		if strings.Contains(oneLine(q), fragment) {
			return q
		}
	}
	return ""
}

func oneLine(q string) string { return strings.Join(strings.Fields(q), " ") }

// explain returns the plan details of query, one per line.
func explain(ctx context.Context, t *testing.T, db *DB, query string) string {
	t.Helper()
	args := make([]any, strings.Count(query, "?"))
	rows, err := db.writer.db.QueryContext(ctx, "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatalf("explain %s: %v", query, err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

// readAll calls every read method, so that its statements get prepared.
func readAll(ctx context.Context, t *testing.T, db *DB) {
	at := time.Unix(1, 0)
	err := db.View(ctx, func(tx domain.Tx) error {
		calls := []func() error{
			func() error { _, err := tx.GetOrg(ctx, "o"); return err },
			func() error { _, err := tx.ListOrgs(ctx); return err },
			func() error { _, err := tx.GetAPIKeyByHash(ctx, []byte("h")); return err },
			func() error { _, err := tx.ListAPIKeys(ctx, "o"); return err },
			func() error { _, err := tx.GetApp(ctx, "o", "a"); return err },
			func() error { _, err := tx.ListApps(ctx, "o"); return err },
			func() error { _, err := tx.GetVersion(ctx, "o", "v"); return err },
			func() error { _, err := tx.ListVersions(ctx, "o", "a"); return err },
			func() error { _, err := tx.LatestVersionNumber(ctx, "o", "a"); return err },
			func() error { _, err := tx.GetDeployment(ctx, "o", "d"); return err },
			func() error { _, err := tx.ActiveDeployment(ctx, "o", "a", domain.EnvQA); return err },
			func() error { _, err := tx.ListDeployments(ctx, "o", "a"); return err },
			func() error { _, err := tx.GetResource(ctx, "o", "r"); return err },
			func() error { _, err := tx.ListResources(ctx, "o"); return err },
			func() error { _, err := tx.GetCustomer(ctx, "o", "c"); return err },
			func() error { _, _, err := tx.LatestInterval(ctx, "o", "i"); return err },
			func() error { _, _, err := tx.IntervalAt(ctx, "o", "i", at); return err },
			func() error { _, err := tx.CustomerIntervals(ctx, "o", "c"); return err },
			func() error { _, err := tx.GetConversation(ctx, "o", "c"); return err },
			func() error { _, err := tx.CustomerConversationIDs(ctx, "o", "c"); return err },
			func() error { _, err := tx.GetSession(ctx, "o", "s"); return err },
			func() error { _, err := tx.ListMessages(ctx, "o", "c", 0, 0); return err },
			func() error { _, err := tx.ListMessages(ctx, "o", "c", 3, 0); return err },
			func() error { _, err := tx.GetMessage(ctx, "o", "m"); return err },
			func() error { _, _, err := tx.MessageByClientID(ctx, "o", "r", "x"); return err },
			func() error { _, _, err := tx.GetRoute(ctx, "o", "r", "d"); return err },
			func() error { _, err := tx.LockConversation(ctx, "o", "c"); return err },
			func() error { _, err := tx.GetRun(ctx, "o", "r"); return err },
			func() error { _, err := tx.ListRuns(ctx, "o", "", 0); return err },
			func() error { _, err := tx.ListRuns(ctx, "o", "r", 0); return err },
			func() error { _, err := tx.ListEvents(ctx, "o", 0, 0); return err },
			func() error { _, _, err := tx.GetIdempotency(ctx, "o", "k"); return err },
		}
		filters := []domain.ConversationFilter{
			{Limit: 1},
			{Limit: 1, BeforeStartedAt: at, BeforeID: "c"},
			{Limit: 1, Status: domain.StatusLive},
			{Limit: 1, CustomerID: "c"},
			{Limit: 1, CustomerID: "c", BeforeStartedAt: at},
			{Limit: 1, DeploymentID: "d"},
			{Limit: 1, DeploymentID: "d", BeforeStartedAt: at},
			{Limit: 1, ResourceID: "r"},
			{Limit: 1, ExternalID: "e"},
			{Limit: 1, CustomerID: "c", Status: domain.StatusClosed},
		}
		for _, f := range filters {
			calls = append(calls, func() error { _, err := tx.ListConversations(ctx, "o", f); return err })
		}
		calls = append(calls, lookups(ctx, tx, at)...)
		for i, call := range calls {
			if err := call(); err != nil && !domain.IsNotFound(err) {
				return fmt.Errorf("read %d: %w", i, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// writeAll calls every write method in a transaction it rolls back.
func writeAll(ctx context.Context, t *testing.T, db *DB) {
	at := time.Unix(1, 0)
	rollback := errors.New("rollback")
	err := db.Update(ctx, func(tx domain.Tx) error {
		calls := []func() error{
			func() error { return tx.CreateOrg(ctx, domain.Organization{ID: "o"}) },
			func() error { return tx.SetOrgLicense(ctx, "o", "t") },
			func() error { return tx.CreateAPIKey(ctx, domain.APIKey{ID: "k", OrgID: "o", Hash: []byte("h")}) },
			func() error { return tx.RevokeAPIKey(ctx, "o", "k", at) },
			func() error { return tx.CreateApp(ctx, domain.App{ID: "a", OrgID: "o"}) },
			func() error {
				return tx.CreateVersion(ctx, domain.AppVersion{ID: "v", OrgID: "o", AppID: "a", Definition: []byte("{}")})
			},
			func() error {
				return tx.CreateDeployment(ctx, domain.Deployment{ID: "d", OrgID: "o", AppID: "a", VersionID: "v"})
			},
			func() error { return tx.ReplaceDeployment(ctx, "o", "d", at) },
			func() error { return tx.CreateResource(ctx, domain.ChannelResource{ID: "r", OrgID: "o"}) },
			func() error { return tx.CreateCustomer(ctx, domain.Customer{ID: "c", OrgID: "o"}) },
			func() error { return tx.SetCustomerIdentifier(ctx, "o", "c", "i", at) },
			func() error {
				return tx.OpenInterval(ctx, domain.IdentifierInterval{OrgID: "o", CustomerID: "c", Identifier: "i", ValidFrom: at})
			},
			func() error { return tx.CloseInterval(ctx, "o", "c", "i", at) },
			func() error {
				return tx.CreateConversation(ctx, domain.Conversation{ID: "cv", OrgID: "o", DeploymentID: "d", ResourceID: "r", CustomerID: "c"})
			},
			func() error { return tx.CloseConversation(ctx, "o", "cv", at) },
			func() error { return tx.CreateSession(ctx, domain.Session{ID: "s", OrgID: "o"}) },
			func() error { return tx.SetSessionVariables(ctx, "o", "s", map[string]any{}, at) },
			func() error {
				_, err := tx.AppendMessage(ctx, domain.Message{ID: "m", OrgID: "o", ConversationID: "cv", ClientID: "x"})
				return err
			},
			func() error { return tx.SetRoute(ctx, "o", "r", "d", "cv") },
			func() error { return tx.SetRoute(ctx, "o", "r", "d", "cv") },
			func() error { return tx.RecordRun(ctx, domain.OperationRun{ID: "r", OrgID: "o"}) },
			func() error { return tx.AppendEvent(ctx, domain.Event{OrgID: "o"}) },
			func() error { return tx.PutIdempotency(ctx, domain.IdempotencyRecord{OrgID: "o", Key: "k"}) },
			func() error { return tx.CompleteIdempotency(ctx, "o", "k", 200, nil) },
			func() error { return tx.DeleteIdempotency(ctx, "o", "k") },
			func() error { return tx.RecordRuns(ctx, []domain.OperationRun{{ID: "r2", OrgID: "o"}}) },
			func() error { _, err := tx.LockConversation(ctx, "o", "cv"); return err },
			func() error { _, err := tx.LockCustomer(ctx, "o", "c"); return err },
			func() error { _, err := tx.DeleteRunsBefore(ctx, at, 10); return err },
			func() error { _, err := tx.DeleteEventsBefore(ctx, at, 10); return err },
			func() error { _, err := tx.DeleteIdempotencyBefore(ctx, at, 10); return err },
			func() error { _, _, err := tx.DeleteWebhookDeliveriesBefore(ctx, at, 10); return err },
			func() error { _, err := tx.ClaimWebhookDeliveries(ctx, at, at, "l", 10); return err },
			func() error {
				_, err := tx.FinishWebhookAttempts(ctx, []domain.WebhookFinish{{Lease: "l", Delivery: domain.WebhookDelivery{
					OrgID: "o", EndpointID: "e", EventSeq: 1, State: domain.DeliveryDelivered}}})
				return err
			},
		}
		for i, call := range calls {
			if err := call(); err != nil {
				return fmt.Errorf("write %d: %w", i, err)
			}
		}
		return rollback
	})
	if !errors.Is(err, rollback) {
		t.Fatal(err)
	}
}

// lookups are the calls of the LookupTx methods, with each filter.
func lookups(ctx context.Context, tx domain.Tx, at time.Time) []func() error {
	var calls []func() error
	for _, f := range []domain.HolderFilter{
		{Identifier: "i", Limit: 1},
		{Identifier: "i", Limit: 1, AfterValidFrom: at, AfterPosition: 3},
	} {
		calls = append(calls, func() error { _, err := tx.IdentifierHolders(ctx, "o", f); return err })
	}
	for _, f := range []domain.CustomerFilter{
		{Limit: 1},
		{Limit: 1, BeforeCreatedAt: at, BeforeID: "c"},
		{Limit: 1, Identifier: "i"},
	} {
		calls = append(calls, func() error { _, err := tx.ListCustomers(ctx, "o", f); return err })
	}
	for _, f := range []domain.EventFilter{
		{Limit: 1, Types: []string{"a"}},
		{Limit: 1, Types: []string{"a", "b"}},
		{Limit: 1, CustomerID: "c"},
		{Limit: 1, ConversationID: "cv"},
		{Limit: 1, CustomerID: "c", Types: []string{"a"}},
		{Limit: 1, CustomerID: "c", ConversationID: "cv", After: 3},
	} {
		calls = append(calls, func() error { _, err := tx.FilterEvents(ctx, "o", f); return err })
	}
	return calls
}
