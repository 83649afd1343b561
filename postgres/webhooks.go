package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parleyhq/parley/domain"
)

// Webhook endpoints, deliveries and attempts (domain.WebhookTx).

const endpointColumns = `id, org_id, url, description, event_types, enabled, disabled_reason, secret,
	previous_secret, previous_secret_until, created_at, updated_at`

func scanEndpoint(row scanner) (domain.WebhookEndpoint, error) {
	var e domain.WebhookEndpoint
	err := row.Scan(&e.ID, &e.OrgID, &e.URL, &e.Description, &e.EventTypes, &e.Enabled, &e.DisabledReason, &e.Secret,
		&e.PreviousSecret, &e.PreviousSecretUntil, &e.CreatedAt, &e.UpdatedAt)
	if len(e.EventTypes) == 0 {
		e.EventTypes = nil
	}
	e.PreviousSecretUntil, e.CreatedAt, e.UpdatedAt = utcOrNil(e.PreviousSecretUntil), e.CreatedAt.UTC(), e.UpdatedAt.UTC()
	return e, err
}

// eventTypes is the text[] of the subscribed types ({} for every type).
func eventTypes(types []string) []string {
	if types == nil {
		return []string{}
	}
	return types
}

// CreateWebhookEndpoint stores e; a duplicate id is a conflict.
func (t *tx) CreateWebhookEndpoint(ctx context.Context, e domain.WebhookEndpoint) error {
	_, err := t.exec(ctx, `INSERT INTO webhook_endpoints (`+endpointColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		e.ID, e.OrgID, e.URL, e.Description, eventTypes(e.EventTypes), e.Enabled, e.DisabledReason, e.Secret,
		e.PreviousSecret, e.PreviousSecretUntil, e.CreatedAt, e.UpdatedAt)
	if err != nil {
		return fmt.Errorf("postgres: create webhook endpoint: %w", err)
	}
	return nil
}

// GetWebhookEndpoint returns the endpoint; CodeNotFound when not in org.
func (t *tx) GetWebhookEndpoint(ctx context.Context, org domain.OrgID, id domain.WebhookEndpointID) (domain.WebhookEndpoint, error) {
	return get(ctx, t, "webhook endpoint", id, scanEndpoint,
		`SELECT `+endpointColumns+` FROM webhook_endpoints WHERE org_id = $1 AND id = $2`, org, id)
}

// ListWebhookEndpoints returns the org's endpoints, oldest first.
func (t *tx) ListWebhookEndpoints(ctx context.Context, org domain.OrgID) ([]domain.WebhookEndpoint, error) {
	return collect(ctx, t, scanEndpoint,
		`SELECT `+endpointColumns+` FROM webhook_endpoints WHERE org_id = $1 ORDER BY created_at, id`, org)
}

// UpdateWebhookEndpoint replaces the endpoint's mutable fields;
// CodeNotFound when it is not in org.
func (t *tx) UpdateWebhookEndpoint(ctx context.Context, e domain.WebhookEndpoint) error {
	return t.execOne(ctx, "webhook endpoint", e.ID,
		`UPDATE webhook_endpoints SET url = $3, description = $4, event_types = $5, enabled = $6, disabled_reason = $7,
		secret = $8, previous_secret = $9, previous_secret_until = $10, updated_at = $11 WHERE org_id = $1 AND id = $2`,
		e.OrgID, e.ID, e.URL, e.Description, eventTypes(e.EventTypes), e.Enabled, e.DisabledReason, e.Secret,
		e.PreviousSecret, e.PreviousSecretUntil, e.UpdatedAt)
}

// DeleteWebhookEndpoint deletes the endpoint and, by cascade, its
// deliveries, attempts and health; CodeNotFound when it is not in org.
func (t *tx) DeleteWebhookEndpoint(ctx context.Context, org domain.OrgID, id domain.WebhookEndpointID) error {
	return t.execOne(ctx, "webhook endpoint", id, `DELETE FROM webhook_endpoints WHERE org_id = $1 AND id = $2`, org, id)
}

