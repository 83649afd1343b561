package client

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
)

// Methods mirror the routes of the API, in the order of its route table.
// Every method returns an *Error for a problem response; the codes each
// route answers are listed in the OpenAPI document.

// Health calls GET /healthz.
func (c *Client) Health(ctx context.Context) error {
	return c.call(ctx, http.MethodGet, "/healthz", nil, nil, "", nil)
}

// Ready calls GET /readyz; a store not ready answers an *Error with
// status 503 and code not_ready.
func (c *Client) Ready(ctx context.Context) error {
	return c.call(ctx, http.MethodGet, "/readyz", nil, nil, "", nil)
}

// Metrics returns the Prometheus text exposition of GET /metrics.
func (c *Client) Metrics(ctx context.Context) (string, error) {
	b, err := c.raw(ctx, "/metrics")
	return string(b), err
}

// OpenAPI returns the OpenAPI 3.1 document of GET /openapi.json.
func (c *Client) OpenAPI(ctx context.Context) ([]byte, error) {
	return c.raw(ctx, "/openapi.json")
}

// raw GETs a path and returns its body unparsed.
func (c *Client) raw(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.baseURL+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", c.userAgent)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 400 {
		return nil, parseError(resp, body)
	}
	return body, nil
}

// GetOrg returns the caller's organization and its licence status.
func (c *Client) GetOrg(ctx context.Context) (*Organization, error) {
	return send[Organization](ctx, c, http.MethodGet, "/v1/org", nil, nil, "")
}

// GetLicense returns the installed licence. Errors: license_required when
// none is installed.
func (c *Client) GetLicense(ctx context.Context) (*License, error) {
	return send[License](ctx, c, http.MethodGet, "/v1/license", nil, nil, "")
}

// InstallLicense verifies and installs a licence token.
// Errors: license_required, invalid_argument.
func (c *Client) InstallLicense(ctx context.Context, token string) (*License, error) {
	return send[License](ctx, c, http.MethodPut, "/v1/license", nil, InstallLicenseRequest{Token: token}, "")
}

// ListAPIKeys lists the organization's keys.
func (c *Client) ListAPIKeys(ctx context.Context) ([]APIKey, error) {
	return list[APIKey](ctx, c, http.MethodGet, "/v1/api-keys", nil, nil, "")
}

// CreateAPIKey creates a key; its secret is returned only here.
func (c *Client) CreateAPIKey(ctx context.Context, req CreateAPIKeyRequest) (*NewAPIKey, error) {
	return send[NewAPIKey](ctx, c, http.MethodPost, "/v1/api-keys", nil, req, "")
}

// RevokeAPIKey revokes a key. Errors: not_found.
func (c *Client) RevokeAPIKey(ctx context.Context, keyID string) error {
	return c.call(ctx, http.MethodDelete, "/v1/api-keys/"+seg(keyID), nil, nil, "", nil)
}

// CreateApp creates an app.
func (c *Client) CreateApp(ctx context.Context, req CreateAppRequest) (*App, error) {
	return send[App](ctx, c, http.MethodPost, "/v1/apps", nil, req, req.IdempotencyKey)
}

// ListApps lists apps.
func (c *Client) ListApps(ctx context.Context) ([]App, error) {
	return list[App](ctx, c, http.MethodGet, "/v1/apps", nil, nil, "")
}

// GetApp returns an app. Errors: not_found.
func (c *Client) GetApp(ctx context.Context, appID string) (*App, error) {
	return send[App](ctx, c, http.MethodGet, "/v1/apps/"+seg(appID), nil, nil, "")
}

// CreateVersion creates the next version of an app.
// Errors: invalid_argument, not_found.
func (c *Client) CreateVersion(ctx context.Context, appID string, req CreateVersionRequest) (*Version, error) {
	return send[Version](ctx, c, http.MethodPost, "/v1/apps/"+seg(appID)+"/versions", nil, req, req.IdempotencyKey)
}

// ListVersions lists the versions of an app. Errors: not_found.
func (c *Client) ListVersions(ctx context.Context, appID string) ([]Version, error) {
	return list[Version](ctx, c, http.MethodGet, "/v1/apps/"+seg(appID)+"/versions", nil, nil, "")
}

// GetVersion returns a version of an app. Errors: not_found.
func (c *Client) GetVersion(ctx context.Context, appID, versionID string) (*Version, error) {
	return send[Version](ctx, c, http.MethodGet, "/v1/apps/"+seg(appID)+"/versions/"+seg(versionID), nil, nil, "")
}

// Publish deploys a version to an environment.
// Errors: invalid_argument, not_found.
func (c *Client) Publish(ctx context.Context, appID string, req PublishRequest) (*Deployment, error) {
	return send[Deployment](ctx, c, http.MethodPost, "/v1/apps/"+seg(appID)+"/deployments", nil, req, req.IdempotencyKey)
}

