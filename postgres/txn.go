package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parleyhq/parley/domain"
)

// Retry policy of Update: at most maxAttempts runs of fn; after failed
// attempt n it sleeps 1 ms plus a random duration below
// min(maxBackoff, baseBackoff·2ⁿ⁻¹), so raced writers spread out.
const (
	maxAttempts = 10
	baseBackoff = 2 * time.Millisecond
	maxBackoff  = 200 * time.Millisecond
)

// SQLSTATE codes that mark a transaction worth running again.
const (
	sqlstateSerializationFailure = "40001"
	sqlstateDeadlockDetected     = "40P01"
	sqlstateUniqueViolation      = "23505"
)

var (
	viewOptions   = pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}
	updateOptions = pgx.TxOptions{IsoLevel: pgx.Serializable, AccessMode: pgx.ReadWrite}
)

// View runs fn in a READ ONLY, REPEATABLE READ transaction: one consistent
// snapshot. Writes inside fn fail. fn's error is returned as is.
func (db *DB) View(ctx context.Context, fn func(domain.Tx) error) error {
	t, err := db.begin(ctx, viewOptions)
	if err != nil {
		return err
	}
	defer t.rollback()
	if err := fn(t); err != nil {
		return err
	}
	if err := t.pg.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: commit: %w", err)
	}
	return nil
}

// Update runs fn in a SERIALIZABLE read-write transaction and commits when
// fn returns nil. On a serialization failure, a deadlock or a unique
// violation it rolls back and runs fn again with jittered backoff; after
// maxAttempts runs it returns CodeConflict. A *domain.Error returned by fn
// is returned untouched, without retrying; other errors are returned as is
// (they classify as CodeInternal).
func (db *DB) Update(ctx context.Context, fn func(domain.Tx) error) error {
	return db.retry(ctx, func() (bool, error) { return db.updateOnce(ctx, fn) })
}

// UpdateOrg is Update serialized with every other UpdateOrg of org, in all
// processes on the database: each attempt takes a session-level advisory
// lock of the org on its connection BEFORE the transaction begins, so the
// transaction's snapshot is taken after every earlier writer of the org
// committed. Writers of one org then never overlap, and SERIALIZABLE has no
// reason to fail one of them (its predicate locks cover whole index pages,
// so writers of different customers would otherwise conflict under load).
func (db *DB) UpdateOrg(ctx context.Context, org domain.OrgID, fn func(domain.Tx) error) error {
	return db.retry(ctx, func() (bool, error) { return db.updateOrgOnce(ctx, org, fn) })
}

// retry runs once until it succeeds, fails for good, or conflicted
// maxAttempts times (then CodeConflict).
func (db *DB) retry(ctx context.Context, once func() (retry bool, err error)) error {
	for attempt := 1; ; attempt++ {
		retry, err := once()
		if !retry {
			return err
		}
		if attempt == maxAttempts {
			return domain.Errorf(domain.CodeConflict,
				"transaction conflicted with concurrent writers %d times; try again", maxAttempts)
		}
		if err := sleep(ctx, backoff(attempt)); err != nil {
			return err
		}
	}
}

// updateOnce runs fn in one transaction and reports whether the outcome is
// a transient conflict worth another attempt.
func (db *DB) updateOnce(ctx context.Context, fn func(domain.Tx) error) (retry bool, err error) {
	t, err := db.begin(ctx, updateOptions)
	if err != nil {
		return retryable(err), err
	}
	return t.run(ctx, fn)
}

// lockOrg is the namespace (first key) of the session advisory lock that
// serializes the writers of an org.
const lockOrg int32 = 0x50_4f_52_01 // "POR", 1

// updateOrgOnce holds org's advisory lock on one connection around one
// transaction.
func (db *DB) updateOrgOnce(ctx context.Context, org domain.OrgID, fn func(domain.Tx) error) (retry bool, err error) {
	// Writers of org in this process queue here, in Go, so that they do not
	// each hold a pool connection while waiting for the database lock.
	release, err := db.orgGates.enter(ctx, org)
	if err != nil {
		return false, err
	}
	defer release()
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return retryable(err), fmt.Errorf("postgres: acquire: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1, hashtext($2))`, lockOrg, string(org)); err != nil {
		return retryable(err), fmt.Errorf("postgres: lock org: %w", err)
	}
	defer unlockOrg(conn, org)
	pgTx, err := conn.BeginTx(ctx, updateOptions)
	if err != nil {
		return retryable(err), fmt.Errorf("postgres: begin: %w", err)
	}
	return (&tx{pg: pgTx, lockedOrg: org}).run(ctx, fn)
}

// unlockOrg releases org's lock; if that fails, the connection is closed
// (which releases it) rather than going back to the pool still holding it.
func unlockOrg(conn *pgxpool.Conn, org domain.OrgID) {
	var released bool
	err := conn.QueryRow(context.Background(), `SELECT pg_advisory_unlock($1, hashtext($2))`, lockOrg, string(org)).Scan(&released)
	if err != nil || !released {
		conn.Conn().Close(context.Background())
	}
}

// run runs fn in t, commits, and reports whether a failure is a transient
// conflict worth another attempt.
func (t *tx) run(ctx context.Context, fn func(domain.Tx) error) (retry bool, err error) {
	defer t.rollback()
	if err := fn(t); err != nil {
		var domainErr *domain.Error
		if errors.As(err, &domainErr) {
			return false, err
		}
		return t.retryable(err), err
	}
	if err := t.commit(ctx); err != nil {
		return t.retryable(err), fmt.Errorf("postgres: commit: %w", err)
	}
	return false, nil
}