// appendEventSQL stores an event and, in the same statement, its webhook
// deliveries: one per enabled endpoint of the org subscribed to the type,
// due at the event's time. Its row (one, or none) says whether it made
// any: AppendEvent then wakes the delivery workers of every process after
// the commit. Parameters: org, type, subject, payload, time, the event's
// position in its transaction (its Seq: records.go).
const appendEventSQL = `WITH event AS (
		INSERT INTO events (seq, org_id, type, subject, payload, created_at)
		VALUES ((pg_current_xact_id()::text::bigint << 16) + $6, $1, $2, $3, $4, $5) RETURNING seq),
	made AS (
		INSERT INTO webhook_deliveries (endpoint_id, event_seq, org_id, event_type, subject, payload, event_created_at,
			state, attempts, next_attempt_at, lease, last_status, last_error)
		SELECT w.id, event.seq, w.org_id, $2, $3, $4, $5, 'pending', 0, $5, '', 0, ''
		FROM event JOIN webhook_endpoints w ON w.org_id = $1 AND w.enabled
			AND (cardinality(w.event_types) = 0 OR $2 = ANY (w.event_types))
		RETURNING 1)
	SELECT 1 FROM made LIMIT 1`

const deliveryColumns = `org_id, endpoint_id, event_seq, event_type, subject, payload, event_created_at, state,
	attempts, next_attempt_at, lease, first_attempt_at, last_status, last_error, delivered_at`

func scanDelivery(row scanner) (domain.WebhookDelivery, error) {
	var d domain.WebhookDelivery
	if err := row.Scan(&d.OrgID, &d.EndpointID, &d.EventSeq, &d.EventType, &d.Subject, (*[]byte)(&d.Payload), &d.EventCreatedAt,
		&d.State, &d.Attempts, &d.NextAttemptAt, &d.Lease, &d.FirstAttemptAt, &d.LastStatus, &d.LastError,
		&d.DeliveredAt); err != nil {
		return d, err
	}
	d.EventCreatedAt, d.NextAttemptAt = d.EventCreatedAt.UTC(), d.NextAttemptAt.UTC()
	d.FirstAttemptAt, d.DeliveredAt = utcOrNil(d.FirstAttemptAt), utcOrNil(d.DeliveredAt)
	return d, nil
}

// Plans of the queue's statements. Without statistics (a new table, or
// autovacuum off) or with stale ones (few deliveries pending when they
// were taken, a backlog now), the planner estimates a handful of pending
// rows and picks plans that read every pending delivery: a claim sorted
// all the due deliveries to take the first 512 (bitmap scan, then sort),
// and a finish hashed all of them to join its batch. A backlog of 20,000
// made each claim and finish cost 10 to 15 ms that way. These settings,
// for the rest of the transaction only (set_config's is_local), leave the
// planner the index walks: the claim reads the due index in order, and
// the finish looks each delivery of its batch up by primary key.
const (
	claimPlan  = `SELECT set_config('enable_sort', 'off', true), set_config('enable_bitmapscan', 'off', true)`
	finishPlan = `SELECT set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true)`
)

// ClaimWebhookDeliveries leases up to limit due pending deliveries; rows
// locked by another claimer are skipped (FOR UPDATE SKIP LOCKED).
func (t *tx) ClaimWebhookDeliveries(ctx context.Context, now, until time.Time, lease string, limit int) ([]domain.WebhookDelivery, error) {
	if err := t.later(ctx, claimPlan); err != nil {
		return nil, err
	}
	return collect(ctx, t, scanDelivery,
		`UPDATE webhook_deliveries d SET next_attempt_at = $2, lease = $3
		FROM (SELECT endpoint_id, event_seq FROM webhook_deliveries
			WHERE state = 'pending' AND next_attempt_at <= $1
			ORDER BY next_attempt_at LIMIT $4 FOR UPDATE SKIP LOCKED) due
		WHERE d.endpoint_id = due.endpoint_id AND d.event_seq = due.event_seq
		RETURNING `+qualified("d", deliveryColumns), now, until, lease, limitOrAll(limit))
}

