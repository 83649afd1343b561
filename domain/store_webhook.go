package domain

import (
	"context"
	"encoding/json"
	"time"
)

// WebhookTx holds the Tx methods for webhook endpoints, deliveries and their
// attempts.
//
// Deliveries are made by AppendEvent itself: in the transaction that
// stores an event, every enabled endpoint of the event's org subscribed to
// its type gets a pending WebhookDelivery carrying a copy of the event, due
// at the event's CreatedAt. A delivery therefore exists exactly when its
// event committed, and outlives the event's retention.
type WebhookTx interface {
	// CreateWebhookEndpoint stores e; a duplicate id is a conflict.
	CreateWebhookEndpoint(ctx context.Context, e WebhookEndpoint) error
	// GetWebhookEndpoint returns the endpoint; CodeNotFound when it is not
	// in org.
	GetWebhookEndpoint(ctx context.Context, org OrgID, id WebhookEndpointID) (WebhookEndpoint, error)
	// ListWebhookEndpoints returns the org's endpoints, oldest first.
	ListWebhookEndpoints(ctx context.Context, org OrgID) ([]WebhookEndpoint, error)
	// UpdateWebhookEndpoint replaces every mutable field of the endpoint
	// (URL, description, event types, enabled, disabled reason, secrets,
	// UpdatedAt); CodeNotFound when it is not in org.
	UpdateWebhookEndpoint(ctx context.Context, e WebhookEndpoint) error
	// DeleteWebhookEndpoint deletes the endpoint with its deliveries,
	// attempts and health; CodeNotFound when it is not in org.
	DeleteWebhookEndpoint(ctx context.Context, org OrgID, id WebhookEndpointID) error

	// ClaimWebhookDeliveries leases up to limit pending deliveries (of any
	// org) due at or before now, oldest due first, to lease until until:
	// their NextAttemptAt becomes until and their Lease lease, so no other
	// claimer takes them before the lease expires. Rows another
	// transaction holds are skipped, not waited for.
	ClaimWebhookDeliveries(ctx context.Context, now, until time.Time, lease string, limit int) ([]WebhookDelivery, error)
	// FinishWebhookAttempts records a batch of attempts: it logs each
	// attempt (unless its endpoint is gone) and, for each delivery that
	// still holds its lease, stores the delivery's State, Attempts,
	// NextAttemptAt, LastStatus, LastError and DeliveredAt
	// (FirstAttemptAt keeps its first value) and clears the lease.
	// applied[i] is false when fs[i]'s lease was lost (the delivery was
	// claimed again, replayed, failed by a disabled endpoint or deleted).
	FinishWebhookAttempts(ctx context.Context, fs []WebhookFinish) (applied []bool, err error)
	// ExtendWebhookLeases makes the leases of ls last until until (never
	// shortening one) where the delivery is still pending under that
	// lease; renewed[i] reports whether ls[i] was extended. On PostgreSQL
	// a delivery another transaction holds (its attempt being recorded, a
	// claim after the lease expired) is skipped, not waited for.
	ExtendWebhookLeases(ctx context.Context, ls []WebhookLease, until time.Time) (renewed []bool, err error)
	// GetWebhookDelivery returns the delivery of event seq to the
	// endpoint; CodeNotFound when there is none in org.
	GetWebhookDelivery(ctx context.Context, org OrgID, endpoint WebhookEndpointID, seq int64) (WebhookDelivery, error)
	// CreateWebhookDelivery stores d (a replay of an event that had no
	// delivery to the endpoint); a duplicate is a conflict.
	CreateWebhookDelivery(ctx context.Context, d WebhookDelivery) error
	// ListWebhookDeliveries returns the endpoint's deliveries matching f,
	// in event order.
	ListWebhookDeliveries(ctx context.Context, org OrgID, endpoint WebhookEndpointID, f DeliveryFilter) ([]WebhookDelivery, error)
	// RescheduleWebhookDeliveries makes the endpoint's deliveries pending
	// again, due at now with Attempts 0 and no lease: the delivery of event
	// seq when seq > 0 (whatever its state, unless an attempt holds its
	// lease), else every failed delivery whose event was created at or
	// after since. It returns how many it rescheduled.
	RescheduleWebhookDeliveries(ctx context.Context, org OrgID, endpoint WebhookEndpointID, seq int64, since, now time.Time) (int, error)
	// FailPendingWebhookDeliveries marks every pending delivery of the
	// endpoint failed with reason (leases included: their attempts will
	// not apply) and returns how many.
	FailPendingWebhookDeliveries(ctx context.Context, org OrgID, endpoint WebhookEndpointID, reason string) (int, error)
	// ListWebhookAttempts returns the endpoint's attempts matching f,
	// newest first.
	ListWebhookAttempts(ctx context.Context, org OrgID, endpoint WebhookEndpointID, f AttemptFilter) ([]WebhookAttempt, error)

	// MarkWebhookEndpointFailing records that the endpoint is failing at
	// at, unless it already was, and returns since when it has been.
	MarkWebhookEndpointFailing(ctx context.Context, org OrgID, endpoint WebhookEndpointID, at time.Time) (since time.Time, err error)
	// MarkWebhookEndpointHealthy forgets that the endpoint was failing.
	MarkWebhookEndpointHealthy(ctx context.Context, org OrgID, endpoint WebhookEndpointID) error
	// WebhookQueue returns how many deliveries (of every org) are pending
	// and how many of those are due at now, and the earliest NextAttemptAt
	// among the pending ones (zero when none).
	WebhookQueue(ctx context.Context, now time.Time) (WebhookQueueStats, error)
}

