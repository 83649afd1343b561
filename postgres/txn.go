package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/parleyhq/parley/domain"
)

// Retry policy of Update and View. A transaction that failed on a
// transient conflict runs again after a jittered pause (1 ms plus a random
// duration below min(maxBackoff, baseBackoff·2ⁿ⁻¹)), at most
// maxAttempts times in all. One that lost its connection before COMMIT was
// sent runs again at once on another connection, at most maxLostAttempts
// times (a killed server process leaves every pooled connection dead); one
// that found the database unreachable tries again after unreachablePause,
// at most maxUnreachableAttempts times, and then answers CodeUnavailable.
const (
	maxAttempts            = 10
	baseBackoff            = 2 * time.Millisecond
	maxBackoff             = 200 * time.Millisecond
	maxLostAttempts        = DefaultMaxConns + 2
	maxUnreachableAttempts = 3
	unreachablePause       = 200 * time.Millisecond
)

// SQLSTATE codes that mark a transaction worth running again.
const (
	sqlstateSerializationFailure = "40001"
	sqlstateDeadlockDetected     = "40P01"
	sqlstateUniqueViolation      = "23505"
)

const (
	// beginView: one snapshot for the whole read; REPEATABLE READ takes
	// no predicate locks, and READ ONLY refuses writes.
	beginView = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
	// beginUpdate: READ COMMITTED; fn takes the row and advisory locks
	// that protect what it reads (domain.Store, "Isolation").
	beginUpdate = "BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE"
)

// failure is why an attempt failed, as far as retrying is concerned.
type failure int

const (
	failFinal       failure = iota // success, or an error not worth retrying
	failConflict                   // a transient conflict: run again after a pause
	failLost                       // the connection broke before COMMIT was sent
	failUnreachable                // no connection could be made
)

// View runs fn in a READ ONLY, REPEATABLE READ transaction: one consistent
// snapshot, no predicate locks, and writes inside fn fail. A connection
// lost during the read runs it again on another one. fn's error is
// returned as is.
func (db *DB) View(ctx context.Context, fn func(domain.Tx) error) error {
	return db.view(ctx, false, fn)
}

// ViewLatest is View with each multi-row query in a READ ONLY transaction
// of its own, sent in one pipeline with its BEGIN, the statements waiting
// to go out (a key check) and its COMMIT: a read of one statement is one
// round trip.
func (db *DB) ViewLatest(ctx context.Context, fn func(domain.Tx) error) error {
	return db.view(ctx, true, fn)
}

func (db *DB) view(ctx context.Context, eachQuery bool, fn func(domain.Tx) error) error {
	return db.retry(ctx, func() (failure, error) {
		t, err := db.begin(ctx, beginView)
		if err != nil {
			return connectionFailure(err), err
		}
		t.eachQuery = eachQuery
		defer t.release()
		if err := fn(t); err != nil {
			if t.connLost(err) {
				return failLost, err
			}
			return failFinal, err
		}
		if err := t.commit(ctx); err != nil {
			return connectionFailure(err), fmt.Errorf("postgres: commit: %w", err)
		}
		return failFinal, nil
	})
}

// Update runs fn in a READ COMMITTED read-write transaction and commits
// when fn returns nil. On a deadlock or a unique violation (a raced
// insert), or when the connection broke before COMMIT was sent, it rolls
// back and runs fn again; see the retry policy above. A *domain.Error
// returned by fn is returned untouched, without retrying; other errors are
// returned as is (they classify as CodeInternal).
func (db *DB) Update(ctx context.Context, fn func(domain.Tx) error) error {
	return db.retry(ctx, func() (failure, error) {
		t, err := db.begin(ctx, beginUpdate)
		if err != nil {
			return connectionFailure(err), err
		}
		defer t.release()
		kind, err := t.run(ctx, fn)
		if kind == failFinal && err == nil {
			db.publisher.add(db, t.notes)
		}
		return kind, err
	})
}

// UpdateOrg is Update: writers of one org take no org-wide lock, only the
// locks fn takes (LockConversation, LockCustomer, LockKeys).
func (db *DB) UpdateOrg(ctx context.Context, _ domain.OrgID, fn func(domain.Tx) error) error {
	return db.Update(ctx, fn)
}

