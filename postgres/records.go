package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parleyhq/parley/domain"
)

const runColumns = `id, org_id, kind, name, session_id, inputs, variable, output, error_code, error_message,
	duration_us, started_at`

func scanRun(row scanner) (domain.OperationRun, error) {
	var r domain.OperationRun
	var inputs, output []byte
	var durationMicros int64
	if err := row.Scan(&r.ID, &r.OrgID, &r.Kind, &r.Name, &r.SessionID, &inputs, &r.Variable, &output,
		&r.ErrorCode, &r.ErrorMessage, &durationMicros, &r.StartedAt); err != nil {
		return r, err
	}
	r.Duration = time.Duration(durationMicros) * time.Microsecond
	r.StartedAt = r.StartedAt.UTC()
	if err := decodeJSON(inputs, &r.Inputs); err != nil {
		return r, err
	}
	return r, decodeJSON(output, &r.Output)
}

// RecordRun stores r (with the transaction's next statement).
func (t *tx) RecordRun(ctx context.Context, r domain.OperationRun) error {
	row, err := runRow(r)
	if err != nil {
		return err
	}
	err = t.later(ctx, `INSERT INTO operation_runs (`+runColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`, row...)
	if err != nil {
		return fmt.Errorf("postgres: record run: %w", err)
	}
	return nil
}

// RecordRuns stores runs in one COPY, in order.
func (t *tx) RecordRuns(ctx context.Context, runs []domain.OperationRun) error {
	rows := make([][]any, len(runs))
	for i, r := range runs {
		row, err := runRow(r)
		if err != nil {
			return err
		}
		rows[i] = row
	}
	if _, err := t.copyFrom(ctx, pgx.Identifier{"operation_runs"}, runCopyColumns, pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("postgres: record runs: %w", err)
	}
	return nil
}

// runRow is r's values in the order of runColumns.
func runRow(r domain.OperationRun) ([]any, error) {
	inputs, err := encodeJSON(r.Inputs)
	if err != nil {
		return nil, err
	}
	output, err := encodeJSON(r.Output)
	if err != nil {
		return nil, err
	}
	return []any{r.ID, r.OrgID, r.Kind, r.Name, r.SessionID, inputs, r.Variable, output, r.ErrorCode, r.ErrorMessage,
		r.Duration.Microseconds(), r.StartedAt}, nil
}

var runCopyColumns = strings.Fields(strings.ReplaceAll(runColumns, ",", " "))

// GetRun returns the run; CodeNotFound when it does not exist in org.
func (t *tx) GetRun(ctx context.Context, org domain.OrgID, id domain.RunID) (domain.OperationRun, error) {
	return get(ctx, t, "run", id, scanRun,
		`SELECT `+runColumns+` FROM operation_runs WHERE org_id = $1 AND id = $2`, org, id)
}

// ListRuns returns the org's runs newest first, before the run with id
// before ("" for the newest), at most limit (0 for all). CodeNotFound when
// before is not a run of the org.
func (t *tx) ListRuns(ctx context.Context, org domain.OrgID, before domain.RunID, limit int) ([]domain.OperationRun, error) {
	var beforeSeq any // NULL: no bound
	if before != "" {
		seq, err := get(ctx, t, "run", before, scanSeq,
			`SELECT seq FROM operation_runs WHERE org_id = $1 AND id = $2`, org, before)
		if err != nil {
			return nil, err
		}
		beforeSeq = seq
	}
	return collect(ctx, t, scanRun,
		`SELECT `+runColumns+` FROM operation_runs WHERE org_id = $1 AND ($2::bigint IS NULL OR seq < $2)
		 ORDER BY seq DESC LIMIT $3`, org, beforeSeq, limitOrAll(limit))
}

const eventColumns = `seq, org_id, type, subject, payload, created_at`

func scanEvent(row scanner) (domain.Event, error) {
	var e domain.Event
	var payload []byte
	if err := row.Scan(&e.Seq, &e.OrgID, &e.Type, &e.Subject, &payload, &e.CreatedAt); err != nil {
		return e, err
	}
	e.CreatedAt = e.CreatedAt.UTC()
	return e, decodeJSON(payload, &e.Payload)
}

// Event sequence numbers. Seq is the writing transaction's id (xid8) times
// 2^16 plus the event's position in the transaction, so the org's events
// are ordered by writing transaction and a transaction appends without
// waiting for any other. A reader lists only events below the oldest
// transaction of the database still in progress in its snapshot
// (parley_feed_horizon, migration 00004, shifted the same way): every
// transaction below it has ended, and every transaction that can still
// commit an event, in progress or not yet started, has a larger xid, hence
// larger Seqs. This is the transaction-id
// outbox technique (events ordered by (transaction id, position), read up
// to the snapshot's xmin) with the two-part cursor packed into one bigint;
// 47 bits of xid8 last for ~10^14 transactions.
const (
	eventSeqShift = 16
	maxTxEvents   = 1 << eventSeqShift
)

// AppendEvent stores e and assigns its Seq (see above). It takes no lock.
func (t *tx) AppendEvent(ctx context.Context, e domain.Event) error {
	if t.events == maxTxEvents {
		return fmt.Errorf("postgres: append event: more than %d events in one transaction", maxTxEvents)
	}
	payload, err := encodeJSON(e.Payload)
	if err != nil {
		return err
	}
	// The event's webhook deliveries are made by the same statement, sent
	// with the transaction's next one; when it made any, the delivery
	// workers are woken after the commit (not by NOTIFY in the statement:
	// see publisher).
	madeDeliveries := func(row pgx.Row) error {
		var one int
		switch err := row.Scan(&one); {
		case errors.Is(err, pgx.ErrNoRows):
			return nil
		case err != nil:
			return err
		}
		return t.Notify(ctx, domain.TopicWebhooks, string(e.OrgID))
	}
	if err := t.laterRow(ctx, madeDeliveries, appendEventSQL, e.OrgID, e.Type, e.Subject, payload, e.CreatedAt, t.events); err != nil {
		return fmt.Errorf("postgres: append event: %w", err)
	}
	t.events++
	return nil
}

// SettleFeed waits until every transaction that had been given an id when
// it was called has ended, so that ListEvents then lists every event
// committed before the call. The feed never needs it; tests that compare
// what they wrote with what the feed shows do, since the feed's horizon is
// the oldest writing transaction of the database (other tests' too).
func (db *DB) SettleFeed(ctx context.Context) error {
	var target, horizon int64
	const next = `SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint`
	if err := db.pool.QueryRow(ctx, next).Scan(&target); err != nil {
		return fmt.Errorf("postgres: settle feed: %w", err)
	}
	for {
		err := db.pool.QueryRow(ctx, `SELECT parley_feed_horizon()`).Scan(&horizon)
		if err != nil {
			return fmt.Errorf("postgres: settle feed: %w", err)
		}
		if horizon >= target {
			return nil
		}
		if err := sleep(ctx, 2*time.Millisecond); err != nil {
			return err
		}
	}
}

// ListEvents returns the org's events with Seq > after, oldest first, at
// most limit (0 for all), up to the feed's horizon: events of transactions
// older than every transaction still in progress (see above), so the list
// never skips an event that commits later.
func (t *tx) ListEvents(ctx context.Context, org domain.OrgID, after int64, limit int) ([]domain.Event, error) {
	return collect(ctx, t, scanEvent,
		`SELECT `+eventColumns+` FROM events WHERE org_id = $1 AND seq > $2
		   AND seq < (parley_feed_horizon() << 16)
		 ORDER BY seq LIMIT $3`,
		org, after, limitOrAll(limit))
}

const idempotencyColumns = `org_id, key, request_hash, status, body, created_at`

func scanIdempotency(row scanner) (domain.IdempotencyRecord, error) {
	var r domain.IdempotencyRecord
	err := row.Scan(&r.OrgID, &r.Key, &r.RequestHash, &r.Status, &r.Body, &r.CreatedAt)
	r.CreatedAt = r.CreatedAt.UTC()
	return r, err
}

// GetIdempotency returns the record of key; found is false when none.
func (t *tx) GetIdempotency(ctx context.Context, org domain.OrgID, key string) (domain.IdempotencyRecord, bool, error) {
	return find(ctx, t, scanIdempotency,
		`SELECT `+idempotencyColumns+` FROM idempotency_keys WHERE org_id = $1 AND key = $2`, org, key)
}

// PutIdempotency stores rec; a duplicate key is a transient conflict.
func (t *tx) PutIdempotency(ctx context.Context, rec domain.IdempotencyRecord) error {
	_, err := t.exec(ctx, `INSERT INTO idempotency_keys (`+idempotencyColumns+`) VALUES ($1, $2, $3, $4, $5, $6)`,
		rec.OrgID, rec.Key, rec.RequestHash, rec.Status, rec.Body, rec.CreatedAt)
	if err != nil {
		return fmt.Errorf("postgres: put idempotency key: %w", err)
	}
	return nil
}

// CompleteIdempotency stores the response of the request holding key;
// CodeNotFound when key is unknown.
func (t *tx) CompleteIdempotency(ctx context.Context, org domain.OrgID, key string, status int, body []byte) error {
	return t.execOne(ctx, "idempotency key", key,
		`UPDATE idempotency_keys SET status = $3, body = $4 WHERE org_id = $1 AND key = $2`, org, key, status, body)
}

// DeleteIdempotency forgets key; forgetting a missing key does nothing.
func (t *tx) DeleteIdempotency(ctx context.Context, org domain.OrgID, key string) error {
	if _, err := t.exec(ctx, `DELETE FROM idempotency_keys WHERE org_id = $1 AND key = $2`, org, key); err != nil {
		return fmt.Errorf("postgres: delete idempotency key: %w", err)
	}
	return nil
}