func (db *DB) begin(ctx context.Context, opts pgx.TxOptions) (*tx, error) {
	pgTx, err := db.pool.BeginTx(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("postgres: begin: %w", err)
	}
	return &tx{pg: pgTx, readOnly: opts.AccessMode == pgx.ReadOnly}, nil
}

// retryable reports whether err carries a SQLSTATE of a transient conflict.
func retryable(err error) bool {
	switch sqlstate(err) {
	case sqlstateSerializationFailure, sqlstateDeadlockDetected, sqlstateUniqueViolation:
		return true
	}
	return false
}

// sqlstate returns the SQLSTATE of the PostgreSQL error in err's chain, or "".
func sqlstate(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// backoff returns the jittered pause after the given failed attempt.
func backoff(attempt int) time.Duration {
	ceiling := maxBackoff
	if attempt < 10 {
		ceiling = min(maxBackoff, baseBackoff<<(attempt-1))
	}
	return rand.N(ceiling) + time.Millisecond
}

func sleep(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// tx implements domain.Tx on one pgx transaction. It remembers the first
// database error, because after any error PostgreSQL aborts the whole
// transaction: if fn swallows a unique violation, later statements (or the
// commit) fail with other codes, and the transaction must still be retried.
type tx struct {
	pg       pgx.Tx
	firstErr error
	// lockedOrg is the org whose writers UpdateOrg serialized around this
	// transaction ("" in Update): its sequence locks are not needed.
	lockedOrg domain.OrgID
	// readOnly marks a View's transaction (Notify refuses to run in it).
	readOnly bool
}

var _ domain.Tx = (*tx)(nil)

func (t *tx) rollback() { _ = t.pg.Rollback(context.Background()) }

// commitTimeout bounds a COMMIT once sent.
const commitTimeout = 30 * time.Second

// commit commits without the caller's cancellation: a request cancelled
// while its COMMIT is in flight would otherwise be told it failed when the
// transaction committed (and a retry with its Idempotency-Key would run it
// twice).
func (t *tx) commit(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
	defer cancel()
	return t.pg.Commit(ctx)
}

// retryable reports whether the transaction failed with err, or earlier
// with a swallowed error, because of a transient conflict.
func (t *tx) retryable(err error) bool { return retryable(err) || retryable(t.firstErr) }

// note records the first database error of the transaction and returns err.
func (t *tx) note(err error) error {
	if err != nil && t.firstErr == nil && sqlstate(err) != "" {
		t.firstErr = err
	}
	return err
}

func (t *tx) exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	tag, err := t.pg.Exec(ctx, sql, args...)
	return tag, t.note(err)
}

// execOne runs a write that must touch a row; none is CodeNotFound.
func (t *tx) execOne(ctx context.Context, kind string, id any, sql string, args ...any) error {
	tag, err := t.exec(ctx, sql, args...)
	if err != nil {
		return fmt.Errorf("postgres: %s %v: %w", kind, id, err)
	}
	if tag.RowsAffected() == 0 {
		return domain.NotFound(kind, id)
	}
	return nil
}

func (t *tx) query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	rows, err := t.pg.Query(ctx, sql, args...)
	return rows, t.note(err)
}

// find scans the first row of sql with scan; found is false when there is
// no row.
func find[T any](ctx context.Context, t *tx, scan func(row scanner) (T, error), sql string, args ...any) (item T, found bool, err error) {
	item, err = scan(t.pg.QueryRow(ctx, sql, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return item, false, nil
	}
	if err != nil {
		return item, false, t.note(fmt.Errorf("postgres: %w", err))
	}
	return item, true, nil
}

// get scans the row of sql with scan, or returns NotFound(kind, id).
func get[T any](ctx context.Context, t *tx, kind string, id any, scan func(row scanner) (T, error), sql string, args ...any) (T, error) {
	item, found, err := find(ctx, t, scan, sql, args...)
	if err == nil && !found {
		err = domain.NotFound(kind, id)
	}
	return item, err
}

// collect runs sql and scans every row with scan; no rows is a nil slice.
func collect[T any](ctx context.Context, t *tx, scan func(row scanner) (T, error), sql string, args ...any) ([]T, error) {
	rows, err := t.query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	items, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (T, error) { return scan(row) })
	if err != nil {
		return nil, t.note(fmt.Errorf("postgres: %w", err))
	}
	if len(items) == 0 {
		return nil, nil
	}
	return items, nil
}

// scanner is a row to scan: pgx.Row or pgx.CollectableRow.
type scanner interface{ Scan(dest ...any) error }

// orgGates lets one writer per org and process at a time wait for, and
// hold, the org's database lock.
type orgGates struct{ gates sync.Map } // domain.OrgID -> chan struct{} (capacity 1)

// enter waits for org's gate (in arrival order) and returns its release.
func (g *orgGates) enter(ctx context.Context, org domain.OrgID) (release func(), err error) {
	v, _ := g.gates.LoadOrStore(org, make(chan struct{}, 1))
	gate := v.(chan struct{})
	select {
	case gate <- struct{}{}:
		return func() { <-gate }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
