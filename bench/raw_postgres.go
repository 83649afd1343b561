package bench

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parleyhq/parley/domain"
)

// RawPostgres runs the two operations as hand-written SQL on the store's
// PostgreSQL database, for the baselines of seeded runs: the update at
// READ COMMITTED with the row and advisory locks the store takes and no
// org-wide lock, writing the same rows (its run record included); the
// find in a READ ONLY, REPEATABLE READ transaction, without the run record
// the store writes off the request path. Statements are prepared once per
// connection (pgx's statement cache).
type RawPostgres struct {
	org  string
	pool *pgxpool.Pool
}

var _ Target = (*RawPostgres)(nil)

var (
	rawUpdateOptions = pgx.TxOptions{IsoLevel: pgx.ReadCommitted, AccessMode: pgx.ReadWrite}
	rawFindOptions   = pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}
)

// OpenRawPostgres connects a pool of conns connections to url. Close it
// after use.
func OpenRawPostgres(ctx context.Context, url string, org domain.OrgID, conns int) (*RawPostgres, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = int32(conns)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &RawPostgres{org: string(org), pool: pool}, nil
}

// Close closes the pool.
func (r *RawPostgres) Close() { r.pool.Close() }

// Name returns "raw SQL".
func (r *RawPostgres) Name() string { return "raw SQL" }

// Update moves the customer of conversation to identifier in one
// transaction: the conversation, the customer locked, the advisory locks
// of both identifiers in hash order, the reads a correct implementation
// needs, then the same rows as the store.
func (r *RawPostgres) Update(ctx context.Context, _ int, conversation, identifier string) error {
	tx, err := r.pool.BeginTx(ctx, rawUpdateOptions)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	var deployment *string
	var status, customer, current string
	var since time.Time
	if err := tx.QueryRow(ctx, `SELECT deployment_id, status, customer_id FROM conversations WHERE id = $1 AND org_id = $2`,
		conversation, r.org).Scan(&deployment, &status, &customer); err != nil {
		return err
	}
	if err := tx.QueryRow(ctx, `SELECT identifier, identifier_since FROM customers WHERE id = $1 AND org_id = $2 FOR NO KEY UPDATE`,
		customer, r.org).Scan(&current, &since); err != nil {
		return err
	}
	locks := []int64{r.lockID(identifier), r.lockID(current)}
	slices.Sort(locks)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1), pg_advisory_xact_lock($2)`, locks[0], locks[1]); err != nil {
		return err
	}
	at := time.Now().UTC().Truncate(time.Microsecond)
	var holder string
	var validTo *time.Time
	err = tx.QueryRow(ctx, `SELECT customer_id, valid_to FROM identifier_intervals
		WHERE org_id = $1 AND identifier = $2 ORDER BY valid_from DESC LIMIT 1`, r.org, identifier).Scan(&holder, &validTo)
	switch {
	case err != nil && !errors.Is(err, pgx.ErrNoRows):
		return err
	case err == nil && validTo == nil:
		return fmt.Errorf("%s is held by %s", identifier, holder)
	case err == nil:
		at = laterOf(at, *validTo)
	}
	var newest time.Time
	if err := tx.QueryRow(ctx, `SELECT started_at FROM conversations WHERE org_id = $1 AND customer_id = $2
		ORDER BY started_at DESC, id DESC LIMIT 1`, r.org, customer).Scan(&newest); err != nil {
		return err
	}
	at = laterOf(laterOf(at, since), newest.Add(time.Microsecond))
	event, run, err := rawRecords(r.org, customer, current, identifier, conversation)
	if err != nil {
		return err
	}
	for _, s := range []struct {
		query string
		args  []any
	}{
		{`UPDATE identifier_intervals SET valid_to = $1 WHERE org_id = $2 AND customer_id = $3 AND identifier = $4 AND valid_to IS NULL`,
			[]any{at, r.org, customer, current}},
		{`INSERT INTO identifier_intervals (org_id, customer_id, identifier, valid_from) VALUES ($1, $2, $3, $4)`,
			[]any{r.org, customer, identifier, at}},
		{`UPDATE customers SET identifier = $1, identifier_since = $2 WHERE id = $3 AND org_id = $4`,
			[]any{identifier, at, customer, r.org}},
		{`INSERT INTO events (seq, org_id, type, subject, payload, created_at)
			VALUES (pg_current_xact_id()::text::bigint << 16, $1, $2, $3, $4, $5)`,
			[]any{r.org, domain.EventCustomerIdentifierChanged, customer, event, at}},
		{`INSERT INTO operation_runs (id, org_id, kind, name, session_id, inputs, variable, output, error_code, error_message,
			duration_us, started_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`, append(run, at)},
	} {
		if _, err := tx.Exec(ctx, s.query, s.args...); err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}

// Find lists the conversations of identifier's current holder, newest
// first, in one read-only transaction.
func (r *RawPostgres) Find(ctx context.Context, _ int, identifier string) ([]string, error) {
	tx, err := r.pool.BeginTx(ctx, rawFindOptions)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(ctx)
	var customer string
	var validTo *time.Time
	err = tx.QueryRow(ctx, `SELECT customer_id, valid_to FROM identifier_intervals
		WHERE org_id = $1 AND identifier = $2 ORDER BY valid_from DESC LIMIT 1`, r.org, identifier).Scan(&customer, &validTo)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && validTo != nil) {
		return []string{}, tx.Commit(ctx)
	}
	if err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, `SELECT id FROM conversations WHERE org_id = $1 AND customer_id = $2
		ORDER BY started_at DESC, id DESC`, r.org, customer)
	if err != nil {
		return nil, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	return ids, tx.Commit(ctx)
}

// lockID is the advisory lock id the store takes for identifier
// (postgres/locks.go).
func (r *RawPostgres) lockID(identifier string) int64 {
	h := fnv.New64a()
	h.Write([]byte(r.org + "\x00" + domain.IdentifierKey(identifier)))
	return int64(h.Sum64())
}

func laterOf(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