// retry runs once until it succeeds or fails for good. Each kind of
// failure has its own budget; when one runs out the caller gets
// CodeConflict (conflicts) or CodeUnavailable (connections).
func (db *DB) retry(ctx context.Context, once func() (failure, error)) error {
	var conflicts, lost, unreachable int
	for {
		kind, err := once()
		if kind == failFinal {
			return err
		}
		if ctx.Err() != nil {
			return err
		}
		var pause time.Duration
		switch kind {
		case failConflict:
			db.conflicts.Add(1)
			if conflicts++; conflicts == maxAttempts {
				return domain.Errorf(domain.CodeConflict,
					"transaction conflicted with concurrent writers %d times; try again", maxAttempts)
			}
			pause = backoff(conflicts)
		case failLost:
			if lost++; lost == maxLostAttempts {
				return unavailable(err)
			}
		case failUnreachable:
			if unreachable++; unreachable == maxUnreachableAttempts {
				return unavailable(err)
			}
			pause = unreachablePause
		}
		if err := sleep(ctx, pause); err != nil {
			return err
		}
	}
}

// unavailable is the error of a database that cannot be reached; the
// driver's error stays in the chain for the logs.
func unavailable(cause error) error {
	return &unavailableError{cause: cause}
}

type unavailableError struct{ cause error }

func (e *unavailableError) Error() string {
	return "postgres: database unavailable: " + e.cause.Error()
}
func (e *unavailableError) Unwrap() []error {
	return []error{domain.Errorf(domain.CodeUnavailable, "the database is unavailable; nothing was changed, try again later"), e.cause}
}

// run runs fn in t and commits. It reports how an attempt failed.
func (t *tx) run(ctx context.Context, fn func(domain.Tx) error) (failure, error) {
	if err := fn(t); err != nil {
		if t.connLost(err) {
			return failLost, err // nothing was committed: the server rolled back
		}
		var domainErr *domain.Error
		if errors.As(err, &domainErr) {
			return failFinal, err
		}
		if t.retryable(err) {
			return failConflict, err
		}
		return failFinal, err
	}
	if err := t.commit(ctx); err != nil {
		switch {
		case t.retryable(err):
			return failConflict, fmt.Errorf("postgres: commit: %w", err)
		case pgconn.SafeToRetry(err):
			return failLost, fmt.Errorf("postgres: commit not sent: %w", err)
		case t.connLost(err):
			// COMMIT was sent and no answer came back: it may have
			// committed, so fn must not run again.
			return failFinal, &commitUnknownError{cause: err}
		}
		return failFinal, fmt.Errorf("postgres: commit: %w", err)
	}
	return failFinal, nil
}

// commitUnknownError: the connection broke while COMMIT was in flight.
type commitUnknownError struct{ cause error }

func (e *commitUnknownError) Error() string {
	return "postgres: connection lost during commit: " + e.cause.Error()
}
func (e *commitUnknownError) Unwrap() []error {
	return []error{domain.Errorf(domain.CodeUnavailable,
		"the database connection was lost while the change was being committed: it may have been applied; "+
			"retry with the same Idempotency-Key to find out"), e.cause}
}

// retryable reports whether err carries a SQLSTATE of a transient conflict.
func retryable(err error) bool {
	switch sqlstate(err) {
	case sqlstateSerializationFailure, sqlstateDeadlockDetected, sqlstateUniqueViolation:
		return true
	}
	return false
}

// connectionFailure classifies an error from outside a transaction's
// statements (acquiring a connection, BEGIN, a read-only COMMIT):
// failUnreachable when no connection could be made, failLost when an
// established connection broke, failFinal otherwise.
func connectionFailure(err error) failure {
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) {
		return failUnreachable
	}
	switch code := sqlstate(err); {
	case code == "57P03": // cannot_connect_now: starting up or shutting down
		return failUnreachable
	case brokenConnectionState(code):
		return failLost
	case code != "":
		return failFinal
	}
	if brokenConnection(err) {
		return failLost
	}
	return failFinal
}

// brokenConnectionState reports SQLSTATEs after which the connection is
// gone: class 08 (connection exception), 57P01 admin_shutdown (what
// pg_terminate_backend sends) and 57P02 crash_shutdown.
func brokenConnectionState(code string) bool {
	return strings.HasPrefix(code, "08") || code == "57P01" || code == "57P02"
}

// brokenConnection reports driver errors of a connection that is gone
// (nothing or not all of a statement reached the server).
func brokenConnection(err error) bool {
	var netErr net.Error
	return pgconn.SafeToRetry(err) || errors.As(err, &netErr) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed)
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
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// find scans the first row of sql with scan; found is false when there is
// no row.
func find[T any](ctx context.Context, t *tx, scan func(row scanner) (T, error), sql string, args ...any) (item T, found bool, err error) {
	item, err = scan(t.queryRow(ctx, sql, args...))
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