// TopicWebhooks carries an org id when a transaction commits that made
// webhook deliveries due (AppendEvent fanning an event out), to wake the
// delivery workers of every process (domain.Notifier).
const TopicWebhooks = "parley_webhooks"

// WebhookEndpointID identifies a webhook endpoint ("whe_...").
type WebhookEndpointID string

// WebhookEndpoint is an org's receiver of events: an URL that gets a signed
// POST for each event of the subscribed types.
type WebhookEndpoint struct {
	ID          WebhookEndpointID
	OrgID       OrgID
	URL         string
	Description string
	// EventTypes are the subscribed event types; empty means every type.
	EventTypes []string
	Enabled    bool
	// DisabledReason says why a disabled endpoint is disabled.
	DisabledReason string
	// Secret signs deliveries ("whsec_" + base64). PreviousSecret, when
	// not "", also signs them until PreviousSecretUntil (a rotation's
	// overlap).
	Secret              string
	PreviousSecret      string
	PreviousSecretUntil *time.Time
	CreatedAt           time.Time
	UpdatedAt           time.Time
}

// DeliveryState is where a delivery stands.
type DeliveryState string

const (
	// DeliveryPending is waiting for its next attempt (or under one).
	DeliveryPending DeliveryState = "pending"
	// DeliveryDelivered got a 2xx answer.
	DeliveryDelivered DeliveryState = "delivered"
	// DeliveryFailed ran out of attempts or its endpoint was disabled; a
	// replay makes it pending again.
	DeliveryFailed DeliveryState = "failed"
)

// WebhookDelivery is one event to deliver to one endpoint, with its own
// copy of the event.
type WebhookDelivery struct {
	OrgID          OrgID
	EndpointID     WebhookEndpointID
	EventSeq       int64
	EventType      string
	Subject        string
	Payload        json.RawMessage // the event's payload as stored (JSON), sent as it is
	EventCreatedAt time.Time
	State          DeliveryState
	// Attempts counts the attempts since the delivery was made or last
	// replayed: it indexes the retry schedule.
	Attempts       int
	NextAttemptAt  time.Time
	Lease          string // "" when no attempt holds the delivery
	FirstAttemptAt *time.Time
	LastStatus     int    // HTTP status of the last attempt, 0 when none
	LastError      string // why the last attempt failed, "" when it did not
	DeliveredAt    *time.Time
}

// WebhookPayloadText returns the payload of a delivery to store: the JSON
// as it is, {} for none. Errors: CodeInvalidArgument (not JSON).
func WebhookPayloadText(payload json.RawMessage) (string, error) {
	if len(payload) == 0 {
		return "{}", nil
	}
	if !json.Valid(payload) {
		return "", Errorf(CodeInvalidArgument, "webhook delivery payload is not JSON")
	}
	return string(payload), nil
}

// EventID is the delivery's event id, the webhook-id of its requests.
func (d WebhookDelivery) EventID() string { return EventIDOf(d.EventSeq) }

// WebhookLease names a delivery and the lease a worker holds on it.
type WebhookLease struct {
	EndpointID WebhookEndpointID
	EventSeq   int64
	Lease      string
}

// WebhookFinish is one attempt to record with the delivery it leaves.
type WebhookFinish struct {
	Lease    string
	Delivery WebhookDelivery
	Attempt  WebhookAttempt
}

// DeliveryFilter selects deliveries for ListWebhookDeliveries. Zero fields
// do not filter.
type DeliveryFilter struct {
	State    DeliveryState
	AfterSeq int64 // only events with a greater Seq
	Limit    int   // 0 for all
}

// WebhookAttempt is one logged POST of a delivery.
type WebhookAttempt struct {
	Seq        int64 // assigned by the store, increasing
	OrgID      OrgID
	EndpointID WebhookEndpointID
	EventSeq   int64
	// Attempt is the attempt's number in its delivery's schedule, from 1.
	Attempt   int
	StartedAt time.Time
	Latency   time.Duration
	// Status is the HTTP status answered, 0 when none was (Error says why).
	Status int
	Error  string
	// ResponseExcerpt is the start of the response body.
	ResponseExcerpt string
}

// AttemptFilter selects attempts for ListWebhookAttempts. Zero fields do
// not filter.
type AttemptFilter struct {
	EventSeq  int64 // only the attempts of this event
	BeforeSeq int64 // only attempts with a smaller Seq
	Limit     int   // 0 for all
}

// WebhookQueueStats describes the deliveries still to make.
type WebhookQueueStats struct {
	Pending int
	Due     int
	NextDue time.Time
}
