package sqlite

import (
	"context"
	"time"

	"github.com/parleyhq/parley/domain"
)

const runColumns = `id, org_id, kind, name, session_id, inputs, variable, output, error_code, error_message,
	duration_us, started_at`

func scanRun(s scanner) (domain.OperationRun, error) {
	var r domain.OperationRun
	var inputs, output string
	var durationUS, started int64
	if err := s.Scan(&r.ID, &r.OrgID, &r.Kind, &r.Name, &r.SessionID, &inputs, &r.Variable, &output,
		&r.ErrorCode, &r.ErrorMessage, &durationUS, &started); err != nil {
		return r, err
	}
	r.Duration = time.Duration(durationUS) * time.Microsecond
	r.StartedAt = fromMicros(started)
	if err := decodeJSON(inputs, &r.Inputs); err != nil {
		return r, err
	}
	return r, decodeJSON(output, &r.Output)
}

// RecordRun stores r (Duration at microsecond precision); a duplicate id is
// a conflict, a value that cannot be JSON-encoded CodeInvalidArgument.
func (t *tx) RecordRun(ctx context.Context, r domain.OperationRun) error {
	inputs, err := encodeJSON(r.Inputs)
	if err != nil {
		return err
	}
	output, err := encodeJSON(r.Output)
	if err != nil {
		return err
	}
	return t.insert(ctx, "record run",
		`INSERT INTO operation_runs (`+runColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.OrgID, r.Kind, r.Name, r.SessionID, inputs, r.Variable, output, r.ErrorCode, r.ErrorMessage,
		r.Duration.Microseconds(), micros(r.StartedAt))
}

// RecordRuns stores runs in order, one prepared insert each (in one
// transaction the inserts cost microseconds; the commit is what counts).
func (t *tx) RecordRuns(ctx context.Context, runs []domain.OperationRun) error {
	for _, r := range runs {
		if err := t.RecordRun(ctx, r); err != nil {
			return err
		}
	}
	return nil
}

// GetRun returns the run; CodeNotFound when it is not in org.
func (t *tx) GetRun(ctx context.Context, org domain.OrgID, id domain.RunID) (domain.OperationRun, error) {
	return get(ctx, t, "run", id, scanRun,
		`SELECT `+runColumns+` FROM operation_runs WHERE id = ? AND org_id = ?`, id, org)
}

// ListRuns returns the org's runs newest first (in reverse recording
// order), before the run with id before ("" for the newest), at most limit
// (0 for all). CodeNotFound when before is not a run of the org.
func (t *tx) ListRuns(ctx context.Context, org domain.OrgID, before domain.RunID, limit int) ([]domain.OperationRun, error) {
	if before == "" {
		return list(ctx, t, "list runs", scanRun,
			`SELECT `+runColumns+` FROM operation_runs WHERE org_id = ? ORDER BY seq DESC LIMIT ?`,
			org, limitArg(limit))
	}
	runs, err := list(ctx, t, "list runs", scanRun,
		`SELECT `+runColumns+` FROM operation_runs WHERE org_id = ?
		AND seq < (SELECT seq FROM operation_runs WHERE id = ? AND org_id = ?)
		ORDER BY seq DESC LIMIT ?`, org, before, org, limitArg(limit))
	if err != nil || len(runs) > 0 {
		return runs, err
	}
	found, err := t.exists(ctx, `SELECT 1 FROM operation_runs WHERE id = ? AND org_id = ?`, before, org)
	if err != nil {
		return nil, wrap("list runs", err)
	}
	if !found {
		return nil, domain.NotFound("run", before)
	}
	return nil, nil
}

const eventColumns = `seq, org_id, type, subject, payload, created_at`

func scanEvent(s scanner) (domain.Event, error) {
	var e domain.Event
	var payload string
	var created int64
	if err := s.Scan(&e.Seq, &e.OrgID, &e.Type, &e.Subject, &payload, &created); err != nil {
		return e, err
	}
	e.CreatedAt = fromMicros(created)
	return e, decodeJSON(payload, &e.Payload)
}

// AppendEvent stores e with the next Seq of the store (e.Seq is ignored)
// and makes its webhook deliveries (fanOut).
func (t *tx) AppendEvent(ctx context.Context, e domain.Event) error {
	payload, err := encodeJSON(e.Payload)
	if err != nil {
		return err
	}
	res, err := t.exec(ctx, `INSERT INTO events (org_id, type, subject, payload, created_at) VALUES (?, ?, ?, ?, ?)`,
		e.OrgID, e.Type, e.Subject, payload, micros(e.CreatedAt))
	if err != nil {
		return wrap("append event", err)
	}
	seq, err := res.LastInsertId()
	if err != nil {
		return wrap("append event", err)
	}
	return t.fanOut(ctx, seq, e, payload)
}

// ListEvents returns the org's events with Seq > after, oldest first, at
// most limit (0 for all).
func (t *tx) ListEvents(ctx context.Context, org domain.OrgID, after int64, limit int) ([]domain.Event, error) {
	return list(ctx, t, "list events", scanEvent,
		`SELECT `+eventColumns+` FROM events WHERE org_id = ? AND seq > ? ORDER BY seq LIMIT ?`,
		org, after, limitArg(limit))
}

const idempotencyColumns = `org_id, key, request_hash, status, body, created_at`

func scanIdempotency(s scanner) (domain.IdempotencyRecord, error) {
	var rec domain.IdempotencyRecord
	var created int64
	err := s.Scan(&rec.OrgID, &rec.Key, &rec.RequestHash, &rec.Status, &rec.Body, &created)
	rec.CreatedAt = fromMicros(created)
	return rec, err
}

// GetIdempotency returns the record of key; found is false when none.
func (t *tx) GetIdempotency(ctx context.Context, org domain.OrgID, key string) (domain.IdempotencyRecord, bool, error) {
	rec, found, err := lookup(ctx, t, scanIdempotency,
		`SELECT `+idempotencyColumns+` FROM idempotency_keys WHERE org_id = ? AND key = ?`, org, key)
	if err != nil {
		return rec, false, wrap("get idempotency", err)
	}
	return rec, found, nil
}

// PutIdempotency stores rec; a duplicate key is a conflict.
func (t *tx) PutIdempotency(ctx context.Context, rec domain.IdempotencyRecord) error {
	return t.insert(ctx, "put idempotency",
		`INSERT INTO idempotency_keys (`+idempotencyColumns+`) VALUES (?, ?, ?, ?, ?, ?)`,
		rec.OrgID, rec.Key, rec.RequestHash, rec.Status, nullBytes(rec.Body), micros(rec.CreatedAt))
}

// CompleteIdempotency stores the response of the request holding key;
// CodeNotFound when there is no such key in org.
func (t *tx) CompleteIdempotency(ctx context.Context, org domain.OrgID, key string, status int, body []byte) error {
	return t.update(ctx, "idempotency key", key,
		`UPDATE idempotency_keys SET status = ?, body = ? WHERE org_id = ? AND key = ?`,
		status, nullBytes(body), org, key)
}

// DeleteIdempotency forgets key; forgetting a missing key does nothing.
func (t *tx) DeleteIdempotency(ctx context.Context, org domain.OrgID, key string) error {
	_, err := t.exec(ctx, `DELETE FROM idempotency_keys WHERE org_id = ? AND key = ?`, org, key)
	if err != nil {
		return wrap("delete idempotency", err)
	}
	return nil
}

// nullBytes encodes nil as NULL (an empty body stays empty).
func nullBytes(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}
