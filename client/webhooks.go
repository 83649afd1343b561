package client

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// WebhookEndpoint is a registered receiver of events. Its secret is shown
// only when it is created or rotated (NewWebhookEndpoint).
type WebhookEndpoint struct {
	ID          string `json:"id"`
	URL         string `json:"url"`
	Description string `json:"description"`
	// EventTypes are the subscribed types; empty for every type.
	EventTypes              []string   `json:"eventTypes"`
	Enabled                 bool       `json:"enabled"`
	DisabledReason          *string    `json:"disabledReason"`
	PreviousSecretExpiresAt *time.Time `json:"previousSecretExpiresAt"`
	CreatedAt               time.Time  `json:"createdAt"`
	UpdatedAt               time.Time  `json:"updatedAt"`
}

// NewWebhookEndpoint is an endpoint with its signing secret ("whsec_..."),
// shown once.
type NewWebhookEndpoint struct {
	WebhookEndpoint
	Secret string `json:"secret"`
}

// CreateWebhookEndpointRequest registers an endpoint.
type CreateWebhookEndpointRequest struct {
	URL         string   `json:"url"`
	Description string   `json:"description,omitempty"`
	EventTypes  []string `json:"eventTypes,omitempty"`
}

// UpdateWebhookEndpointRequest changes the fields that are not nil;
// Enabled false disables the endpoint, true enables it.
type UpdateWebhookEndpointRequest struct {
	URL         *string   `json:"url,omitempty"`
	Description *string   `json:"description,omitempty"`
	EventTypes  *[]string `json:"eventTypes,omitempty"`
	Enabled     *bool     `json:"enabled,omitempty"`
}

// WebhookDelivery is one event to deliver to one endpoint.
type WebhookDelivery struct {
	EventID        string     `json:"eventId"`
	EventType      string     `json:"eventType"`
	Subject        string     `json:"subject"`
	EventCreatedAt time.Time  `json:"eventCreatedAt"`
	State          string     `json:"state"` // pending, delivered or failed
	Attempts       int        `json:"attempts"`
	NextAttemptAt  *time.Time `json:"nextAttemptAt"`
	FirstAttemptAt *time.Time `json:"firstAttemptAt"`
	DeliveredAt    *time.Time `json:"deliveredAt"`
	LastStatus     *int       `json:"lastStatus"`
	LastError      *string    `json:"lastError"`
}

// WebhookDeliveryPage is a page of deliveries; Next is the After of the
// next page.
type WebhookDeliveryPage struct {
	Items []WebhookDelivery `json:"items"`
	Next  int64             `json:"next"`
}

// ListWebhookDeliveriesParams filters deliveries; zero fields do not.
type ListWebhookDeliveriesParams struct {
	State string // pending, delivered or failed
	After int64  // event seq
	Limit int
}

// WebhookAttempt is one logged request of a delivery.
type WebhookAttempt struct {
	Seq             int64     `json:"seq"`
	EventID         string    `json:"eventId"`
	Attempt         int       `json:"attempt"`
	StartedAt       time.Time `json:"startedAt"`
	LatencyMs       float64   `json:"latencyMs"`
	Status          *int      `json:"status"`
	Error           *string   `json:"error"`
	ResponseExcerpt string    `json:"responseExcerpt"`
}

// WebhookAttemptPage is a page of attempts, newest first; Next is the
// Before of the next (older) page, nil when the page is empty.
type WebhookAttemptPage struct {
	Items []WebhookAttempt `json:"items"`
	Next  *int64           `json:"next"`
}

// ListWebhookAttemptsParams filters attempts; zero fields do not.
type ListWebhookAttemptsParams struct {
	EventID string
	Before  int64 // attempt seq
	Limit   int
}

// CreateWebhookEndpoint registers an endpoint; the response carries its
// secret, shown once. Errors: invalid_argument, url_forbidden.
func (c *Client) CreateWebhookEndpoint(ctx context.Context, req CreateWebhookEndpointRequest) (*NewWebhookEndpoint, error) {
	return send[NewWebhookEndpoint](ctx, c, http.MethodPost, "/v1/webhook-endpoints", nil, req, "")
}