// ListDeployments lists the deployments of an app, newest first.
func (c *Client) ListDeployments(ctx context.Context, appID string) ([]Deployment, error) {
	return list[Deployment](ctx, c, http.MethodGet, "/v1/apps/"+seg(appID)+"/deployments", nil, nil, "")
}

// GetDeployment returns a deployment. Errors: not_found.
func (c *Client) GetDeployment(ctx context.Context, deploymentID string) (*Deployment, error) {
	return send[Deployment](ctx, c, http.MethodGet, "/v1/deployments/"+seg(deploymentID), nil, nil, "")
}

// CreateChannelResource configures a channel resource.
// Errors: invalid_argument.
func (c *Client) CreateChannelResource(ctx context.Context, req CreateChannelResourceRequest) (*ChannelResource, error) {
	return send[ChannelResource](ctx, c, http.MethodPost, "/v1/channel-resources", nil, req, req.IdempotencyKey)
}

// ListChannelResources lists channel resources.
func (c *Client) ListChannelResources(ctx context.Context) ([]ChannelResource, error) {
	return list[ChannelResource](ctx, c, http.MethodGet, "/v1/channel-resources", nil, nil, "")
}

// GetChannelResource returns a channel resource. Errors: not_found.
func (c *Client) GetChannelResource(ctx context.Context, resourceID string) (*ChannelResource, error) {
	return send[ChannelResource](ctx, c, http.MethodGet, "/v1/channel-resources/"+seg(resourceID), nil, nil, "")
}

// StartConversation starts a conversation on a deployment.
// Errors: invalid_argument, identifier_invalid, not_deployed.
func (c *Client) StartConversation(ctx context.Context, req StartConversationRequest) (*StartedConversation, error) {
	return send[StartedConversation](ctx, c, http.MethodPost, "/v1/conversations", nil, req, req.IdempotencyKey)
}

// StartPreview starts a preview run of a version.
// Errors: invalid_argument, identifier_invalid.
func (c *Client) StartPreview(ctx context.Context, req StartPreviewRequest) (*StartedConversation, error) {
	return send[StartedConversation](ctx, c, http.MethodPost, "/v1/previews", nil, req, req.IdempotencyKey)
}

// ListConversations returns one page of conversations, newest first.
// Errors: invalid_argument.
func (c *Client) ListConversations(ctx context.Context, p ListConversationsParams) (*ConversationPage, error) {
	q := url.Values{}
	for name, v := range map[string]string{
		"status": p.Status, "customerId": p.CustomerID, "deploymentId": p.DeploymentID,
		"resourceId": p.ResourceID, "externalId": p.ExternalID, "cursor": p.Cursor,
	} {
		if v != "" {
			q.Set(name, v)
		}
	}
	setInt(q, "limit", int64(p.Limit))
	return send[ConversationPage](ctx, c, http.MethodGet, "/v1/conversations", q, nil, "")
}

// GetConversation returns a conversation. Errors: conversation_not_found.
func (c *Client) GetConversation(ctx context.Context, conversationID string) (*Conversation, error) {
	return send[Conversation](ctx, c, http.MethodGet, "/v1/conversations/"+seg(conversationID), nil, nil, "")
}

// AddMessage writes a message; an inbound one runs the conversation's bot
// and the answer carries its replies. Errors: invalid_argument,
// conversation_not_found, conversation_closed, conflict.
func (c *Client) AddMessage(ctx context.Context, conversationID string, req AddMessageRequest) (*ReceivedMessage, error) {
	return send[ReceivedMessage](ctx, c, http.MethodPost, "/v1/conversations/"+seg(conversationID)+"/messages", nil, req, req.IdempotencyKey)
}

// ListMessages returns the messages after sequence number p.After, oldest
// first. Errors: conversation_not_found.
func (c *Client) ListMessages(ctx context.Context, conversationID string, p ListMessagesParams) ([]Message, error) {
	q := url.Values{}
	setInt(q, "after", p.After)
	setInt(q, "limit", int64(p.Limit))
	return list[Message](ctx, c, http.MethodGet, "/v1/conversations/"+seg(conversationID)+"/messages", q, nil, "")
}

// ListTurns returns a conversation's bot turns with their traces, oldest
// first. Errors: conversation_not_found.
func (c *Client) ListTurns(ctx context.Context, conversationID string, p ListTurnsParams) ([]Turn, error) {
	q := url.Values{}
	setInt(q, "after", p.After)
	setInt(q, "limit", int64(p.Limit))
	return list[Turn](ctx, c, http.MethodGet, "/v1/conversations/"+seg(conversationID)+"/turns", q, nil, "")
}

// GetTurn returns a bot turn with its trace. Errors: not_found.
func (c *Client) GetTurn(ctx context.Context, turnID string) (*Turn, error) {
	return send[Turn](ctx, c, http.MethodGet, "/v1/turns/"+seg(turnID), nil, nil, "")
}

