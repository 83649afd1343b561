package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"

	"github.com/parleyhq/parley/domain"
)

// Webhook endpoints, deliveries and attempts (domain.WebhookTx).

const endpointColumns = `id, org_id, url, description, event_types, enabled, disabled_reason, secret,
	previous_secret, previous_secret_until, created_at, updated_at`

func scanEndpoint(s scanner) (domain.WebhookEndpoint, error) {
	var e domain.WebhookEndpoint
	var types string
	var until sql.NullInt64
	var created, updated int64
	if err := s.Scan(&e.ID, &e.OrgID, &e.URL, &e.Description, &types, &e.Enabled, &e.DisabledReason, &e.Secret,
		&e.PreviousSecret, &until, &created, &updated); err != nil {
		return e, err
	}
	e.PreviousSecretUntil, e.CreatedAt, e.UpdatedAt = optMicros(until), fromMicros(created), fromMicros(updated)
	if err := decodeJSON(types, &e.EventTypes); err != nil {
		return e, err
	}
	if len(e.EventTypes) == 0 {
		e.EventTypes = nil
	}
	return e, nil
}

// eventTypesJSON encodes the subscribed types; none is [] (every type).
func eventTypesJSON(types []string) (string, error) {
	if types == nil {
		types = []string{}
	}
	return encodeJSON(types)
}

// CreateWebhookEndpoint stores e; a duplicate id is a conflict.
func (t *tx) CreateWebhookEndpoint(ctx context.Context, e domain.WebhookEndpoint) error {
	types, err := eventTypesJSON(e.EventTypes)
	if err != nil {
		return err
	}
	return t.insert(ctx, "create webhook endpoint",
		`INSERT INTO webhook_endpoints (`+endpointColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.ID, e.OrgID, e.URL, e.Description, types, e.Enabled, e.DisabledReason, e.Secret,
		e.PreviousSecret, nullMicros(e.PreviousSecretUntil), micros(e.CreatedAt), micros(e.UpdatedAt))
}

// GetWebhookEndpoint returns the endpoint; CodeNotFound when not in org.
func (t *tx) GetWebhookEndpoint(ctx context.Context, org domain.OrgID, id domain.WebhookEndpointID) (domain.WebhookEndpoint, error) {
	return get(ctx, t, "webhook endpoint", id, scanEndpoint,
		`SELECT `+endpointColumns+` FROM webhook_endpoints WHERE id = ? AND org_id = ?`, id, org)
}

// ListWebhookEndpoints returns the org's endpoints, oldest first.
func (t *tx) ListWebhookEndpoints(ctx context.Context, org domain.OrgID) ([]domain.WebhookEndpoint, error) {
	return list(ctx, t, "list webhook endpoints", scanEndpoint,
		`SELECT `+endpointColumns+` FROM webhook_endpoints WHERE org_id = ? ORDER BY created_at, id`, org)
}

// UpdateWebhookEndpoint replaces the endpoint's mutable fields;
// CodeNotFound when it is not in org.
func (t *tx) UpdateWebhookEndpoint(ctx context.Context, e domain.WebhookEndpoint) error {
	types, err := eventTypesJSON(e.EventTypes)
	if err != nil {
		return err
	}
	return t.update(ctx, "webhook endpoint", e.ID,
		`UPDATE webhook_endpoints SET url = ?, description = ?, event_types = ?, enabled = ?, disabled_reason = ?,
		secret = ?, previous_secret = ?, previous_secret_until = ?, updated_at = ? WHERE id = ? AND org_id = ?`,
		e.URL, e.Description, types, e.Enabled, e.DisabledReason, e.Secret, e.PreviousSecret,
		nullMicros(e.PreviousSecretUntil), micros(e.UpdatedAt), e.ID, e.OrgID)
}

