package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/notify"
)

// LookupResource returns a resource of any org; CodeNotFound when none.
func (t *tx) LookupResource(ctx context.Context, id domain.ResourceID) (domain.ChannelResource, error) {
	return get(ctx, t, "resource", id, scanResource,
		`SELECT `+resourceColumns+` FROM channel_resources WHERE id = ?`, id)
}

// PutResourceSecret stores s, replacing the secret of that name.
func (t *tx) PutResourceSecret(ctx context.Context, s domain.ResourceSecret) error {
	return t.insert(ctx, "put resource secret",
		`INSERT INTO channel_secrets (org_id, resource_id, name, value, previous_value, previous_until, updated_at)
		 VALUES (?, ?, ?, ?, ?, ?, ?)
		 ON CONFLICT (resource_id, name) DO UPDATE SET value = excluded.value,
		   previous_value = excluded.previous_value, previous_until = excluded.previous_until,
		   updated_at = excluded.updated_at
		 WHERE channel_secrets.org_id = excluded.org_id`,
		s.OrgID, s.ResourceID, s.Name, s.Value, s.Previous, nullMicros(s.PreviousUntil), micros(s.UpdatedAt))
}

// ResourceSecrets returns the resource's secrets ordered by name.
func (t *tx) ResourceSecrets(ctx context.Context, org domain.OrgID, resource domain.ResourceID) ([]domain.ResourceSecret, error) {
	return list(ctx, t, "resource secrets", func(s scanner) (domain.ResourceSecret, error) {
		var r domain.ResourceSecret
		var until sql.NullInt64
		var updated int64
		err := s.Scan(&r.OrgID, &r.ResourceID, &r.Name, &r.Value, &r.Previous, &until, &updated)
		r.PreviousUntil, r.UpdatedAt = optMicros(until), fromMicros(updated)
		return r, err
	}, `SELECT org_id, resource_id, name, value, previous_value, previous_until, updated_at
	    FROM channel_secrets WHERE org_id = ? AND resource_id = ? ORDER BY name`, org, resource)
}

// SetAllowedOrigins replaces the resource's allowed web origins.
func (t *tx) SetAllowedOrigins(ctx context.Context, org domain.OrgID, resource domain.ResourceID, origins []string) error {
	doc, err := encodeJSON(append([]string{}, origins...))
	if err != nil {
		return err
	}
	return t.insert(ctx, "set allowed origins",
		`INSERT INTO channel_origins (org_id, resource_id, allowed_origins) VALUES (?, ?, ?)
		 ON CONFLICT (resource_id) DO UPDATE SET allowed_origins = excluded.allowed_origins
		 WHERE channel_origins.org_id = excluded.org_id`, org, resource, doc)
}

