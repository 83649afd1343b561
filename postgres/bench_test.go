package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/postgres"
	"github.com/parleyhq/parley/postgres/pgtestdb"
	"github.com/parleyhq/parley/service"
	"github.com/parleyhq/parley/storetest"
)

// The benchmarks compare the store path (service.Run on the PostgreSQL
// backend: validation, licence check, run recording) with hand-written SQL
// doing the same reads, taking the same locks and writing the same rows in
// one transaction, at the isolation level of the store's transactions,
// through a pool of its own on the same database. They mirror
// sqlite/bench_test.go; docs/PERFORMANCE.md records the results and the
// command. They skip unless PARLEY_TEST_POSTGRES is set.

// rawTxOptions are the options of the store's write transactions, and
// rawViewOptions those of its reads.
var (
	rawTxOptions   = pgx.TxOptions{IsoLevel: pgx.ReadCommitted, AccessMode: pgx.ReadWrite}
	rawViewOptions = pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}
)

// benchWorld is a migrated store with a World, plus a raw pool on the same
// database.
type benchWorld struct {
	*storetest.World
	db  *postgres.DB
	raw *pgxpool.Pool
}

func newBenchWorld(b *testing.B) benchWorld {
	b.Helper()
	ctx := context.Background()
	url := pgtestdb.New(b)
	db, err := postgres.Open(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	raw, err := pgxpool.New(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(raw.Close)
	return benchWorld{World: storetest.NewWorld(b, db), db: db, raw: raw}
}

// BenchmarkUpdateCustomerIdentifier: see storetest.BenchUpdateCustomerIdentifier.
func BenchmarkUpdateCustomerIdentifier(b *testing.B) {
	w := newBenchWorld(b)
	storetest.BenchUpdateCustomerIdentifier(b, w.World, func(conv domain.ConversationID, ident string) error {
		return rawUpdate(w, conv, ident)
	})
}

// rawUpdate is update_customer_identifier by hand: the reads a correct
// implementation needs (conversation, customer, current holder) and the
// same writes as the store.
func rawUpdate(w benchWorld, conv domain.ConversationID, ident string) error {
	ctx, org, now := context.Background(), string(w.Org), w.Clock.Now().UTC().Truncate(time.Microsecond)
	tx, err := w.raw.BeginTx(ctx, rawTxOptions)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	var deployment *string
	var status, customer string
	if err := tx.QueryRow(ctx, `SELECT deployment_id, status, customer_id FROM conversations WHERE id = $1 AND org_id = $2`,
		conv, org).Scan(&deployment, &status, &customer); err != nil {
		return err
	}
	var current *string
	var since *time.Time
	if err := tx.QueryRow(ctx, `SELECT identifier, identifier_since FROM customers WHERE id = $1 AND org_id = $2 FOR NO KEY UPDATE`,
		customer, org).Scan(&current, &since); err != nil {
		return err
	}
	locks := []int64{rawLockID(org, ident), rawLockID(org, *current)}
	slices.Sort(locks)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1), pg_advisory_xact_lock($2)`, locks[0], locks[1]); err != nil {
		return err
	}
	var holder string
	var validTo *time.Time
	err = tx.QueryRow(ctx, `SELECT customer_id, valid_to FROM identifier_intervals
		WHERE org_id = $1 AND identifier = $2 ORDER BY valid_from DESC LIMIT 1`, org, ident).Scan(&holder, &validTo)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	if err == nil && validTo == nil {
		return fmt.Errorf("%s is taken", ident)
	}
	// The change must come after the customer's newest conversation.
	var newest time.Time
	if err := tx.QueryRow(ctx, `SELECT started_at FROM conversations WHERE org_id = $1 AND customer_id = $2
		ORDER BY started_at DESC, id DESC LIMIT 1`, org, customer).Scan(&newest); err != nil {
		return err
	}
	stmts := []rawStatement{
		{`UPDATE identifier_intervals SET valid_to = $1 WHERE org_id = $2 AND customer_id = $3 AND identifier = $4 AND valid_to IS NULL`,
			[]any{now, org, customer, *current}},
		{`INSERT INTO identifier_intervals (org_id, customer_id, identifier, valid_from) VALUES ($1, $2, $3, $4)`,
			[]any{org, customer, ident, now}},
		{`UPDATE customers SET identifier = $1, identifier_since = $2 WHERE id = $3 AND org_id = $4`,
			[]any{ident, now, customer, org}},
		{`INSERT INTO events (seq, org_id, type, subject, payload, created_at)
			VALUES (pg_current_xact_id()::text::bigint << 16, $1, $2, $3, $4, $5)`,
			[]any{org, domain.EventCustomerIdentifierChanged, customer, mustJSON(map[string]any{
				"customerId": customer, "previous": *current, "identifier": ident, "conversationId": string(conv)}), now}},
		rawRun(w, service.OpUpdateCustomerIdentifier, map[string]any{"conversationId": string(conv), "customerIdentifier": ident},
			"customer-identifier", true, now),
	}
	for _, s := range stmts {
		if _, err := tx.Exec(ctx, s.query, s.args...); err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}

// rawLockID is the advisory lock id of an identifier (postgres/locks.go).
func rawLockID(org, identifier string) int64 {
	h := fnv.New64a()
	h.Write([]byte(org + "\x00" + domain.IdentifierKey(identifier)))
	return int64(h.Sum64())
}

// rawStatement is one statement of a raw transaction.
type rawStatement struct {
	query string
	args  []any
}

// rawRun is the operation_runs insert the store makes for every run.
func rawRun(w benchWorld, name string, inputs map[string]any, variable string, output any, now time.Time) rawStatement {
	return rawStatement{
		`INSERT INTO operation_runs (id, org_id, kind, name, session_id, inputs, variable, output, error_code, error_message,
			duration_us, started_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		[]any{w.IDs.NewID("run"), string(w.Org), string(domain.KindDataOperation), name, "", mustJSON(inputs), variable,
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
	ctx, org := context.Background(), string(w.Org)
	tx, err := w.raw.BeginTx(ctx, rawTxOptions)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(ctx)
	var customer string
	var validTo *time.Time
	if err := tx.QueryRow(ctx, `SELECT customer_id, valid_to FROM identifier_intervals
		WHERE org_id = $1 AND identifier = $2 ORDER BY valid_from DESC LIMIT 1`, org, ident).Scan(&customer, &validTo); err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, `SELECT id FROM conversations WHERE org_id = $1 AND customer_id = $2
		ORDER BY started_at DESC, id DESC`, org, customer)
	if err != nil {
		return nil, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	run := rawRun(w, service.OpFindConversations, map[string]any{"customerIdentifier": ident}, "conversation-ids", ids,
		w.Clock.Now().UTC().Truncate(time.Microsecond))
	if _, err := tx.Exec(ctx, run.query, run.args...); err != nil {
		return nil, err
	}
	return ids, tx.Commit(ctx)
}

// seedConversations seeds storetest.SeedPlan(w, customers) with the
// store's Seed (COPY, then VACUUM ANALYZE).
func seedConversations(w benchWorld, customers int) error {
	return w.db.Seed(context.Background(), storetest.SeedPlan(w.World, customers), nil)
}
