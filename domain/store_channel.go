package domain

import (
	"context"
	"time"
)

// ChannelTx holds the Tx methods for channel resources' secrets and
// options, the SMS outbox, opt-outs and notifications.
type ChannelTx interface {
	// LookupResource returns a channel resource of any org by id, for the
	// transports, whose requests name a resource but carry no API key.
	LookupResource(ctx context.Context, id ResourceID) (ChannelResource, error)

	// UpdateResource stores r's name, binding and IdentifyBy (kind and
	// address never change). CodeNotFound when r is not in its org.
	UpdateResource(ctx context.Context, r ChannelResource) error

	// PutResourceSecret stores s, replacing the secret of that name.
	PutResourceSecret(ctx context.Context, s ResourceSecret) error
	// ResourceSecrets returns the resource's secrets, by name.
	ResourceSecrets(ctx context.Context, org OrgID, resource ResourceID) ([]ResourceSecret, error)
	// SetAllowedOrigins replaces the web origins allowed to open the
	// resource's web chat.
	SetAllowedOrigins(ctx context.Context, org OrgID, resource ResourceID, origins []string) error
	// AllowedOrigins returns them (nil when none were set).
	AllowedOrigins(ctx context.Context, org OrgID, resource ResourceID) ([]string, error)

	// EnqueueSMS stores a message to send; one per MessageID (a duplicate
	// is a transient conflict).
	EnqueueSMS(ctx context.Context, m SMSOutbound) error
	// ClaimSMS marks up to limit pending messages due at now (NextAttemptAt
	// <= now, oldest first, of any org) SMSSending with the claim, lease
	// and one more attempt, and returns them. A message is not claimed
	// while an earlier one of its conversation (by Seq, then MessageID) is
	// pending or sending, so a conversation's messages go out one at a
	// time, in order. On PostgreSQL rows another transaction is claiming
	// are skipped (FOR UPDATE SKIP LOCKED).
	ClaimSMS(ctx context.Context, now, leaseUntil time.Time, claim string, limit int) ([]SMSOutbound, error)
	// ExpiredSMSClaims returns up to limit messages still SMSSending whose
	// lease ended before now, of any org.
	ExpiredSMSClaims(ctx context.Context, now time.Time, limit int) ([]SMSOutbound, error)
	// GetSMS returns the outbound SMS of a message.
	GetSMS(ctx context.Context, org OrgID, message MessageID) (SMSOutbound, error)
	// SMSByProviderID returns the outbound SMS the provider calls sid.
	SMSByProviderID(ctx context.Context, org OrgID, resource ResourceID, sid string) (SMSOutbound, error)
	// SaveSMS stores every mutable field of m (state, status, provider id,
	// attempts, times, claim, error).
	SaveSMS(ctx context.Context, m SMSOutbound) error

	// SetOptOut records that destination opted out of the resource's
	// messages (optedOut) or opted back in.
	SetOptOut(ctx context.Context, org OrgID, resource ResourceID, destination string, optedOut bool, at time.Time) error
	// OptedOut reports whether destination opted out of the resource.
	OptedOut(ctx context.Context, org OrgID, resource ResourceID, destination string) (bool, error)

	// Notify publishes payload on topic after the transaction commits,
	// and only if it does (Notifier delivers it to every process). It is
	// not durable: a process that stops right after the commit may not
	// publish it.
	Notify(ctx context.Context, topic, payload string) error
}

// Notifier delivers the notifications committed by every server process
// on the store (PostgreSQL LISTEN/NOTIFY; in process for SQLite).
type Notifier interface {
	// Subscribe calls fn with the payload of each notification on topic
	// committed from now on, in commit order per process, and with "" when
	// notifications may have been missed (the subscription taking effect
	// on the database after Subscribe returned, or a lost database
	// connection): the subscriber must then read what it needs from the
	// store again. fn must not block. cancel stops the calls.
	Subscribe(topic string, fn func(payload string)) (cancel func())
}

// Notification topics.
const (
	// TopicMessages carries "org conversation seq" for every message
	// written (see service's message notifications).
	TopicMessages = "parley_messages"
)

// SecretName names a channel resource secret.
type SecretName string

const (
	// SecretWebChatSigning signs customer identifiers passed to the web
	// chat widget (HMAC-SHA256).
	SecretWebChatSigning SecretName = "signingSecret"
	// SecretTwilioAccountSID and SecretTwilioAuthToken authenticate the
	// Messages API and verify Twilio's webhooks.
	SecretTwilioAccountSID SecretName = "twilioAccountSid"
	SecretTwilioAuthToken  SecretName = "twilioAuthToken"
)

// ResourceSecret is a write-only secret of a channel resource. After a
// rotation the previous value stays valid for verifying until
// PreviousUntil, so senders can switch over.
type ResourceSecret struct {
	OrgID         OrgID
	ResourceID    ResourceID
	Name          SecretName
	Value         string
	Previous      string
	PreviousUntil *time.Time
	UpdatedAt     time.Time
}

// SMSState is where an outbound SMS is in Parley's outbox.
type SMSState string

const (
	// SMSPending waits for a send attempt at NextAttemptAt.
	SMSPending SMSState = "pending"
	// SMSSending is claimed by a worker until LeaseUntil: a request may be
	// in flight.
	SMSSending SMSState = "sending"
	// SMSAccepted was accepted by the API (ProviderID); Status follows
	// the status callbacks.
	SMSAccepted SMSState = "accepted"
	// SMSUnknown: an attempt may have been accepted, but no answer came
	// (a lost connection, a crashed worker). It is never sent again; a
	// status callback can still resolve it.
	SMSUnknown SMSState = "unknown"
	// SMSFailed was refused by the API, or ran out of attempts.
	SMSFailed SMSState = "failed"
	// SMSOptedOut was not sent: the recipient had opted out.
	SMSOptedOut SMSState = "opted_out"
)

// SMSOutbound is a bot or operator message of an SMS conversation, queued
// in the transaction that wrote it and sent by the outbox worker.
type SMSOutbound struct {
	OrgID          OrgID
	MessageID      MessageID
	ConversationID ConversationID
	ResourceID     ResourceID
	From, To, Body string
	State          SMSState
	// Status is the provider's delivery status (queued, sending, sent,
	// delivered, undelivered, failed), "" before one is known. It only
	// moves forward.
	Status        string
	ProviderID    string // the provider's message id (Twilio's MessageSid)
	Attempts      int
	NextAttemptAt time.Time
	LeaseUntil    *time.Time
	Claim         string
	ErrorCode     string
	ErrorMessage  string
	CreatedAt     time.Time
	UpdatedAt     time.Time
	// Seq is the message's sequence number in its conversation: one
	// conversation's messages are sent in this order.
	Seq int64
}

// String hides the secret values from logs and error messages.
func (s ResourceSecret) String() string {
	return "secret " + string(s.Name) + " of " + string(s.ResourceID) + " (value hidden)"
}

// TopicSMS carries an org id whenever an SMS is queued, to wake the
// outbox workers.
const TopicSMS = "parley_sms"
