package postgres

import (
	"context"
	"fmt"
	"time"

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

// RecordRun stores r.
func (t *tx) RecordRun(ctx context.Context, r domain.OperationRun) error {
	inputs, err := encodeJSON(r.Inputs)
	if err != nil {
		return err
	}
	output, err := encodeJSON(r.Output)
	if err != nil {
		return err
	}
	_, err = t.exec(ctx, `INSERT INTO operation_runs (`+runColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		r.ID, r.OrgID, r.Kind, r.Name, r.SessionID, inputs, r.Variable, output, r.ErrorCode, r.ErrorMessage,
		r.Duration.Microseconds(), r.StartedAt)
	if err != nil {
		return fmt.Errorf("postgres: record run: %w", err)
	}
	return nil
}

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

// AppendEvent stores e and assigns its Seq. It takes a per-org lock until
// commit, so the org's events commit in Seq order and a reader that has
// seen Seq n never later finds a new event below n.
func (t *tx) AppendEvent(ctx context.Context, e domain.Event) error {
	if err := t.lockSequence(ctx, e.OrgID); err != nil {
		return err
	}
	payload, err := encodeJSON(e.Payload)
	if err != nil {
		return err
	}
	// The event's webhook deliveries are made by the same statement.
	_, err = t.exec(ctx, appendEventSQL, e.OrgID, e.Type, e.Subject, payload, e.CreatedAt)
	if err != nil {
		return fmt.Errorf("postgres: append event: %w", err)
	}
	return nil
}

// ListEvents returns the org's events with Seq > after, oldest first, at
// most limit (0 for all).
func (t *tx) ListEvents(ctx context.Context, org domain.OrgID, after int64, limit int) ([]domain.Event, error) {
	return collect(ctx, t, scanEvent,
		`SELECT `+eventColumns+` FROM events WHERE org_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
		org, after, limitOrAll(limit))
}

// lockSequence keeps an org's events (and messages) visible in sequence
// order: it holds org's lock until the transaction ends. Without it, two
// transactions could take sequence numbers n and n+1 and commit in the
// opposite order, and a reader polling with an "after" cursor would skip n
// for good. It is the lock UpdateOrg takes (same key, transaction-level
// here), so plain Updates and UpdateOrg writers exclude each other; inside
// UpdateOrg of org it is held already.
func (t *tx) lockSequence(ctx context.Context, org domain.OrgID) error {
	if t.lockedOrg != "" && org == t.lockedOrg {
		return nil
	}
	if _, err := t.exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, lockOrg, string(org)); err != nil {
		return fmt.Errorf("postgres: lock sequence: %w", err)
	}
	return nil
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
