package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/notify"
)

// tx implements domain.Tx on one pooled connection, with fewer round trips
// than a statement at a time:
//
//   - BEGIN is sent with the transaction's first statement, in one
//     pipeline (a transaction that sends nothing costs nothing);
//   - writes whose result the caller does not need (later: events, turn
//     records, run records) wait and go out with the next statement, or
//     with COMMIT;
//   - COMMIT goes out with the writes still waiting.
//
// A pipeline stops at its first error, which every later statement of it
// returns too: the error of a waiting write is returned by the statement
// or the commit it went out with, and the transaction fails as a whole.
//
// tx remembers the first database error, because after any error
// PostgreSQL aborts the whole transaction: if fn swallows a unique
// violation, later statements (or the commit) fail with other codes, and
// the transaction must still be retried.
type tx struct {
	conn *pgxpool.Conn
	// begin is the BEGIN statement while it has not been sent.
	begin string
	// open: BEGIN was sent, and neither COMMIT nor ROLLBACK.
	open bool
	// waiting are the writes sent with the next statement or COMMIT.
	waiting  []queued
	firstErr error
	// events counts the events appended so far: the low bits of their Seq.
	events int64
	// readOnly marks a View's transaction (Notify refuses to run in it).
	readOnly bool
	// eachQuery (ViewLatest) ends the transaction with each multi-row
	// query that opens it: BEGIN, the query and COMMIT go out together,
	// and the next statement opens a new one.
	eachQuery bool
	// notes are the transaction's notifications, published once it has
	// committed.
	notes []notify.Note
}

// queued is a statement waiting to be sent.
type queued struct {
	sql  string
	args []any
	// row, when set, reads the statement's row (pgx.ErrNoRows when none).
	row func(pgx.Row) error
}

// maxWaiting bounds the writes that wait for the next statement.
const maxWaiting = 64

var _ domain.Tx = (*tx)(nil)

// begin acquires a connection for a transaction that starts with
// beginSQL, sent with the first statement.
func (db *DB) begin(ctx context.Context, beginSQL string) (*tx, error) {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres: begin: %w", err)
	}
	return &tx{conn: conn, begin: beginSQL, readOnly: beginSQL == beginView}, nil
}

// release rolls back what is not committed and returns the connection to
// the pool, which drops it if it is broken or still in a transaction.
func (t *tx) release() {
	if t.open || t.conn.Conn().PgConn().TxStatus() != 'I' {
		ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
		_, _ = t.conn.Exec(ctx, "ROLLBACK")
		cancel()
		t.open = false
	}
	t.conn.Release()
}

// commitTimeout bounds a COMMIT once sent.
const commitTimeout = 30 * time.Second

// commit sends the waiting writes and COMMIT, without the caller's
// cancellation: a request cancelled while its COMMIT is in flight would
// otherwise be told it failed when the transaction committed (and a retry
// with its Idempotency-Key would run it twice). A transaction that sent
// nothing commits nothing.
func (t *tx) commit(ctx context.Context) error {
	if !t.open && t.begin == "" {
		return errors.New("postgres: commit of a finished transaction")
	}
	if !t.open && len(t.waiting) == 0 {
		t.begin = ""
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
	defer cancel()
	tag, err := t.send(ctx, "COMMIT", nil, func(br pgx.BatchResults) (pgconn.CommandTag, error) { return br.Exec() })
	t.open = false
	if err == nil && tag.String() == "ROLLBACK" {
		err = pgx.ErrTxCommitRollback
	}
	return t.note(err)
}

// later queues a write whose result is not needed: it goes out with the
// next statement or COMMIT, which return its error.
func (t *tx) later(ctx context.Context, sql string, args ...any) error {
	return t.laterRow(ctx, nil, sql, args...)
}

// laterRow is later with row called on the statement's row when it goes
// out (before the statement it goes with has run); row's error fails that
// statement.
func (t *tx) laterRow(ctx context.Context, row func(pgx.Row) error, sql string, args ...any) error {
	t.waiting = append(t.waiting, queued{sql: sql, args: args, row: row})
	if len(t.waiting) < maxWaiting {
		return nil
	}
	return t.flush(ctx)
}

// flush sends BEGIN and the waiting writes now.
func (t *tx) flush(ctx context.Context) error {
	if t.begin == "" && len(t.waiting) == 0 {
		return nil
	}
	b, _ := t.prelude()
	br := t.conn.SendBatch(ctx, b)
	err := br.Close()
	return t.note(err)
}

// prelude returns a batch of what must precede the next statement: BEGIN
// if it was not sent, and the waiting writes, with the row readers of
// the batch's statements (nil for none). It marks them sent.
func (t *tx) prelude() (*pgx.Batch, []func(pgx.Row) error) {
	b := &pgx.Batch{}
	var rows []func(pgx.Row) error
	if t.begin != "" {
		b.Queue(t.begin)
		rows = append(rows, nil)
		t.begin, t.open = "", true
	}
	for _, q := range t.waiting {
		qq := b.Queue(q.sql, q.args...)
		if q.row != nil {
			qq.QueryRow(q.row)
		}
		rows = append(rows, q.row)
	}
	t.waiting = t.waiting[:0]
	return b, rows
}

// readPrelude reads the results of a pipeline's prelude (the row
// readers prelude returned); on the first error it closes the pipeline
// and returns that error.
func readPrelude(br pgx.BatchResults, readers []func(pgx.Row) error) error {
	for _, read := range readers {
		var err error
		if read != nil {
			err = read(br.QueryRow())
		} else {
			_, err = br.Exec()
		}
		if err != nil {
			_ = br.Close()
			return err
		}
	}
	return nil
}

// send runs sql after the prelude, in one pipeline, and returns what
// result reads of the statement's result. The prelude's first error, if
// any, is returned instead.
func (t *tx) send(ctx context.Context, sql string, args []any, result func(pgx.BatchResults) (pgconn.CommandTag, error)) (pgconn.CommandTag, error) {
	b, rows := t.prelude()
	b.Queue(sql, args...)
	br := t.conn.SendBatch(ctx, b)
	if err := readPrelude(br, rows); err != nil {
		return pgconn.CommandTag{}, err
	}
	tag, err := result(br)
	if closeErr := br.Close(); err == nil {
		err = closeErr
	}
	return tag, err
}

func (t *tx) exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if t.begin == "" && len(t.waiting) == 0 {
		tag, err := t.conn.Exec(ctx, sql, args...)
		return tag, t.note(err)
	}
	tag, err := t.send(ctx, sql, args, func(br pgx.BatchResults) (pgconn.CommandTag, error) { return br.Exec() })
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

// queryRow runs a query of one row; its Scan returns pgx.ErrNoRows when
// there is none. Its errors are the caller's to note.
func (t *tx) queryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if t.begin == "" && len(t.waiting) == 0 {
		return t.conn.QueryRow(ctx, sql, args...)
	}
	return &pipelinedRow{t: t, ctx: ctx, sql: sql, args: args}
}

