package sqlite

import (
	"context"
	"time"
)

// Retention deletes the oldest expired rows of every org, one batch per
// statement, through an index on the time column (migration 00004). One
// writer runs at a time, so two processes never delete the same rows: the
// second finds them gone.

// DeleteRunsBefore deletes at most limit runs started before before.
func (t *tx) DeleteRunsBefore(ctx context.Context, before time.Time, limit int) (int, error) {
	return t.deleteBatch(ctx, "delete expired runs", `DELETE FROM operation_runs WHERE seq IN (
		SELECT seq FROM operation_runs WHERE started_at < ? ORDER BY started_at LIMIT ?)`, before, limit)
}

// DeleteEventsBefore deletes at most limit events created before before.
func (t *tx) DeleteEventsBefore(ctx context.Context, before time.Time, limit int) (int, error) {
	return t.deleteBatch(ctx, "delete expired events", `DELETE FROM events WHERE seq IN (
		SELECT seq FROM events WHERE created_at < ? ORDER BY created_at LIMIT ?)`, before, limit)
}

// DeleteIdempotencyBefore deletes at most limit idempotency records
// created before before.
func (t *tx) DeleteIdempotencyBefore(ctx context.Context, before time.Time, limit int) (int, error) {
	return t.deleteBatch(ctx, "delete expired idempotency keys", `DELETE FROM idempotency_keys WHERE rowid IN (
		SELECT rowid FROM idempotency_keys WHERE created_at < ? ORDER BY created_at LIMIT ?)`, before, limit)
}

func (t *tx) deleteBatch(ctx context.Context, op, query string, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	res, err := t.exec(ctx, query, micros(before), limit)
	if err != nil {
		return 0, wrap(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, wrap(op, err)
	}
	return int(n), nil
}