// FinishWebhookAttempts records a batch with two statements: one UPDATE
// of every delivery still under its lease, one INSERT of every attempt.
// A delivery under a lease is pending (every write that ends or resets
// one clears its lease), so the UPDATE matches the lease alone: a test
// of the state would let the planner read every pending row instead of
// looking the batch up by primary key (finishPlan).
func (t *tx) FinishWebhookAttempts(ctx context.Context, fs []domain.WebhookFinish) ([]bool, error) {
	if err := t.later(ctx, finishPlan); err != nil {
		return nil, err
	}
	n := len(fs)
	var (
		endpoints, orgs, leases, states, lastErrors, attemptErrors, excerpts = make([]string, n), make([]string, n),
			make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		seqs, latencies                 = make([]int64, n), make([]int64, n)
		attempts, numbers, lastStatuses = make([]int32, n), make([]int32, n), make([]int32, n)
		statuses                        = make([]int32, n)
		next, started                   = make([]time.Time, n), make([]time.Time, n)
		delivered                       = make([]*time.Time, n)
	)
	for i, f := range fs {
		d, a := f.Delivery, f.Attempt
		endpoints[i], orgs[i], leases[i], states[i] = string(d.EndpointID), string(d.OrgID), f.Lease, string(d.State)
		seqs[i], attempts[i], next[i], started[i] = d.EventSeq, int32(d.Attempts), d.NextAttemptAt, a.StartedAt
		lastStatuses[i], lastErrors[i], delivered[i] = int32(d.LastStatus), d.LastError, d.DeliveredAt
		numbers[i], latencies[i], statuses[i] = int32(a.Attempt), a.Latency.Microseconds(), int32(a.Status)
		attemptErrors[i], excerpts[i] = a.Error, a.ResponseExcerpt
	}
	rows, err := t.query(ctx, `UPDATE webhook_deliveries d SET state = i.state, attempts = i.attempts,
			next_attempt_at = i.next_attempt_at, lease = '', first_attempt_at = COALESCE(d.first_attempt_at, i.started_at),
			last_status = i.last_status, last_error = i.last_error, delivered_at = i.delivered_at
		FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::int[], $7::timestamptz[],
			$8::timestamptz[], $9::int[], $10::text[], $11::timestamptz[])
			AS i(endpoint_id, event_seq, org_id, lease, state, attempts, next_attempt_at, started_at, last_status,
				last_error, delivered_at)
		WHERE d.endpoint_id = i.endpoint_id AND d.event_seq = i.event_seq AND d.org_id = i.org_id
			AND d.lease = i.lease AND i.lease <> ''
		RETURNING d.endpoint_id, d.event_seq`,
		endpoints, seqs, orgs, leases, states, attempts, next, started, lastStatuses, lastErrors, delivered)
	if err != nil {
		return nil, fmt.Errorf("postgres: finish webhook attempts: %w", err)
	}
	type key struct {
		endpoint string
		seq      int64
	}
	done, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (key, error) {
		var k key
		return k, row.Scan(&k.endpoint, &k.seq)
	})
	if err != nil {
		return nil, t.note(fmt.Errorf("postgres: finish webhook attempts: %w", err))
	}
	updated := make(map[key]bool, len(done))
	for _, k := range done {
		updated[k] = true
	}
	_, err = t.exec(ctx, `INSERT INTO webhook_attempts (endpoint_id, org_id, event_seq, attempt, started_at, latency_us,
			status, error, response_excerpt)
		SELECT a.endpoint_id, a.org_id, a.event_seq, a.attempt, a.started_at, a.latency_us, a.status, a.error,
			a.response_excerpt FROM unnest($1::text[], $2::text[], $3::bigint[], $4::int[], $5::timestamptz[], $6::bigint[],
			$7::int[], $8::text[], $9::text[]) WITH ORDINALITY
			AS a(endpoint_id, org_id, event_seq, attempt, started_at, latency_us, status, error, response_excerpt, n)
		WHERE EXISTS (SELECT 1 FROM webhook_endpoints w WHERE w.id = a.endpoint_id AND w.org_id = a.org_id)
		ORDER BY a.n`,
		endpoints, orgs, seqs, numbers, started, latencies, statuses, attemptErrors, excerpts)
	if err != nil {
		return nil, fmt.Errorf("postgres: log webhook attempts: %w", err)
	}
	applied := make([]bool, n)
	for i := range fs {
		k := key{endpoints[i], seqs[i]}
		applied[i] = updated[k]
		delete(updated, k) // a delivery twice in one batch applies once
	}
	return applied, nil
}

// ExtendWebhookLeases extends the leases still held, in one statement;
// rows locked by another transaction are skipped (FOR UPDATE SKIP LOCKED),
// so it never waits in a cycle with the worker's own recording.
func (t *tx) ExtendWebhookLeases(ctx context.Context, ls []domain.WebhookLease, until time.Time) ([]bool, error) {
	endpoints, seqs, leases := make([]string, len(ls)), make([]int64, len(ls)), make([]string, len(ls))
	for i, l := range ls {
		endpoints[i], seqs[i], leases[i] = string(l.EndpointID), l.EventSeq, l.Lease
	}
	rows, err := t.query(ctx, `UPDATE webhook_deliveries d SET next_attempt_at = GREATEST(d.next_attempt_at, $4)
		FROM (SELECT w.endpoint_id, w.event_seq FROM webhook_deliveries w
			JOIN unnest($1::text[], $2::bigint[], $3::text[]) AS x(endpoint_id, event_seq, lease)
				ON w.endpoint_id = x.endpoint_id AND w.event_seq = x.event_seq AND w.lease = x.lease
			WHERE w.state = 'pending'
			FOR UPDATE OF w SKIP LOCKED) held
		WHERE d.endpoint_id = held.endpoint_id AND d.event_seq = held.event_seq
		RETURNING d.endpoint_id, d.event_seq`, endpoints, seqs, leases, until)
	if err != nil {
		return nil, fmt.Errorf("postgres: extend webhook leases: %w", err)
	}
	done, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.WebhookLease, error) {
		var l domain.WebhookLease
		return l, row.Scan(&l.EndpointID, &l.EventSeq)
	})
	if err != nil {
		return nil, t.note(fmt.Errorf("postgres: extend webhook leases: %w", err))
	}
	return renewedOf(ls, done), nil
}

