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

// expiredDeliveries selects the keys of the oldest finished deliveries
// (index of migration 00018), in a total order so that two statements of
// one transaction pick the same ones.
const expiredDeliveries = `SELECT endpoint_id, event_seq FROM webhook_deliveries
	WHERE state IN ('delivered', 'failed') AND event_created_at < ?
	ORDER BY event_created_at, endpoint_id, event_seq LIMIT ?`

// DeleteWebhookDeliveriesBefore deletes at most limit finished
// deliveries whose event was created before before, and their attempts:
// the attempts first, then the deliveries, selected alike.
func (t *tx) DeleteWebhookDeliveriesBefore(ctx context.Context, before time.Time, limit int) (int, int, error) {
	if limit <= 0 {
		return 0, 0, nil
	}
	attempts, err := t.deleteBatch(ctx, "delete expired webhook attempts", `DELETE FROM webhook_attempts
		WHERE (endpoint_id, event_seq) IN (`+expiredDeliveries+`)`, before, limit)
	if err != nil {
		return 0, 0, err
	}
	deliveries, err := t.deleteBatch(ctx, "delete expired webhook deliveries", `DELETE FROM webhook_deliveries
		WHERE (endpoint_id, event_seq) IN (`+expiredDeliveries+`)`, before, limit)
	return deliveries, attempts, err
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
