package postgres

import (
	"context"
	"fmt"
	"time"
)

// Retention deletes the oldest expired rows of every org in one statement
// per batch. The rows are picked FOR UPDATE SKIP LOCKED, so passes running
// at once in several processes take disjoint batches, and each uses an
// index on the time column (migration 00004).

// DeleteRunsBefore deletes at most limit runs started before before.
func (t *tx) DeleteRunsBefore(ctx context.Context, before time.Time, limit int) (int, error) {
	return t.deleteBatch(ctx, "runs", `DELETE FROM operation_runs WHERE seq IN (
		SELECT seq FROM operation_runs WHERE started_at < $1 ORDER BY started_at LIMIT $2 FOR UPDATE SKIP LOCKED)`,
		before, limit)
}

// DeleteEventsBefore deletes at most limit events created before before.
func (t *tx) DeleteEventsBefore(ctx context.Context, before time.Time, limit int) (int, error) {
	return t.deleteBatch(ctx, "events", `DELETE FROM events WHERE seq IN (
		SELECT seq FROM events WHERE created_at < $1 ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED)`,
		before, limit)
}

// DeleteIdempotencyBefore deletes at most limit idempotency records
// created before before.
func (t *tx) DeleteIdempotencyBefore(ctx context.Context, before time.Time, limit int) (int, error) {
	return t.deleteBatch(ctx, "idempotency keys", `DELETE FROM idempotency_keys WHERE (org_id, key) IN (
		SELECT org_id, key FROM idempotency_keys WHERE created_at < $1 ORDER BY created_at LIMIT $2
		FOR UPDATE SKIP LOCKED)`,
		before, limit)
}

// DeleteWebhookDeliveriesBefore deletes at most limit finished
// deliveries whose event was created before before, and their attempts,
// in one statement (index of migration 00018).
func (t *tx) DeleteWebhookDeliveriesBefore(ctx context.Context, before time.Time, limit int) (int, int, error) {
	if limit <= 0 {
		return 0, 0, nil
	}
	var deliveries, attempts int
	err := t.queryRow(ctx, `WITH doomed AS (
			SELECT endpoint_id, event_seq FROM webhook_deliveries
			WHERE state IN ('delivered', 'failed') AND event_created_at < $1
			ORDER BY event_created_at LIMIT $2 FOR UPDATE SKIP LOCKED),
		gone AS (
			DELETE FROM webhook_deliveries d USING doomed
			WHERE d.endpoint_id = doomed.endpoint_id AND d.event_seq = doomed.event_seq
			RETURNING d.endpoint_id, d.event_seq),
		logged AS (
			DELETE FROM webhook_attempts a USING gone
			WHERE a.endpoint_id = gone.endpoint_id AND a.event_seq = gone.event_seq
			RETURNING 1)
		SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM logged)`, before, limit).Scan(&deliveries, &attempts)
	if err != nil {
		return 0, 0, t.note(fmt.Errorf("postgres: delete expired webhook deliveries: %w", err))
	}
	return deliveries, attempts, nil
}

func (t *tx) deleteBatch(ctx context.Context, what, sql string, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	tag, err := t.exec(ctx, sql, before, limit)
	if err != nil {
		return 0, fmt.Errorf("postgres: delete expired %s: %w", what, err)
	}
	return int(tag.RowsAffected()), nil
}

// Autovacuum reports whether the server's autovacuum is on. Retention
// deletes rows; PostgreSQL reuses their space only once a VACUUM has run,
// so without autovacuum (or a scheduled VACUUM) the database keeps growing.
func (db *DB) Autovacuum(ctx context.Context) (bool, error) {
	var on bool
	if err := db.pool.QueryRow(ctx, `SELECT current_setting('autovacuum')::boolean`).Scan(&on); err != nil {
		return false, fmt.Errorf("postgres: autovacuum setting: %w", err)
	}
	return on, nil
}