// renewedOf reports which of ls are among done (compared by delivery).
func renewedOf(ls, done []domain.WebhookLease) []bool {
	type key struct {
		endpoint domain.WebhookEndpointID
		seq      int64
	}
	set := make(map[key]bool, len(done))
	for _, d := range done {
		set[key{d.EndpointID, d.EventSeq}] = true
	}
	renewed := make([]bool, len(ls))
	for i, l := range ls {
		renewed[i] = set[key{l.EndpointID, l.EventSeq}]
	}
	return renewed
}

// GetWebhookDelivery returns one delivery; CodeNotFound when none in org.
func (t *tx) GetWebhookDelivery(ctx context.Context, org domain.OrgID, endpoint domain.WebhookEndpointID, seq int64) (domain.WebhookDelivery, error) {
	return get(ctx, t, "webhook delivery", domain.EventIDOf(seq), scanDelivery,
		`SELECT `+deliveryColumns+` FROM webhook_deliveries WHERE org_id = $1 AND endpoint_id = $2 AND event_seq = $3`,
		org, endpoint, seq)
}

// CreateWebhookDelivery stores d; a duplicate is a conflict.
func (t *tx) CreateWebhookDelivery(ctx context.Context, d domain.WebhookDelivery) error {
	payload, err := domain.WebhookPayloadText(d.Payload)
	if err != nil {
		return err
	}
	_, err = t.exec(ctx, `INSERT INTO webhook_deliveries (`+deliveryColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
		d.OrgID, d.EndpointID, d.EventSeq, d.EventType, d.Subject, payload, d.EventCreatedAt, d.State, d.Attempts,
		d.NextAttemptAt, d.Lease, d.FirstAttemptAt, d.LastStatus, d.LastError, d.DeliveredAt)
	if err != nil {
		return fmt.Errorf("postgres: create webhook delivery: %w", err)
	}
	return nil
}

// ListWebhookDeliveries returns the endpoint's deliveries in event order.
func (t *tx) ListWebhookDeliveries(ctx context.Context, org domain.OrgID, endpoint domain.WebhookEndpointID, f domain.DeliveryFilter) ([]domain.WebhookDelivery, error) {
	return collect(ctx, t, scanDelivery,
		`SELECT `+deliveryColumns+` FROM webhook_deliveries
		WHERE org_id = $1 AND endpoint_id = $2 AND ($3 = '' OR state = $3) AND event_seq > $4
		ORDER BY event_seq LIMIT $5`, org, endpoint, string(f.State), f.AfterSeq, limitOrAll(f.Limit))
}

// RescheduleWebhookDeliveries makes deliveries pending again, due at now.
func (t *tx) RescheduleWebhookDeliveries(ctx context.Context, org domain.OrgID, endpoint domain.WebhookEndpointID, seq int64, since, now time.Time) (int, error) {
	const reset = `UPDATE webhook_deliveries SET state = 'pending', attempts = 0, next_attempt_at = $3, lease = '',
		delivered_at = NULL WHERE org_id = $1 AND endpoint_id = $2 AND `
	var n int64
	var err error
	if seq > 0 {
		n, err = t.execCount(ctx, reset+`event_seq = $4 AND NOT (state = 'pending' AND lease <> '')`,
			org, endpoint, now, seq)
	} else {
		n, err = t.execCount(ctx, reset+`state = 'failed' AND event_created_at >= $4`, org, endpoint, now, since)
	}
	if err != nil {
		return 0, fmt.Errorf("postgres: reschedule webhook deliveries: %w", err)
	}
	return int(n), nil
}

// FailPendingWebhookDeliveries fails the endpoint's pending deliveries.
func (t *tx) FailPendingWebhookDeliveries(ctx context.Context, org domain.OrgID, endpoint domain.WebhookEndpointID, reason string) (int, error) {
	n, err := t.execCount(ctx, `UPDATE webhook_deliveries SET state = 'failed', lease = '', last_error = $3
		WHERE org_id = $1 AND endpoint_id = $2 AND state = 'pending'`, org, endpoint, reason)
	if err != nil {
		return 0, fmt.Errorf("postgres: fail webhook deliveries: %w", err)
	}
	return int(n), nil
}