// pipelinedRow is a row whose query goes out with the prelude when it is
// scanned.
type pipelinedRow struct {
	t    *tx
	ctx  context.Context
	sql  string
	args []any
}

func (r *pipelinedRow) Scan(dest ...any) error {
	var scanErr error
	_, err := r.t.send(r.ctx, r.sql, r.args, func(br pgx.BatchResults) (pgconn.CommandTag, error) {
		scanErr = br.QueryRow().Scan(dest...)
		return pgconn.CommandTag{}, nil
	})
	if err != nil {
		return err
	}
	return scanErr
}

// rowRead is a query of at most one row for readRows: scan reads the row,
// found tells whether there was one.
type rowRead struct {
	sql   string
	args  []any
	scan  func(pgx.Row) error
	found *bool
}

// readRows runs independent queries of at most one row each in one
// pipeline, after the prelude.
func (t *tx) readRows(ctx context.Context, reads ...rowRead) error {
	b, _ := t.prelude()
	for _, r := range reads {
		b.Queue(r.sql, r.args...).QueryRow(func(row pgx.Row) error {
			err := r.scan(row)
			*r.found = err == nil
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			return err
		})
	}
	return t.note(t.conn.SendBatch(ctx, b).Close())
}

// query runs a query of several rows, in one pipeline with the prelude.
func (t *tx) query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if t.begin == "" && len(t.waiting) == 0 {
		rows, err := t.conn.Query(ctx, sql, args...)
		return rows, t.note(err)
	}
	ending := t.eachQuery && t.begin != ""
	b, readers := t.prelude()
	b.Queue(sql, args...)
	if ending {
		b.Queue("COMMIT")
		t.begin, t.open = beginView, false
	}
	br := t.conn.SendBatch(ctx, b)
	if err := readPrelude(br, readers); err != nil {
		return nil, t.note(err)
	}
	rows, err := br.Query()
	if err != nil {
		_ = br.Close()
		return nil, t.note(err)
	}
	return &batchRows{Rows: rows, batch: br, commit: ending}, nil
}

// batchRows are the rows of a pipeline's last query, maybe followed by
// its COMMIT: the pipeline is closed with them, and its errors are
// theirs.
type batchRows struct {
	pgx.Rows
	batch pgx.BatchResults
	// commit: a COMMIT follows the query in the pipeline.
	commit   bool
	closeErr error
}

// Close closes the rows, reads the COMMIT's result if one follows, and
// closes the pipeline.
func (r *batchRows) Close() {
	r.Rows.Close()
	if r.batch == nil {
		return
	}
	if r.commit {
		tag, err := r.batch.Exec()
		if err == nil && tag.String() == "ROLLBACK" {
			err = pgx.ErrTxCommitRollback
		}
		r.closeErr = err
	}
	if err := r.batch.Close(); r.closeErr == nil {
		r.closeErr = err
	}
	r.batch = nil
}

// Err returns the rows' error, or once they are read, the pipeline's.
func (r *batchRows) Err() error {
	if err := r.Rows.Err(); err != nil {
		return err
	}
	r.Close()
	return r.closeErr
}

// copyFrom runs COPY FROM, after sending the prelude.
func (t *tx) copyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error) {
	if err := t.flush(ctx); err != nil {
		return 0, err
	}
	n, err := t.conn.CopyFrom(ctx, table, columns, src)
	return n, t.note(err)
}

// retryable reports whether the transaction failed with err, or earlier
// with a swallowed error, because of a transient conflict.
func (t *tx) retryable(err error) bool { return retryable(err) || retryable(t.firstErr) }

// connLost reports whether the transaction's connection broke (then the
// server has rolled the transaction back, unless COMMIT was in flight).
func (t *tx) connLost(err error) bool {
	if t.conn.Conn().IsClosed() {
		return true
	}
	for _, e := range []error{err, t.firstErr} {
		if e != nil && (brokenConnectionState(sqlstate(e)) || (sqlstate(e) == "" && brokenConnection(e))) {
			return true
		}
	}
	return false
}

// note records the first database error of the transaction and returns err.
func (t *tx) note(err error) error {
	if err != nil && t.firstErr == nil && (sqlstate(err) != "" || brokenConnection(err)) {
		t.firstErr = err
	}
	return err
}
