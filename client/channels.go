package client

import (
	"context"
	"net/http"
	"time"
)

// UpdateChannelResourceRequest changes the fields that are not nil. A
// binding field set replaces the whole binding: DeploymentID, or AppID
// with Environment. Secrets are write-only and rotate when set again
// (webchat: signingSecret; sms: twilioAccountSid, twilioAuthToken);
// AllowedOrigins replaces the web chat's allowed page origins.
type UpdateChannelResourceRequest struct {
	Name           *string           `json:"name,omitempty"`
	DeploymentID   *string           `json:"deploymentId,omitempty"`
	AppID          *string           `json:"appId,omitempty"`
	Environment    *string           `json:"environment,omitempty"`
	IdentifyBy     *string           `json:"identifyBy,omitempty"`
	Secrets        map[string]string `json:"secrets,omitempty"`
	AllowedOrigins *[]string         `json:"allowedOrigins,omitempty"`
}

// SecretInfo says that a channel secret is set and when; its value is
// never returned.
type SecretInfo struct {
	Name               string     `json:"name"`
	UpdatedAt          time.Time  `json:"updatedAt"`
	PreviousValidUntil *time.Time `json:"previousValidUntil"`
}

// ChannelSettings are a resource's secrets (names only) and allowed
// origins.
type ChannelSettings struct {
	Secrets        []SecretInfo `json:"secrets"`
	AllowedOrigins []string     `json:"allowedOrigins"`
}

// ChannelResourceWithSettings answers UpdateChannelResource.
type ChannelResourceWithSettings struct {
	ChannelResource
	Settings ChannelSettings `json:"settings"`
}

// SMSDelivery is the outbox record of an outbound SMS. State is Parley's
// (pending, sending, accepted, unknown, failed, opted_out); Status is the
// provider's delivery status, moving forward only.
type SMSDelivery struct {
	MessageID         string     `json:"messageId"`
	ConversationID    string     `json:"conversationId"`
	ResourceID        string     `json:"resourceId"`
	From              string     `json:"from"`
	To                string     `json:"to"`
	State             string     `json:"state"`
	Status            *string    `json:"status"`
	ProviderMessageID *string    `json:"providerMessageId"`
	Attempts          int        `json:"attempts"`
	NextAttemptAt     *time.Time `json:"nextAttemptAt"`
	ErrorCode         *string    `json:"errorCode"`
	ErrorMessage      *string    `json:"errorMessage"`
	CreatedAt         time.Time  `json:"createdAt"`
	UpdatedAt         time.Time  `json:"updatedAt"`
}

// UpdateChannelResource changes a channel resource (admin key).
// Errors: invalid_argument, not_found.
func (c *Client) UpdateChannelResource(ctx context.Context, resourceID string, req UpdateChannelResourceRequest) (*ChannelResourceWithSettings, error) {
	return send[ChannelResourceWithSettings](ctx, c, http.MethodPatch, "/v1/channel-resources/"+seg(resourceID), nil, req, "")
}

// GetChannelSettings returns which secrets a resource has and its allowed
// origins (admin key). Errors: not_found.
func (c *Client) GetChannelSettings(ctx context.Context, resourceID string) (*ChannelSettings, error) {
	return send[ChannelSettings](ctx, c, http.MethodGet, "/v1/channel-resources/"+seg(resourceID)+"/settings", nil, nil, "")
}

// GetSMS returns the outbox record of an outbound message of an SMS
// conversation. Errors: not_found.
func (c *Client) GetSMS(ctx context.Context, messageID string) (*SMSDelivery, error) {
	return send[SMSDelivery](ctx, c, http.MethodGet, "/v1/messages/"+seg(messageID)+"/sms", nil, nil, "")
}
