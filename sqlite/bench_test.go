package sqlite_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/service"
	"github.com/parleyhq/parley/sqlite"
	"github.com/parleyhq/parley/storetest"
)

// The benchmarks compare the store path (service.Run on the SQLite
// backend: validation, licence check, run recording) with hand-written SQL
// writing the same rows in one transaction on the same database file.
// docs/PERFORMANCE.md records the results and the command.

// rawDSN opens the file the way the store's writer does.
func rawDSN(path string, sync sqlite.Synchronous) string {
	return "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)" +
		"&_pragma=synchronous(" + string(sync) + ")&_pragma=foreign_keys(1)&_txlock=immediate"
}

// benchWorld is a migrated store with a World, plus a raw connection to the
// same file.
type benchWorld struct {
	*storetest.World
	db  *sqlite.DB
	raw *sql.DB
}

func newBenchWorld(b *testing.B) benchWorld {
	b.Helper()
	return newBenchWorldSync(b, sqlite.SyncFull)
}

// newBenchWorldSync is newBenchWorld with synchronous set to sync on the
// store and the raw connection.
func newBenchWorldSync(b *testing.B, sync sqlite.Synchronous) benchWorld {
	b.Helper()
	path := filepath.Join(b.TempDir(), "bench.db")
	db, err := sqlite.Open(context.Background(), path, sqlite.WithSynchronous(sync))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	if err := db.Migrate(context.Background()); err != nil {
		b.Fatal(err)
	}
	raw, err := sql.Open("sqlite", rawDSN(path, sync))
	if err != nil {
		b.Fatal(err)
	}
	raw.SetMaxOpenConns(1)
	b.Cleanup(func() { raw.Close() })
	return benchWorld{World: storetest.NewWorld(b, db), db: db, raw: raw}
}

// BenchmarkUpdateCustomerIdentifier: see storetest.BenchUpdateCustomerIdentifier;
// with synchronous FULL (the default) and NORMAL, store and raw alike.
func BenchmarkUpdateCustomerIdentifier(b *testing.B) {
	for _, sync := range []sqlite.Synchronous{sqlite.SyncFull, sqlite.SyncNormal} {
		b.Run("synchronous="+string(sync), func(b *testing.B) {
			w := newBenchWorldSync(b, sync)
			storetest.BenchUpdateCustomerIdentifier(b, w.World, func(conv domain.ConversationID, ident string) error {
				return rawUpdate(w, conv, ident)
			})
		})
	}
}

// rawUpdate is update_customer_identifier by hand: the reads a correct
// implementation needs (conversation, customer, current holder) and the
// same writes as the store.
func rawUpdate(w benchWorld, conv domain.ConversationID, ident string) error {
	ctx, org, now := context.Background(), w.Org, w.Clock.Now().UnixMicro()
	tx, err := w.raw.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var deployment sql.NullString
	var status, customer string
	if err := tx.QueryRowContext(ctx, `SELECT deployment_id, status, customer_id FROM conversations WHERE id = ? AND org_id = ?`,
		conv, org).Scan(&deployment, &status, &customer); err != nil {
		return err
	}
	var current string
	var since int64
	if err := tx.QueryRowContext(ctx, `SELECT identifier, identifier_since FROM customers WHERE id = ? AND org_id = ?`,
		customer, org).Scan(&current, &since); err != nil {
		return err
	}
	var holder string
	var validTo sql.NullInt64
	err = tx.QueryRowContext(ctx, `SELECT customer_id, valid_to FROM identifier_intervals
		WHERE org_id = ? AND identifier = ? ORDER BY valid_from DESC LIMIT 1`, org, ident).Scan(&holder, &validTo)
	if err != nil && err != sql.ErrNoRows {
		return err
	}
	if err == nil && !validTo.Valid {
		return fmt.Errorf("%s is taken", ident)
	}
	// The change must come after the customer's newest conversation.
	var newest int64
	if err := tx.QueryRowContext(ctx, `SELECT started_at FROM conversations WHERE org_id = ? AND customer_id = ?
		ORDER BY started_at DESC, id DESC LIMIT 1`, org, customer).Scan(&newest); err != nil {
		return err
	}
	stmts := []struct {
		query string
		args  []any
	}{
		{`UPDATE identifier_intervals SET valid_to = ? WHERE org_id = ? AND customer_id = ? AND identifier = ? AND valid_to IS NULL`,
			[]any{now, org, customer, current}},
		{`INSERT INTO identifier_intervals (org_id, customer_id, identifier, valid_from) VALUES (?, ?, ?, ?)`,
			[]any{org, customer, ident, now}},
		{`UPDATE customers SET identifier = ?, identifier_since = ? WHERE id = ? AND org_id = ?`,
			[]any{ident, now, customer, org}},
		{`INSERT INTO events (org_id, type, subject, payload, created_at) VALUES (?, ?, ?, ?, ?)`,
			[]any{org, domain.EventCustomerIdentifierChanged, customer, mustJSON(map[string]any{
				"customerId": customer, "previous": current, "identifier": ident, "conversationId": string(conv)}), now}},
		rawRun(w, service.OpUpdateCustomerIdentifier, map[string]any{"conversationId": string(conv), "customerIdentifier": ident},
			"customer-identifier", true, now),
	}
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s.query, s.args...); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// rawRun is the operation_runs insert the store makes for every run.
func rawRun(w benchWorld, name string, inputs map[string]any, variable string, output any, now int64) struct {
	query string
	args  []any
} {
	return struct {
		query string
		args  []any
	}{
		`INSERT INTO operation_runs (id, org_id, kind, name, session_id, inputs, variable, output, error_code, error_message,
			duration_us, started_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		[]any{w.IDs.NewID("run"), w.Org, domain.KindDataOperation, name, "", mustJSON(inputs), variable,
			mustJSON(output), "", "", 1, now},
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// BenchmarkFindConversations: see storetest.BenchFindConversations.
func BenchmarkFindConversations(b *testing.B) {
	storetest.BenchFindConversations(b, func(b *testing.B, customers int) (*storetest.World, func(string) ([]string, error)) {
		w := newBenchWorld(b)
		if err := seedConversations(w, customers); err != nil {
			b.Fatal(err)
		}
		return w.World, func(ident string) ([]string, error) { return rawFind(w, ident) }
	})
}

// rawFind resolves the current holder, lists its conversations newest
// first and records the run, in one transaction as the store does.
func rawFind(w benchWorld, ident string) ([]string, error) {
	ctx, org := context.Background(), w.Org
	tx, err := w.raw.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var customer string
	var validTo sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT customer_id, valid_to FROM identifier_intervals
		WHERE org_id = ? AND identifier = ? ORDER BY valid_from DESC LIMIT 1`, org, ident).Scan(&customer, &validTo); err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT id FROM conversations WHERE org_id = ? AND customer_id = ?
		ORDER BY started_at DESC, id DESC`, org, customer)
	if err != nil {
		return nil, err
	}
	ids := []string{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	run := rawRun(w, service.OpFindConversations, map[string]any{"customerIdentifier": ident}, "conversation-ids", ids, w.Clock.Now().UnixMicro())
	if _, err := tx.ExecContext(ctx, run.query, run.args...); err != nil {
		return nil, err
	}
	return ids, tx.Commit()
}

// seedConversations seeds storetest.SeedPlan(w, customers) with the
// store's Seed.
func seedConversations(w benchWorld, customers int) error {
	return w.db.Seed(context.Background(), storetest.SeedPlan(w.World, customers), nil)
}