// ListWebhookEndpoints returns the org's endpoints, oldest first.
func (c *Client) ListWebhookEndpoints(ctx context.Context) ([]WebhookEndpoint, error) {
	return list[WebhookEndpoint](ctx, c, http.MethodGet, "/v1/webhook-endpoints", nil, nil, "")
}

// GetWebhookEndpoint returns an endpoint. Errors: not_found.
func (c *Client) GetWebhookEndpoint(ctx context.Context, endpointID string) (*WebhookEndpoint, error) {
	return send[WebhookEndpoint](ctx, c, http.MethodGet, "/v1/webhook-endpoints/"+seg(endpointID), nil, nil, "")
}

// UpdateWebhookEndpoint changes, disables or enables an endpoint.
// Errors: not_found, invalid_argument, url_forbidden.
func (c *Client) UpdateWebhookEndpoint(ctx context.Context, endpointID string, req UpdateWebhookEndpointRequest) (*WebhookEndpoint, error) {
	return send[WebhookEndpoint](ctx, c, http.MethodPatch, "/v1/webhook-endpoints/"+seg(endpointID), nil, req, "")
}

// DeleteWebhookEndpoint deletes an endpoint with its deliveries.
// Errors: not_found.
func (c *Client) DeleteWebhookEndpoint(ctx context.Context, endpointID string) error {
	_, err := c.Do(ctx, Request{Method: http.MethodDelete, Path: "/v1/webhook-endpoints/" + seg(endpointID)}, nil)
	return err
}

// RotateWebhookSecret gives an endpoint a new secret (in the response,
// shown once); the old one keeps signing for overlap (0: not at all).
func (c *Client) RotateWebhookSecret(ctx context.Context, endpointID string, overlap time.Duration) (*NewWebhookEndpoint, error) {
	seconds := int64(overlap / time.Second)
	body := map[string]any{"overlapSeconds": seconds}
	return send[NewWebhookEndpoint](ctx, c, http.MethodPost, "/v1/webhook-endpoints/"+seg(endpointID)+"/rotate-secret", nil, body, "")
}

// ListWebhookDeliveries returns an endpoint's deliveries in event order.
func (c *Client) ListWebhookDeliveries(ctx context.Context, endpointID string, p ListWebhookDeliveriesParams) (*WebhookDeliveryPage, error) {
	q := url.Values{}
	if p.State != "" {
		q.Set("state", p.State)
	}
	setInt(q, "after", p.After)
	setInt(q, "limit", int64(p.Limit))
	return send[WebhookDeliveryPage](ctx, c, http.MethodGet, "/v1/webhook-endpoints/"+seg(endpointID)+"/deliveries", q, nil, "")
}

// ListWebhookAttempts returns an endpoint's attempts, newest first.
func (c *Client) ListWebhookAttempts(ctx context.Context, endpointID string, p ListWebhookAttemptsParams) (*WebhookAttemptPage, error) {
	q := url.Values{}
	if p.EventID != "" {
		q.Set("eventId", p.EventID)
	}
	setInt(q, "before", p.Before)
	setInt(q, "limit", int64(p.Limit))
	return send[WebhookAttemptPage](ctx, c, http.MethodGet, "/v1/webhook-endpoints/"+seg(endpointID)+"/attempts", q, nil, "")
}

type replayResult struct {
	Replayed int `json:"replayed"`
}

// ReplayWebhookEvent sends one event to an endpoint again and returns how
// many deliveries it rescheduled (0 when an attempt is under way).
func (c *Client) ReplayWebhookEvent(ctx context.Context, endpointID, eventID string) (int, error) {
	return c.replay(ctx, endpointID, map[string]string{"eventId": eventID})
}

// ReplayFailedWebhookDeliveries sends again every failed delivery of an
// endpoint whose event was created at or after since.
func (c *Client) ReplayFailedWebhookDeliveries(ctx context.Context, endpointID string, since time.Time) (int, error) {
	return c.replay(ctx, endpointID, map[string]string{"since": since.UTC().Format(time.RFC3339Nano)})
}

func (c *Client) replay(ctx context.Context, endpointID string, body map[string]string) (int, error) {
	out, err := send[replayResult](ctx, c, http.MethodPost, "/v1/webhook-endpoints/"+seg(endpointID)+"/replay", nil, body, "")
	if err != nil {
		return 0, err
	}
	return out.Replayed, nil
}