// execCount runs a write and returns how many rows it touched.
func (t *tx) execCount(ctx context.Context, sql string, args ...any) (int64, error) {
	tag, err := t.exec(ctx, sql, args...)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

const attemptColumns = `seq, org_id, endpoint_id, event_seq, attempt, started_at, latency_us, status, error,
	response_excerpt`

func scanAttempt(row scanner) (domain.WebhookAttempt, error) {
	var a domain.WebhookAttempt
	var latency int64
	err := row.Scan(&a.Seq, &a.OrgID, &a.EndpointID, &a.EventSeq, &a.Attempt, &a.StartedAt, &latency, &a.Status,
		&a.Error, &a.ResponseExcerpt)
	a.StartedAt, a.Latency = a.StartedAt.UTC(), time.Duration(latency)*time.Microsecond
	return a, err
}

// ListWebhookAttempts returns the endpoint's attempts, newest first.
func (t *tx) ListWebhookAttempts(ctx context.Context, org domain.OrgID, endpoint domain.WebhookEndpointID, f domain.AttemptFilter) ([]domain.WebhookAttempt, error) {
	return collect(ctx, t, scanAttempt,
		`SELECT `+attemptColumns+` FROM webhook_attempts
		WHERE org_id = $1 AND endpoint_id = $2 AND ($3::bigint = 0 OR event_seq = $3) AND ($4::bigint = 0 OR seq < $4)
		ORDER BY seq DESC LIMIT $5`, org, endpoint, f.EventSeq, f.BeforeSeq, limitOrAll(f.Limit))
}

// MarkWebhookEndpointFailing records the start of a failure streak.
func (t *tx) MarkWebhookEndpointFailing(ctx context.Context, org domain.OrgID, endpoint domain.WebhookEndpointID, at time.Time) (time.Time, error) {
	_, err := t.exec(ctx, `INSERT INTO webhook_endpoint_health (endpoint_id, failing_since)
		SELECT $1, $3 WHERE EXISTS (SELECT 1 FROM webhook_endpoints WHERE id = $1 AND org_id = $2)
		ON CONFLICT (endpoint_id) DO NOTHING`, endpoint, org, at)
	if err != nil {
		return time.Time{}, fmt.Errorf("postgres: mark webhook endpoint failing: %w", err)
	}
	since, err := get(ctx, t, "webhook endpoint", endpoint, func(row scanner) (time.Time, error) {
		var since time.Time
		return since, row.Scan(&since)
	}, `SELECT h.failing_since FROM webhook_endpoint_health h JOIN webhook_endpoints w ON w.id = h.endpoint_id
		WHERE h.endpoint_id = $1 AND w.org_id = $2`, endpoint, org)
	return since.UTC(), err
}

// MarkWebhookEndpointHealthy ends a failure streak.
func (t *tx) MarkWebhookEndpointHealthy(ctx context.Context, org domain.OrgID, endpoint domain.WebhookEndpointID) error {
	_, err := t.exec(ctx, `DELETE FROM webhook_endpoint_health h USING webhook_endpoints w
		WHERE h.endpoint_id = $1 AND w.id = h.endpoint_id AND w.org_id = $2`, endpoint, org)
	if err != nil {
		return fmt.Errorf("postgres: mark webhook endpoint healthy: %w", err)
	}
	return nil
}

// WebhookQueue counts the pending deliveries of every org.
func (t *tx) WebhookQueue(ctx context.Context, now time.Time) (domain.WebhookQueueStats, error) {
	var q domain.WebhookQueueStats
	var next *time.Time
	_, err := get(ctx, t, "webhook queue", "", func(row scanner) (bool, error) {
		return true, row.Scan(&q.Pending, &q.Due, &next)
	}, `SELECT COUNT(*), COUNT(*) FILTER (WHERE next_attempt_at <= $1),
		(SELECT next_attempt_at FROM webhook_deliveries WHERE state = 'pending' ORDER BY next_attempt_at LIMIT 1)
		FROM webhook_deliveries WHERE state = 'pending'`, now)
	if next != nil {
		q.NextDue = next.UTC()
	}
	return q, err
}

// qualified prefixes each column of a comma-separated list with alias.
func qualified(alias, columns string) string {
	names := strings.Split(columns, ",")
	for i, name := range names {
		names[i] = alias + "." + strings.TrimSpace(name)
	}
	return strings.Join(names, ", ")
}