// DeleteWebhookEndpoint deletes the endpoint and, by cascade, its
// deliveries, attempts and health; CodeNotFound when it is not in org.
func (t *tx) DeleteWebhookEndpoint(ctx context.Context, org domain.OrgID, id domain.WebhookEndpointID) error {
	return t.update(ctx, "webhook endpoint", id, `DELETE FROM webhook_endpoints WHERE id = ? AND org_id = ?`, id, org)
}

// fanOut makes the deliveries of the event just appended as seq: one per
// enabled endpoint of its org subscribed to its type, due at once. The
// first event of a transaction that makes any wakes the delivery workers
// of this process after the commit (domain.TopicWebhooks).
func (t *tx) fanOut(ctx context.Context, seq int64, e domain.Event, payload string) error {
	res, err := t.exec(ctx,
		`INSERT INTO webhook_deliveries (endpoint_id, event_seq, org_id, event_type, subject, payload, event_created_at,
			state, attempts, next_attempt_at, lease, last_status, last_error)
		SELECT id, ?, org_id, ?, ?, ?, ?, 'pending', 0, ?, '', 0, '' FROM webhook_endpoints
		WHERE org_id = ? AND enabled = 1
		AND (event_types = '[]' OR EXISTS (SELECT 1 FROM json_each(event_types) WHERE value = ?))`,
		seq, e.Type, e.Subject, payload, micros(e.CreatedAt), micros(e.CreatedAt), e.OrgID, e.Type)
	if err != nil {
		return wrap("fan out event", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return wrap("fan out event", err)
	}
	if n == 0 || t.notifiedWebhooks {
		return nil
	}
	t.notifiedWebhooks = true
	return t.Notify(ctx, domain.TopicWebhooks, string(e.OrgID))
}

const deliveryColumns = `org_id, endpoint_id, event_seq, event_type, subject, payload, event_created_at, state,
	attempts, next_attempt_at, lease, first_attempt_at, last_status, last_error, delivered_at`

func scanDelivery(s scanner) (domain.WebhookDelivery, error) {
	var d domain.WebhookDelivery
	var created, next int64
	var first, delivered sql.NullInt64
	if err := s.Scan(&d.OrgID, &d.EndpointID, &d.EventSeq, &d.EventType, &d.Subject, (*[]byte)(&d.Payload), &created, &d.State,
		&d.Attempts, &next, &d.Lease, &first, &d.LastStatus, &d.LastError, &delivered); err != nil {
		return d, err
	}
	d.EventCreatedAt, d.NextAttemptAt = fromMicros(created), fromMicros(next)
	d.FirstAttemptAt, d.DeliveredAt = optMicros(first), optMicros(delivered)
	return d, nil
}

// ClaimWebhookDeliveries leases up to limit due pending deliveries. The
// single writer connection (and SQLite's write lock across processes)
// keeps two claimers from taking one row.
func (t *tx) ClaimWebhookDeliveries(ctx context.Context, now, until time.Time, lease string, limit int) ([]domain.WebhookDelivery, error) {
	return list(ctx, t, "claim webhook deliveries", scanDelivery,
		`UPDATE webhook_deliveries SET next_attempt_at = ?, lease = ? WHERE rowid IN (
			SELECT rowid FROM webhook_deliveries WHERE state = 'pending' AND next_attempt_at <= ?
			ORDER BY next_attempt_at LIMIT ?)
		RETURNING `+deliveryColumns, micros(until), lease, micros(now), limitArg(limit))
}

// FinishWebhookAttempts records a batch with two statements, whatever its
// size: one UPDATE of every delivery still under its lease and one INSERT
// of every attempt, both reading the batch from one JSON array parameter
// (json_each), so the cost per attempt is a row, not a statement.
func (t *tx) FinishWebhookAttempts(ctx context.Context, fs []domain.WebhookFinish) ([]bool, error) {
	if len(fs) == 0 {
		return nil, nil
	}
	rows := make([][]any, len(fs))
	for i, f := range fs {
		d, a := f.Delivery, f.Attempt
		rows[i] = []any{d.EndpointID, d.EventSeq, d.OrgID, f.Lease, d.State, d.Attempts, micros(d.NextAttemptAt),
			micros(a.StartedAt), d.LastStatus, d.LastError, nullMicros(d.DeliveredAt), a.Attempt,
			a.Latency.Microseconds(), a.Status, a.Error, a.ResponseExcerpt}
	}
	batch, err := json.Marshal(rows)
	if err != nil {
		return nil, wrap("finish webhook attempts", err)
	}
	done, err := list(ctx, t, "finish webhook attempts", func(s scanner) (finishKey, error) {
		var k finishKey
		return k, s.Scan(&k.endpoint, &k.seq)
	}, `UPDATE webhook_deliveries AS d SET state = i.value->>4, attempts = i.value->>5, next_attempt_at = i.value->>6,
			lease = '', first_attempt_at = COALESCE(d.first_attempt_at, i.value->>7), last_status = i.value->>8,
			last_error = i.value->>9, delivered_at = i.value->>10
		FROM jsonb_each(?) AS i
		WHERE d.endpoint_id = i.value->>0 AND d.event_seq = i.value->>1 AND d.org_id = i.value->>2
			AND d.lease = i.value->>3 AND d.state = 'pending'
		RETURNING endpoint_id, event_seq`, string(batch))
	if err != nil {
		return nil, err
	}
	err = t.insert(ctx, "log webhook attempts", `INSERT INTO webhook_attempts (endpoint_id, org_id, event_seq, attempt,
			started_at, latency_us, status, error, response_excerpt)
		SELECT i.value->>0, i.value->>2, i.value->>1, i.value->>11, i.value->>7, i.value->>12, i.value->>13,
			i.value->>14, i.value->>15
		FROM jsonb_each(?) AS i
		WHERE EXISTS (SELECT 1 FROM webhook_endpoints w WHERE w.id = i.value->>0 AND w.org_id = i.value->>2)`,
		string(batch)) // json_each reads the array in order: the attempts' seq follow the batch
	if err != nil {
		return nil, err
	}
	updated := make(map[finishKey]bool, len(done))
	for _, k := range done {
		updated[k] = true
	}
	applied := make([]bool, len(fs))
	for i, f := range fs {
		k := finishKey{string(f.Delivery.EndpointID), f.Delivery.EventSeq}
		applied[i] = updated[k]
		delete(updated, k) // a delivery twice in one batch applies once
	}
	return applied, nil
}

// finishKey identifies a delivery in a finished batch.
type finishKey struct {
	endpoint string
	seq      int64
}

// ExtendWebhookLeases extends the leases still held, in one statement
// reading them from a JSON array (json_each).
func (t *tx) ExtendWebhookLeases(ctx context.Context, ls []domain.WebhookLease, until time.Time) ([]bool, error) {
	rows := make([][]any, len(ls))
	for i, l := range ls {
		rows[i] = []any{l.EndpointID, l.EventSeq, l.Lease}
	}
	batch, err := json.Marshal(rows)
	if err != nil {
		return nil, wrap("extend webhook leases", err)
	}
	done, err := list(ctx, t, "extend webhook leases", func(s scanner) (domain.WebhookLease, error) {
		var l domain.WebhookLease
		return l, s.Scan(&l.EndpointID, &l.EventSeq)
	}, `UPDATE webhook_deliveries AS d SET next_attempt_at = max(d.next_attempt_at, ?)
		FROM jsonb_each(?) AS i
		WHERE d.endpoint_id = i.value->>0 AND d.event_seq = i.value->>1 AND d.lease = i.value->>2 AND d.state = 'pending'
		RETURNING endpoint_id, event_seq`, micros(until), string(batch))
	if err != nil {
		return nil, err
	}
	set := make(map[finishKey]bool, len(done))
	for _, d := range done {
		set[finishKey{string(d.EndpointID), d.EventSeq}] = true
	}
	renewed := make([]bool, len(ls))
	for i, l := range ls {
		renewed[i] = set[finishKey{string(l.EndpointID), l.EventSeq}]
	}
	return renewed, nil
}

// GetWebhookDelivery returns one delivery; CodeNotFound when none in org.
func (t *tx) GetWebhookDelivery(ctx context.Context, org domain.OrgID, endpoint domain.WebhookEndpointID, seq int64) (domain.WebhookDelivery, error) {
	return get(ctx, t, "webhook delivery", domain.EventIDOf(seq), scanDelivery,
		`SELECT `+deliveryColumns+` FROM webhook_deliveries WHERE endpoint_id = ? AND event_seq = ? AND org_id = ?`,
		endpoint, seq, org)
}

// CreateWebhookDelivery stores d; a duplicate is a conflict.
func (t *tx) CreateWebhookDelivery(ctx context.Context, d domain.WebhookDelivery) error {
	payload, err := domain.WebhookPayloadText(d.Payload)
	if err != nil {
		return err
	}
	return t.insert(ctx, "create webhook delivery",
		`INSERT INTO webhook_deliveries (`+deliveryColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		d.OrgID, d.EndpointID, d.EventSeq, d.EventType, d.Subject, payload, micros(d.EventCreatedAt), d.State,
		d.Attempts, micros(d.NextAttemptAt), d.Lease, nullMicros(d.FirstAttemptAt), d.LastStatus, d.LastError,
		nullMicros(d.DeliveredAt))
}

// ListWebhookDeliveries returns the endpoint's deliveries in event order.
func (t *tx) ListWebhookDeliveries(ctx context.Context, org domain.OrgID, endpoint domain.WebhookEndpointID, f domain.DeliveryFilter) ([]domain.WebhookDelivery, error) {
	return list(ctx, t, "list webhook deliveries", scanDelivery,
		`SELECT `+deliveryColumns+` FROM webhook_deliveries
		WHERE endpoint_id = ? AND org_id = ? AND (? = '' OR state = ?) AND event_seq > ?
		ORDER BY event_seq LIMIT ?`, endpoint, org, f.State, f.State, f.AfterSeq, limitArg(f.Limit))
}

// RescheduleWebhookDeliveries makes deliveries pending again, due at now.
func (t *tx) RescheduleWebhookDeliveries(ctx context.Context, org domain.OrgID, endpoint domain.WebhookEndpointID, seq int64, since, now time.Time) (int, error) {
	const reset = `UPDATE webhook_deliveries SET state = 'pending', attempts = 0, next_attempt_at = ?, lease = '',
		delivered_at = NULL WHERE endpoint_id = ? AND org_id = ? AND `
	var res sql.Result
	var err error
	if seq > 0 {
		res, err = t.exec(ctx, reset+`event_seq = ? AND NOT (state = 'pending' AND lease <> '')`,
			micros(now), endpoint, org, seq)
	} else {
		res, err = t.exec(ctx, reset+`state = 'failed' AND event_created_at >= ?`,
			micros(now), endpoint, org, micros(since))
	}
	return affected("reschedule webhook deliveries", res, err)
}

// FailPendingWebhookDeliveries fails the endpoint's pending deliveries.
func (t *tx) FailPendingWebhookDeliveries(ctx context.Context, org domain.OrgID, endpoint domain.WebhookEndpointID, reason string) (int, error) {
	res, err := t.exec(ctx, `UPDATE webhook_deliveries SET state = 'failed', lease = '', last_error = ?
		WHERE endpoint_id = ? AND org_id = ? AND state = 'pending'`, reason, endpoint, org)
	return affected("fail webhook deliveries", res, err)
}

func affected(op string, res sql.Result, err error) (int, error) {
	if err != nil {
		return 0, wrap(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, wrap(op, err)
	}
	return int(n), nil
}

const attemptColumns = `seq, org_id, endpoint_id, event_seq, attempt, started_at, latency_us, status, error,
	response_excerpt`

func scanAttempt(s scanner) (domain.WebhookAttempt, error) {
	var a domain.WebhookAttempt
	var started, latency int64
	err := s.Scan(&a.Seq, &a.OrgID, &a.EndpointID, &a.EventSeq, &a.Attempt, &started, &latency, &a.Status, &a.Error,
		&a.ResponseExcerpt)
	a.StartedAt, a.Latency = fromMicros(started), time.Duration(latency)*time.Microsecond
	return a, err
}

// ListWebhookAttempts returns the endpoint's attempts, newest first.
func (t *tx) ListWebhookAttempts(ctx context.Context, org domain.OrgID, endpoint domain.WebhookEndpointID, f domain.AttemptFilter) ([]domain.WebhookAttempt, error) {
	return list(ctx, t, "list webhook attempts", scanAttempt,
		`SELECT `+attemptColumns+` FROM webhook_attempts
		WHERE endpoint_id = ? AND org_id = ? AND (? = 0 OR event_seq = ?) AND (? = 0 OR seq < ?)
		ORDER BY seq DESC LIMIT ?`,
		endpoint, org, f.EventSeq, f.EventSeq, f.BeforeSeq, f.BeforeSeq, limitArg(f.Limit))
}

// MarkWebhookEndpointFailing records the start of a failure streak.
func (t *tx) MarkWebhookEndpointFailing(ctx context.Context, org domain.OrgID, endpoint domain.WebhookEndpointID, at time.Time) (time.Time, error) {
	err := t.insert(ctx, "mark webhook endpoint failing",
		`INSERT INTO webhook_endpoint_health (endpoint_id, failing_since)
		SELECT ?, ? WHERE EXISTS (SELECT 1 FROM webhook_endpoints WHERE id = ? AND org_id = ?)
		ON CONFLICT (endpoint_id) DO NOTHING`, endpoint, micros(at), endpoint, org)
	if err != nil {
		return time.Time{}, err
	}
	since, err := get(ctx, t, "webhook endpoint", endpoint, func(s scanner) (int64, error) {
		var us int64
		return us, s.Scan(&us)
	}, `SELECT h.failing_since FROM webhook_endpoint_health h JOIN webhook_endpoints w ON w.id = h.endpoint_id
		WHERE h.endpoint_id = ? AND w.org_id = ?`, endpoint, org)
	return fromMicros(since), err
}

// MarkWebhookEndpointHealthy ends a failure streak.
func (t *tx) MarkWebhookEndpointHealthy(ctx context.Context, org domain.OrgID, endpoint domain.WebhookEndpointID) error {
	_, err := t.exec(ctx, `DELETE FROM webhook_endpoint_health WHERE endpoint_id = ?
		AND endpoint_id IN (SELECT id FROM webhook_endpoints WHERE id = ? AND org_id = ?)`, endpoint, endpoint, org)
	if err != nil {
		return wrap("mark webhook endpoint healthy", err)
	}
	return nil
}

// WebhookQueue counts the pending deliveries of every org.
func (t *tx) WebhookQueue(ctx context.Context, now time.Time) (domain.WebhookQueueStats, error) {
	var q domain.WebhookQueueStats
	var next sql.NullInt64
	_, err := get(ctx, t, "webhook queue", "", func(s scanner) (bool, error) {
		return true, s.Scan(&q.Pending, &q.Due, &next)
	}, `SELECT COUNT(*), COALESCE(SUM(next_attempt_at <= ?), 0),
		(SELECT next_attempt_at FROM webhook_deliveries WHERE state = 'pending' ORDER BY next_attempt_at LIMIT 1)
		FROM webhook_deliveries WHERE state = 'pending'`, micros(now))
	if next.Valid {
		q.NextDue = fromMicros(next.Int64)
	}
	return q, err
}
