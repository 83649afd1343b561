package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/notify"
)

// tx implements domain.Tx on one database/sql transaction.
type tx struct {
	sql   *sql.Tx
	stmts *pool
	// notes collects the transaction's notifications, published after
	// its commit; nil in read-only transactions.
	notes *[]notify.Note
	// notifiedWebhooks is set once the transaction has woken the webhook
	// workers (fanOut).
	notifiedWebhooks bool
}

var _ domain.Tx = (*tx)(nil)

// exec runs a write statement.
func (t *tx) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	stmt, err := t.stmts.stmt(ctx, t.sql, query)
	if err != nil {
		return nil, err
	}
	return stmt.ExecContext(ctx, args...)
}

// insert runs an INSERT; op names it in the error.
func (t *tx) insert(ctx context.Context, op, query string, args ...any) error {
	if _, err := t.exec(ctx, query, args...); err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	return nil
}

// update runs an UPDATE expected to change the row of kind id; when it
// changes none the row is missing from the org: domain.NotFound.
func (t *tx) update(ctx context.Context, kind string, id any, query string, args ...any) error {
	res, err := t.exec(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("sqlite: update %s: %w", kind, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlite: update %s: %w", kind, err)
	}
	if n == 0 {
		return domain.NotFound(kind, id)
	}
	return nil
}

// query runs a read statement.
func (t *tx) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	stmt, err := t.stmts.stmt(ctx, t.sql, query)
	if err != nil {
		return nil, err
	}
	return stmt.QueryContext(ctx, args...)
}

// get scans the single row of query with scan; no row is
// domain.NotFound(kind, id).
func get[T any](ctx context.Context, t *tx, kind string, id any, scan func(scanner) (T, error), query string, args ...any) (T, error) {
	v, found, err := lookup(ctx, t, scan, query, args...)
	if err != nil {
		return v, fmt.Errorf("sqlite: get %s: %w", kind, err)
	}
	if !found {
		return v, domain.NotFound(kind, id)
	}
	return v, nil
}

// lookup scans the first row of query with scan; found is false when there
// is none.
func lookup[T any](ctx context.Context, t *tx, scan func(scanner) (T, error), query string, args ...any) (v T, found bool, err error) {
	rows, err := t.query(ctx, query, args...)
	if err != nil {
		return v, false, err
	}
	defer rows.Close()
	if !rows.Next() {
		return v, false, rows.Err()
	}
	v, err = scan(rows)
	return v, err == nil, err
}

// list scans every row of query with scan.
func list[T any](ctx context.Context, t *tx, op string, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := t.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", op, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: %s: %w", op, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", op, err)
	}
	return out, nil
}

// exists reports whether query returns a row.
func (t *tx) exists(ctx context.Context, query string, args ...any) (bool, error) {
	_, found, err := lookup(ctx, t, func(s scanner) (int, error) {
		var one int
		return one, s.Scan(&one)
	}, query, args...)
	return found, err
}

// scanner is a *sql.Rows or *sql.Row.
type scanner interface{ Scan(dest ...any) error }

// micros encodes a time as unix microseconds.
func micros(t time.Time) int64 { return t.UnixMicro() }

// fromMicros decodes unix microseconds as a UTC time.
func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// nullMicros encodes an optional time: NULL for nil.
func nullMicros(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMicro()
}

// optMicros decodes an optional time.
func optMicros(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

// nullString encodes "" as NULL.
func nullString[S ~string](s S) any {
	if s == "" {
		return nil
	}
	return string(s)
}

// limitArg turns "0 for all" into SQLite's "no limit".
func limitArg(limit int) int {
	if limit <= 0 {
		return -1
	}
	return limit
}

// encodeJSON encodes a document stored in a TEXT column.
func encodeJSON(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", domain.Errorf(domain.CodeInvalidArgument, "value is not JSON-encodable: %v", err)
	}
	return string(b), nil
}

// decodeJSON decodes a TEXT document into dst.
func decodeJSON(text string, dst any) error {
	if err := json.Unmarshal([]byte(text), dst); err != nil {
		return fmt.Errorf("decode JSON column: %w", err)
	}
	return nil
}

// wrap adds the operation to a driver error.
func wrap(op string, err error) error { return fmt.Errorf("sqlite: %s: %w", op, err) }
