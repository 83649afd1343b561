package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/notify"
)

// LookupResource returns a resource of any org; CodeNotFound when none.
func (t *tx) LookupResource(ctx context.Context, id domain.ResourceID) (domain.ChannelResource, error) {
	return get(ctx, t, "resource", id, scanResource,
		`SELECT `+resourceColumns+` FROM channel_resources WHERE id = $1`, id)
}

// PutResourceSecret stores s, replacing the secret of that name.
func (t *tx) PutResourceSecret(ctx context.Context, s domain.ResourceSecret) error {
	_, err := t.exec(ctx,
		`INSERT INTO channel_secrets (org_id, resource_id, name, value, previous_value, previous_until, updated_at)
		 VALUES ($1, $2, $3, $4, $5, $6, $7)
		 ON CONFLICT (resource_id, name) DO UPDATE SET value = excluded.value,
		   previous_value = excluded.previous_value, previous_until = excluded.previous_until,
		   updated_at = excluded.updated_at
		 WHERE channel_secrets.org_id = excluded.org_id`,
		s.OrgID, s.ResourceID, s.Name, s.Value, s.Previous, utcOrNil(s.PreviousUntil), s.UpdatedAt)
	if err != nil {
		return fmt.Errorf("postgres: put resource secret: %w", err)
	}
	return nil
}

// ResourceSecrets returns the resource's secrets ordered by name.
func (t *tx) ResourceSecrets(ctx context.Context, org domain.OrgID, resource domain.ResourceID) ([]domain.ResourceSecret, error) {
	return collect(ctx, t, func(row scanner) (domain.ResourceSecret, error) {
		var r domain.ResourceSecret
		err := row.Scan(&r.OrgID, &r.ResourceID, &r.Name, &r.Value, &r.Previous, &r.PreviousUntil, &r.UpdatedAt)
		r.PreviousUntil, r.UpdatedAt = utcOrNil(r.PreviousUntil), r.UpdatedAt.UTC()
		return r, err
	}, `SELECT org_id, resource_id, name, value, previous_value, previous_until, updated_at
	    FROM channel_secrets WHERE org_id = $1 AND resource_id = $2 ORDER BY name`, org, resource)
}

// SetAllowedOrigins replaces the resource's allowed web origins.
func (t *tx) SetAllowedOrigins(ctx context.Context, org domain.OrgID, resource domain.ResourceID, origins []string) error {
	doc, err := encodeJSON(append([]string{}, origins...))
	if err != nil {
		return err
	}
	_, err = t.exec(ctx,
		`INSERT INTO channel_origins (org_id, resource_id, allowed_origins) VALUES ($1, $2, $3)
		 ON CONFLICT (resource_id) DO UPDATE SET allowed_origins = excluded.allowed_origins
		 WHERE channel_origins.org_id = excluded.org_id`, org, resource, doc)
	if err != nil {
		return fmt.Errorf("postgres: set allowed origins: %w", err)
	}
	return nil
}

// AllowedOrigins returns the resource's allowed web origins.
func (t *tx) AllowedOrigins(ctx context.Context, org domain.OrgID, resource domain.ResourceID) ([]string, error) {
	doc, found, err := find(ctx, t, func(row scanner) ([]byte, error) {
		var d []byte
		return d, row.Scan(&d)
	}, `SELECT allowed_origins::text FROM channel_origins WHERE org_id = $1 AND resource_id = $2`, org, resource)
	if err != nil || !found {
		return nil, err
	}
	var origins []string
	if err := decodeJSON(doc, &origins); err != nil || len(origins) == 0 {
		return nil, err
	}
	return origins, nil
}

const smsColumns = `message_id, org_id, conversation_id, resource_id, from_number, to_number, body, state,
	status, provider_id, attempts, next_attempt_at, lease_until, claim, error_code, error_message,
	created_at, updated_at, seq`