// AllowedOrigins returns the resource's allowed web origins.
func (t *tx) AllowedOrigins(ctx context.Context, org domain.OrgID, resource domain.ResourceID) ([]string, error) {
	doc, found, err := lookup(ctx, t, func(s scanner) (string, error) {
		var d string
		return d, s.Scan(&d)
	}, `SELECT allowed_origins FROM channel_origins WHERE org_id = ? AND resource_id = ?`, org, resource)
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

func scanSMS(s scanner) (domain.SMSOutbound, error) {
	var m domain.SMSOutbound
	var next, created, updated int64
	var lease sql.NullInt64
	err := s.Scan(&m.MessageID, &m.OrgID, &m.ConversationID, &m.ResourceID, &m.From, &m.To, &m.Body, &m.State,
		&m.Status, &m.ProviderID, &m.Attempts, &next, &lease, &m.Claim, &m.ErrorCode, &m.ErrorMessage,
		&created, &updated, &m.Seq)
	m.NextAttemptAt, m.LeaseUntil = fromMicros(next), optMicros(lease)
	m.CreatedAt, m.UpdatedAt = fromMicros(created), fromMicros(updated)
	return m, err
}

// EnqueueSMS stores m; a duplicate message id is a conflict.
func (t *tx) EnqueueSMS(ctx context.Context, m domain.SMSOutbound) error {
	return t.insert(ctx, "enqueue sms",
		`INSERT INTO sms_outbox (`+smsColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		m.MessageID, m.OrgID, m.ConversationID, m.ResourceID, m.From, m.To, m.Body, m.State,
		m.Status, m.ProviderID, m.Attempts, micros(m.NextAttemptAt), nullMicros(m.LeaseUntil), m.Claim,
		m.ErrorCode, m.ErrorMessage, micros(m.CreatedAt), micros(m.UpdatedAt), m.Seq)
}

// ClaimSMS claims due pending messages that no earlier message of their
// conversation holds back. SQLite has one writer, so no other transaction
// can claim them at the same time.
func (t *tx) ClaimSMS(ctx context.Context, now, leaseUntil time.Time, claim string, limit int) ([]domain.SMSOutbound, error) {
	return list(ctx, t, "claim sms", scanSMS,
		`UPDATE sms_outbox SET state = 'sending', claim = ?, lease_until = ?, attempts = attempts + 1, updated_at = ?
		 WHERE message_id IN (SELECT message_id FROM sms_outbox o WHERE state = 'pending' AND next_attempt_at <= ?
		                        AND NOT EXISTS (SELECT 1 FROM sms_outbox e WHERE e.conversation_id = o.conversation_id
		                                        AND e.state IN ('pending', 'sending') AND (e.seq, e.message_id) < (o.seq, o.message_id))
		                      ORDER BY next_attempt_at, message_id LIMIT ?)
		 RETURNING `+smsColumns, claim, micros(leaseUntil), micros(now), micros(now), limitArg(limit))
}

// ExpiredSMSClaims returns claims whose lease ended before now.
func (t *tx) ExpiredSMSClaims(ctx context.Context, now time.Time, limit int) ([]domain.SMSOutbound, error) {
	return list(ctx, t, "expired sms claims", scanSMS,
		`SELECT `+smsColumns+` FROM sms_outbox WHERE state = 'sending' AND lease_until < ?
		 ORDER BY lease_until, message_id LIMIT ?`, micros(now), limitArg(limit))
}

// GetSMS returns the outbound SMS of a message; CodeNotFound when none.
func (t *tx) GetSMS(ctx context.Context, org domain.OrgID, message domain.MessageID) (domain.SMSOutbound, error) {
	return get(ctx, t, "sms", message, scanSMS,
		`SELECT `+smsColumns+` FROM sms_outbox WHERE org_id = ? AND message_id = ?`, org, message)
}

// SMSByProviderID returns the outbound SMS with the provider's id.
func (t *tx) SMSByProviderID(ctx context.Context, org domain.OrgID, resource domain.ResourceID, sid string) (domain.SMSOutbound, error) {
	return get(ctx, t, "sms", sid, scanSMS,
		`SELECT `+smsColumns+` FROM sms_outbox WHERE org_id = ? AND resource_id = ? AND provider_id = ? AND provider_id <> ''`,
		org, resource, sid)
}

// SaveSMS stores m's mutable fields; CodeNotFound when it is not queued.
func (t *tx) SaveSMS(ctx context.Context, m domain.SMSOutbound) error {
	return t.update(ctx, "sms", m.MessageID,
		`UPDATE sms_outbox SET state = ?, status = ?, provider_id = ?, attempts = ?, next_attempt_at = ?,
		   lease_until = ?, claim = ?, error_code = ?, error_message = ?, updated_at = ?
		 WHERE org_id = ? AND message_id = ?`,
		m.State, m.Status, m.ProviderID, m.Attempts, micros(m.NextAttemptAt), nullMicros(m.LeaseUntil), m.Claim,
		m.ErrorCode, m.ErrorMessage, micros(m.UpdatedAt), m.OrgID, m.MessageID)
}

// SetOptOut records an opt-out or an opt-in.
func (t *tx) SetOptOut(ctx context.Context, org domain.OrgID, resource domain.ResourceID, destination string, optedOut bool, at time.Time) error {
	return t.insert(ctx, "set opt-out",
		`INSERT INTO sms_opt_outs (org_id, resource_id, destination, opted_out, updated_at) VALUES (?, ?, ?, ?, ?)
		 ON CONFLICT (resource_id, destination) DO UPDATE SET opted_out = excluded.opted_out, updated_at = excluded.updated_at
		 WHERE sms_opt_outs.org_id = excluded.org_id`,
		org, resource, destination, optedOut, micros(at))
}

// OptedOut reports whether destination opted out of the resource.
func (t *tx) OptedOut(ctx context.Context, org domain.OrgID, resource domain.ResourceID, destination string) (bool, error) {
	return t.exists(ctx,
		`SELECT 1 FROM sms_opt_outs WHERE org_id = ? AND resource_id = ? AND destination = ? AND opted_out`,
		org, resource, destination)
}

// errReadOnly answers Notify in a read-only transaction.
var errReadOnly = errors.New("sqlite: notify in a read-only transaction")

// Notify queues a notification, published in this process after commit.
func (t *tx) Notify(_ context.Context, topic, payload string) error {
	if t.notes == nil {
		return errReadOnly
	}
	*t.notes = append(*t.notes, notify.Note{Topic: topic, Payload: payload})
	return nil
}

// Subscribe implements domain.Notifier for the processes on this file
// that opened it through this DB: notifications are delivered in process,
// after the commit of the transaction that issued them.
func (db *DB) Subscribe(topic string, fn func(payload string)) (cancel func()) {
	return db.notes.Subscribe(topic, fn)
}

var _ domain.Notifier = (*DB)(nil)

// UpdateResource stores r's name, binding and IdentifyBy.
func (t *tx) UpdateResource(ctx context.Context, r domain.ChannelResource) error {
	return t.update(ctx, "resource", r.ID,
		`UPDATE channel_resources SET name = ?, deployment_id = ?, app_id = ?, environment = ?, identify_by = ?
		 WHERE org_id = ? AND id = ?`,
		r.Name, nullString(r.DeploymentID), nullString(r.AppID), r.Environment, r.IdentifyBy, r.OrgID, r.ID)
}
