package domain

import (
	"context"
	"time"
)

// MaintenanceTx holds the Tx methods for retention: deleting expired runs,
// events, idempotency records and finished webhook deliveries. Each deletes at most limit rows of every
// org, oldest first, and returns how many it deleted, so that retention
// runs in small transactions that never hold a writer for long. On
// PostgreSQL rows another transaction is deleting are skipped (FOR UPDATE
// SKIP LOCKED), so passes running at once in several processes never do
// the same work twice.
type MaintenanceTx interface {
	// DeleteRunsBefore deletes runs that started before before.
	DeleteRunsBefore(ctx context.Context, before time.Time, limit int) (int, error)
	// DeleteEventsBefore deletes events created before before.
	DeleteEventsBefore(ctx context.Context, before time.Time, limit int) (int, error)
	// DeleteIdempotencyBefore deletes idempotency records created before
	// before, completed or still in progress.
	DeleteIdempotencyBefore(ctx context.Context, before time.Time, limit int) (int, error)
	// DeleteWebhookDeliveriesBefore deletes webhook deliveries that are
	// over (delivered or failed) and whose event was created before before,
	// with every attempt logged for them, and returns how many deliveries
	// and attempts it deleted. Pending deliveries are kept whatever their
	// age; a failed one deleted can no longer be replayed.
	DeleteWebhookDeliveriesBefore(ctx context.Context, before time.Time, limit int) (deliveries, attempts int, err error)
}