func scanSMS(row scanner) (domain.SMSOutbound, error) {
	var m domain.SMSOutbound
	err := row.Scan(&m.MessageID, &m.OrgID, &m.ConversationID, &m.ResourceID, &m.From, &m.To, &m.Body, &m.State,
		&m.Status, &m.ProviderID, &m.Attempts, &m.NextAttemptAt, &m.LeaseUntil, &m.Claim, &m.ErrorCode, &m.ErrorMessage,
		&m.CreatedAt, &m.UpdatedAt, &m.Seq)
	m.NextAttemptAt, m.LeaseUntil = m.NextAttemptAt.UTC(), utcOrNil(m.LeaseUntil)
	m.CreatedAt, m.UpdatedAt = m.CreatedAt.UTC(), m.UpdatedAt.UTC()
	return m, err
}

// EnqueueSMS stores m; a duplicate message id is a transient conflict.
func (t *tx) EnqueueSMS(ctx context.Context, m domain.SMSOutbound) error {
	_, err := t.exec(ctx,
		`INSERT INTO sms_outbox (`+smsColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)`,
		m.MessageID, m.OrgID, m.ConversationID, m.ResourceID, m.From, m.To, m.Body, m.State,
		m.Status, m.ProviderID, m.Attempts, m.NextAttemptAt, utcOrNil(m.LeaseUntil), m.Claim,
		m.ErrorCode, m.ErrorMessage, m.CreatedAt, m.UpdatedAt, m.Seq)
	if err != nil {
		return fmt.Errorf("postgres: enqueue sms: %w", err)
	}
	return nil
}

// ClaimSMS claims due pending messages that no earlier message of their
// conversation holds back, skipping the rows another transaction holds
// (FOR UPDATE SKIP LOCKED), so that workers in several processes take
// different messages instead of waiting for each other. A message whose
// predecessor another transaction is claiming still sees it pending, so
// one conversation never has two messages in flight.
func (t *tx) ClaimSMS(ctx context.Context, now, leaseUntil time.Time, claim string, limit int) ([]domain.SMSOutbound, error) {
	if limit <= 0 {
		limit = 1000
	}
	return collect(ctx, t, scanSMS,
		`UPDATE sms_outbox SET state = 'sending', claim = $1, lease_until = $2, attempts = attempts + 1, updated_at = $3
		 WHERE message_id IN (SELECT message_id FROM sms_outbox o WHERE state = 'pending' AND next_attempt_at <= $3
		                        AND NOT EXISTS (SELECT 1 FROM sms_outbox e WHERE e.conversation_id = o.conversation_id
		                                        AND e.state IN ('pending', 'sending') AND (e.seq, e.message_id) < (o.seq, o.message_id))
		                      ORDER BY next_attempt_at, message_id LIMIT $4 FOR UPDATE SKIP LOCKED)
		 RETURNING `+smsColumns, claim, leaseUntil, now, limit)
}

// ExpiredSMSClaims returns claims whose lease ended before now.
func (t *tx) ExpiredSMSClaims(ctx context.Context, now time.Time, limit int) ([]domain.SMSOutbound, error) {
	if limit <= 0 {
		limit = 1000
	}
	return collect(ctx, t, scanSMS,
		`SELECT `+smsColumns+` FROM sms_outbox WHERE state = 'sending' AND lease_until < $1
		 ORDER BY lease_until, message_id LIMIT $2`, now, limit)
}

// GetSMS returns the outbound SMS of a message; CodeNotFound when none.
func (t *tx) GetSMS(ctx context.Context, org domain.OrgID, message domain.MessageID) (domain.SMSOutbound, error) {
	return get(ctx, t, "sms", message, scanSMS,
		`SELECT `+smsColumns+` FROM sms_outbox WHERE org_id = $1 AND message_id = $2`+t.lockForWrite(), org, message)
}

// lockForWrite is the locking clause of a read whose row the transaction
// will write back (the SMS outbox is only ever read, changed and saved):
// in a write transaction the row stays locked until it ends, so two
// read-modify-writes of one row (a status callback and an attempt's
// outcome, or a claim) take turns at READ COMMITTED instead of overwriting
// each other; in a View, nothing.
func (t *tx) lockForWrite() string {
	if t.readOnly {
		return ""
	}
	return " FOR NO KEY UPDATE"
}

// SMSByProviderID returns the outbound SMS with the provider's id.
func (t *tx) SMSByProviderID(ctx context.Context, org domain.OrgID, resource domain.ResourceID, sid string) (domain.SMSOutbound, error) {
	return get(ctx, t, "sms", sid, scanSMS,
		`SELECT `+smsColumns+` FROM sms_outbox WHERE org_id = $1 AND resource_id = $2 AND provider_id = $3 AND provider_id <> ''`+
			t.lockForWrite(), org, resource, sid)
}

// SaveSMS stores m's mutable fields; CodeNotFound when it is not queued.
func (t *tx) SaveSMS(ctx context.Context, m domain.SMSOutbound) error {
	return t.execOne(ctx, "sms", m.MessageID,
		`UPDATE sms_outbox SET state = $1, status = $2, provider_id = $3, attempts = $4, next_attempt_at = $5,
		   lease_until = $6, claim = $7, error_code = $8, error_message = $9, updated_at = $10
		 WHERE org_id = $11 AND message_id = $12`,
		m.State, m.Status, m.ProviderID, m.Attempts, m.NextAttemptAt, utcOrNil(m.LeaseUntil), m.Claim,
		m.ErrorCode, m.ErrorMessage, m.UpdatedAt, m.OrgID, m.MessageID)
}

// SetOptOut records an opt-out or an opt-in.
func (t *tx) SetOptOut(ctx context.Context, org domain.OrgID, resource domain.ResourceID, destination string, optedOut bool, at time.Time) error {
	_, err := t.exec(ctx,
		`INSERT INTO sms_opt_outs (org_id, resource_id, destination, opted_out, updated_at) VALUES ($1, $2, $3, $4, $5)
		 ON CONFLICT (resource_id, destination) DO UPDATE SET opted_out = excluded.opted_out, updated_at = excluded.updated_at
		 WHERE sms_opt_outs.org_id = excluded.org_id`,
		org, resource, destination, optedOut, at)
	if err != nil {
		return fmt.Errorf("postgres: set opt-out: %w", err)
	}
	return nil
}

// OptedOut reports whether destination opted out of the resource.
func (t *tx) OptedOut(ctx context.Context, org domain.OrgID, resource domain.ResourceID, destination string) (bool, error) {
	_, found, err := find(ctx, t, func(row scanner) (int, error) {
		var one int
		return one, row.Scan(&one)
	}, `SELECT 1 FROM sms_opt_outs WHERE org_id = $1 AND resource_id = $2 AND destination = $3 AND opted_out`,
		org, resource, destination)
	return found, err
}

// Notify queues a notification, published after the transaction commits,
// and only if it does (see publisher).
func (t *tx) Notify(_ context.Context, topic, payload string) error {
	if t.readOnly {
		return errors.New("postgres: notify in a read-only transaction")
	}
	note := notify.Note{Topic: topic, Payload: payload}
	if !slices.Contains(t.notes, note) { // PostgreSQL would fold it anyway
		t.notes = append(t.notes, note)
	}
	return nil
}

// UpdateResource stores r's name, binding and IdentifyBy.
func (t *tx) UpdateResource(ctx context.Context, r domain.ChannelResource) error {
	return t.execOne(ctx, "resource", r.ID,
		`UPDATE channel_resources SET name = $1, deployment_id = $2, app_id = $3, environment = $4, identify_by = $5
		 WHERE org_id = $6 AND id = $7`,
		r.Name, nullIfEmpty(r.DeploymentID), nullIfEmpty(r.AppID), r.Environment, r.IdentifyBy, r.OrgID, r.ID)
}