// CloseConversation closes a live conversation.
// Errors: conversation_not_found, conversation_closed.
func (c *Client) CloseConversation(ctx context.Context, conversationID string) (*Conversation, error) {
	return send[Conversation](ctx, c, http.MethodPost, "/v1/conversations/"+seg(conversationID)+"/close", nil, nil, "")
}

// Transcript returns a conversation with its messages.
// Errors: conversation_not_found.
func (c *Client) Transcript(ctx context.Context, conversationID string) (*Transcript, error) {
	return send[Transcript](ctx, c, http.MethodGet, "/v1/conversations/"+seg(conversationID)+"/transcript", nil, nil, "")
}

// GetSession returns a session with its variables. Errors: not_found.
func (c *Client) GetSession(ctx context.Context, sessionID string) (*Session, error) {
	return send[Session](ctx, c, http.MethodGet, "/v1/sessions/"+seg(sessionID), nil, nil, "")
}

// GetCustomer returns a customer with its identifier. Errors: not_found.
func (c *Client) GetCustomer(ctx context.Context, customerID string) (*Customer, error) {
	return send[Customer](ctx, c, http.MethodGet, "/v1/customers/"+seg(customerID), nil, nil, "")
}

// CustomerIdentifiers returns a customer's identifier history, oldest
// first. Errors: not_found.
func (c *Client) CustomerIdentifiers(ctx context.Context, customerID string) ([]IdentifierInterval, error) {
	return list[IdentifierInterval](ctx, c, http.MethodGet, "/v1/customers/"+seg(customerID)+"/identifiers", nil, nil, "")
}

// CustomerConversations returns a customer's conversation ids, newest
// first. Errors: not_found.
func (c *Client) CustomerConversations(ctx context.Context, customerID string) ([]string, error) {
	var out struct {
		ConversationIDs []string `json:"conversationIds"`
	}
	if err := c.call(ctx, http.MethodGet, "/v1/customers/"+seg(customerID)+"/conversations", nil, nil, "", &out); err != nil {
		return nil, err
	}
	return out.ConversationIDs, nil
}

// RunDataOperation runs a data operation. A business outcome is in
// RunResult.Error; thrown failures (license_required, not_deployed,
// identifier_invalid, invalid_argument, ...) are an *Error.
func (c *Client) RunDataOperation(ctx context.Context, name string, req RunRequest) (*RunResult, error) {
	return send[RunResult](ctx, c, http.MethodPost, "/v1/data-operations/"+seg(name), nil, req, req.IdempotencyKey)
}

// RunAction runs an action, like RunDataOperation.
func (c *Client) RunAction(ctx context.Context, name string, req RunRequest) (*RunResult, error) {
	return send[RunResult](ctx, c, http.MethodPost, "/v1/actions/"+seg(name), nil, req, req.IdempotencyKey)
}

// ListRuns returns operation runs, newest first.
func (c *Client) ListRuns(ctx context.Context, p ListRunsParams) ([]Run, error) {
	q := url.Values{}
	if p.Before != "" {
		q.Set("before", p.Before)
	}
	setInt(q, "limit", int64(p.Limit))
	return list[Run](ctx, c, http.MethodGet, "/v1/runs", q, nil, "")
}

// GetRun returns one run. Errors: not_found.
func (c *Client) GetRun(ctx context.Context, runID string) (*Run, error) {
	return send[Run](ctx, c, http.MethodGet, "/v1/runs/"+seg(runID), nil, nil, "")
}

// ListEvents returns outbox events after a sequence number, oldest first,
// filtered by p. Errors: invalid_argument.
func (c *Client) ListEvents(ctx context.Context, p ListEventsParams) (*EventPage, error) {
	q := url.Values{}
	setInt(q, "after", p.After)
	setInt(q, "limit", int64(p.Limit))
	for _, t := range p.Types {
		q.Add("type", t)
	}
	if p.CustomerID != "" {
		q.Set("customerId", p.CustomerID)
	}
	if p.ConversationID != "" {
		q.Set("conversationId", p.ConversationID)
	}
	return send[EventPage](ctx, c, http.MethodGet, "/v1/events", q, nil, "")
}

func setInt(q url.Values, name string, v int64) {
	if v != 0 {
		q.Set(name, strconv.FormatInt(v, 10))
	}
}

// send calls the API and decodes the response into a new T.
func send[T any](ctx context.Context, c *Client, method, path string, q url.Values, body any, idemKey string) (*T, error) {
	var out T
	if err := c.call(ctx, method, path, q, body, idemKey, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// list calls the API and returns the items of a {"items": [...]} response.
func list[T any](ctx context.Context, c *Client, method, path string, q url.Values, body any, idemKey string) ([]T, error) {
	var out struct {
		Items []T `json:"items"`
	}
	if err := c.call(ctx, method, path, q, body, idemKey, &out); err != nil {
		return nil, err
	}
	return out.Items, nil
}
