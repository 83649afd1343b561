package httpapi

import (
	"encoding/json"
	"time"

	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/service"
)

// Response bodies. Domain structs are never serialized directly. Optional
// values are always present and null when absent.

// timestamp encodes as RFC 3339 in UTC with microseconds, the precision of
// stored times: "2026-01-02T15:04:05.000000Z".
type timestamp time.Time

const timestampLayout = "2006-01-02T15:04:05.000000Z07:00"

func (t timestamp) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Time(t).UTC().Format(timestampLayout) + `"`), nil
}

func optTime(t *time.Time) *timestamp {
	if t == nil || t.IsZero() {
		return nil
	}
	ts := timestamp(*t)
	return &ts
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

type listResponse[T any] struct {
	Items []T `json:"items"`
}

// mapItems converts a list of domain values, never answering null.
func mapItems[D, R any](in []D, conv func(D) R) listResponse[R] {
	out := make([]R, len(in))
	for i, v := range in {
		out[i] = conv(v)
	}
	return listResponse[R]{Items: out}
}

type licenseResponse struct {
	OrgID     string    `json:"orgId"`
	Plan      string    `json:"plan"`
	IssuedAt  timestamp `json:"issuedAt"`
	ExpiresAt timestamp `json:"expiresAt"`
	KeyID     string    `json:"keyId"`
	// EnterpriseFeatures tells whether the licence unlocks the data
	// operations and actions now; Problem says why not.
	EnterpriseFeatures bool          `json:"enterpriseFeatures"`
	Problem            *codedMessage `json:"problem"`
}

func toLicense(l domain.License, reason error) licenseResponse {
	resp := licenseResponse{
		OrgID: string(l.OrgID), Plan: string(l.Plan), IssuedAt: timestamp(l.IssuedAt),
		ExpiresAt: timestamp(l.ExpiresAt), KeyID: l.KeyID, EnterpriseFeatures: reason == nil,
	}
	if reason != nil {
		resp.Problem = &codedMessage{Code: domain.ErrorCode(reason), Message: domain.ErrorMessage(reason)}
	}
	return resp
}

type codedMessage struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type orgResponse struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt timestamp `json:"createdAt"`
	// License is the installed licence, null when none is installed or it
	// cannot be verified; LicenseError then says why.
	License      *licenseResponse `json:"license"`
	LicenseError *codedMessage    `json:"licenseError"`
}

type apiKeyResponse struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Scope     string     `json:"scope"`
	Prefix    string     `json:"prefix"`
	CreatedAt timestamp  `json:"createdAt"`
	RevokedAt *timestamp `json:"revokedAt"`
}

func toAPIKey(k domain.APIKey) apiKeyResponse {
	return apiKeyResponse{
		ID: string(k.ID), Name: k.Name, Scope: string(k.Scope), Prefix: k.Prefix,
		CreatedAt: timestamp(k.CreatedAt), RevokedAt: optTime(k.RevokedAt),
	}
}

// newAPIKeyResponse carries the secret, shown only here.
type newAPIKeyResponse struct {
	apiKeyResponse
	Secret string `json:"secret"`
}

type appResponse struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt timestamp `json:"createdAt"`
}

func toApp(a domain.App) appResponse {
	return appResponse{ID: string(a.ID), Name: a.Name, CreatedAt: timestamp(a.CreatedAt)}
}

type versionResponse struct {
	ID         string          `json:"id"`
	AppID      string          `json:"appId"`
	Number     int             `json:"number"`
	Definition json.RawMessage `json:"definition"`
	CreatedAt  timestamp       `json:"createdAt"`
}

func toVersion(v domain.AppVersion) versionResponse {
	def := v.Definition
	if len(def) == 0 {
		def = json.RawMessage(`{}`)
	}
	return versionResponse{
		ID: string(v.ID), AppID: string(v.AppID), Number: v.Number,
		Definition: def, CreatedAt: timestamp(v.CreatedAt),
	}
}

type deploymentResponse struct {
	ID          string     `json:"id"`
	AppID       string     `json:"appId"`
	VersionID   string     `json:"versionId"`
	Environment string     `json:"environment"`
	PublishedAt timestamp  `json:"publishedAt"`
	ReplacedAt  *timestamp `json:"replacedAt"`
	Active      bool       `json:"active"`
}

func toDeployment(d domain.Deployment) deploymentResponse {
	return deploymentResponse{
		ID: string(d.ID), AppID: string(d.AppID), VersionID: string(d.VersionID),
		Environment: string(d.Environment), PublishedAt: timestamp(d.PublishedAt),
		ReplacedAt: optTime(d.ReplacedAt), Active: d.Active(),
	}
}

type resourceResponse struct {
	ID           string    `json:"id"`
	Kind         string    `json:"kind"`
	Name         string    `json:"name"`
	Address      string    `json:"address"`
	DeploymentID *string   `json:"deploymentId"`
	AppID        *string   `json:"appId"`
	Environment  *string   `json:"environment"`
	IdentifyBy   string    `json:"identifyBy"`
	CreatedAt    timestamp `json:"createdAt"`
}

func toResource(r domain.ChannelResource) resourceResponse {
	return resourceResponse{
		ID: string(r.ID), Kind: string(r.Kind), Name: r.Name, Address: r.Address,
		DeploymentID: optString(string(r.DeploymentID)), AppID: optString(string(r.AppID)),
		Environment: optString(string(r.Environment)), IdentifyBy: string(r.IdentifyBy),
		CreatedAt: timestamp(r.CreatedAt),
	}
}

type conversationResponse struct {
	ID                  string     `json:"id"`
	Status              string     `json:"status"`
	AppID               string     `json:"appId"`
	DeploymentID        *string    `json:"deploymentId"`
	PreviewVersionID    *string    `json:"previewVersionId"`
	Preview             bool       `json:"preview"`
	ResourceID          string     `json:"resourceId"`
	CustomerID          string     `json:"customerId"`
	SessionID           string     `json:"sessionId"`
	CustomerDestination string     `json:"customerDestination"`
	ExternalID          *string    `json:"externalId"`
	IdentifierAtStart   *string    `json:"identifierAtStart"`
	StartedAt           timestamp  `json:"startedAt"`
	ClosedAt            *timestamp `json:"closedAt"`
}

func toConversation(c domain.Conversation) conversationResponse {
	return conversationResponse{
		ID: string(c.ID), Status: string(c.Status), AppID: string(c.AppID),
		DeploymentID: optString(string(c.DeploymentID)), PreviewVersionID: optString(string(c.PreviewVersionID)),
		Preview: !c.Deployed(), ResourceID: string(c.ResourceID), CustomerID: string(c.CustomerID),
		SessionID: string(c.SessionID), CustomerDestination: c.CustomerDestination,
		ExternalID: optString(c.ExternalID), IdentifierAtStart: optString(c.IdentifierAtStart),
		StartedAt: timestamp(c.StartedAt), ClosedAt: optTime(c.ClosedAt),
	}
}

type conversationPageResponse struct {
	Items      []conversationResponse `json:"items"`
	NextCursor *string                `json:"nextCursor"`
}

type sessionResponse struct {
	ID             string         `json:"id"`
	ConversationID string         `json:"conversationId"`
	Variables      map[string]any `json:"variables"`
	UpdatedAt      timestamp      `json:"updatedAt"`
}

func toSession(s domain.Session) sessionResponse {
	vars := s.Variables
	if vars == nil {
		vars = map[string]any{}
	}
	return sessionResponse{
		ID: string(s.ID), ConversationID: string(s.ConversationID),
		Variables: vars, UpdatedAt: timestamp(s.UpdatedAt),
	}
}

type customerResponse struct {
	ID              string     `json:"id"`
	Identifier      *string    `json:"identifier"`
	IdentifierSince *timestamp `json:"identifierSince"`
	CreatedAt       timestamp  `json:"createdAt"`
}

func toCustomer(c domain.Customer) customerResponse {
	r := customerResponse{ID: string(c.ID), Identifier: optString(c.Identifier), CreatedAt: timestamp(c.CreatedAt)}
	if c.Identifier != "" {
		r.IdentifierSince = optTime(&c.IdentifierSince)
	}
	return r
}

type startedResponse struct {
	Conversation conversationResponse `json:"conversation"`
	Session      sessionResponse      `json:"session"`
	Customer     customerResponse     `json:"customer"`
	// Replies are the messages the bot's conversation_started turn sent.
	Replies []messageResponse `json:"replies"`
}

func toStarted(st service.Started) startedResponse {
	return startedResponse{
		Conversation: toConversation(st.Conversation),
		Session:      toSession(st.Session),
		Customer:     toCustomer(st.Customer),
		Replies:      mapItems(st.Replies, toMessage).Items,
	}
}

type intervalResponse struct {
	CustomerID string     `json:"customerId"`
	Identifier string     `json:"identifier"`
	ValidFrom  timestamp  `json:"validFrom"`
	ValidTo    *timestamp `json:"validTo"`
}

func toInterval(iv domain.IdentifierInterval) intervalResponse {
	return intervalResponse{
		CustomerID: string(iv.CustomerID), Identifier: iv.Identifier,
		ValidFrom: timestamp(iv.ValidFrom), ValidTo: optTime(iv.ValidTo),
	}
}

type customerPageResponse struct {
	Items      []customerResponse `json:"items"`
	NextCursor *string            `json:"nextCursor"`
}

// holderPageResponse is a page of an identifier's timeline.
type holderPageResponse struct {
	Identifier string             `json:"identifier"` // normalized
	Items      []intervalResponse `json:"items"`
	NextCursor *string            `json:"nextCursor"`
}

type conversationIDsResponse struct {
	ConversationIDs []string `json:"conversationIds"`
}

type messageResponse struct {
	ID             string    `json:"id"`
	ConversationID string    `json:"conversationId"`
	Seq            int64     `json:"seq"`
	Direction      string    `json:"direction"`
	Author         string    `json:"author"`
	Text           string    `json:"text"`
	ClientID       *string   `json:"clientId"`
	CreatedAt      timestamp `json:"createdAt"`
}

func toMessage(m domain.Message) messageResponse {
	return messageResponse{
		ID: string(m.ID), ConversationID: string(m.ConversationID), Seq: m.Seq,
		Direction: string(m.Direction), Author: string(m.Author), Text: m.Text,
		ClientID: optString(m.ClientID), CreatedAt: timestamp(m.CreatedAt),
	}
}

// receivedResponse answers a message written through the API: the message
// itself (its fields at the top level, as before bots answered), the
// conversation's status after the bot's turn and the bot's replies.
type receivedResponse struct {
	messageResponse
	ConversationStatus string            `json:"conversationStatus"`
	Duplicate          bool              `json:"duplicate"`
	Replies            []messageResponse `json:"replies"`
}

func toReceived(rec service.Received) receivedResponse {
	return receivedResponse{
		messageResponse:    toMessage(rec.Message),
		ConversationStatus: string(rec.Conversation.Status),
		Duplicate:          rec.Duplicate,
		Replies:            mapItems(rec.Replies, toMessage).Items,
	}
}

// outcomeResponse is the error of a run: a business outcome.
type outcomeResponse struct {
	Code    string         `json:"code"`
	Message string         `json:"message"`
	Details map[string]any `json:"details"`
}

func toOutcome(e *domain.Error) *outcomeResponse {
	if e == nil {
		return nil
	}
	return &outcomeResponse{Code: e.Code, Message: e.Message, Details: e.Details}
}

// operationResultResponse answers POST /v1/data-operations/{name}.
type operationResultResponse struct {
	Operation string           `json:"operation"`
	Variable  *string          `json:"variable"`
	Value     any              `json:"value"`
	Error     *outcomeResponse `json:"error"`
	RunID     string           `json:"runId"`
}

// actionResultResponse answers POST /v1/actions/{name}.
type actionResultResponse struct {
	Action   string           `json:"action"`
	Variable *string          `json:"variable"`
	Value    any              `json:"value"`
	Error    *outcomeResponse `json:"error"`
	RunID    string           `json:"runId"`
}

type runResponse struct {
	ID                   string         `json:"id"`
	Kind                 string         `json:"kind"`
	Name                 string         `json:"name"`
	SessionID            *string        `json:"sessionId"`
	Inputs               map[string]any `json:"inputs"`
	Variable             *string        `json:"variable"`
	Output               any            `json:"output"`
	Error                *codedMessage  `json:"error"`
	DurationMicroseconds int64          `json:"durationMicroseconds"`
	StartedAt            timestamp      `json:"startedAt"`
}

func toRun(r domain.OperationRun) runResponse {
	out := runResponse{
		ID: string(r.ID), Kind: string(r.Kind), Name: r.Name, SessionID: optString(string(r.SessionID)),
		Inputs: r.Inputs, Variable: optString(r.Variable), Output: r.Output,
		DurationMicroseconds: r.Duration.Microseconds(), StartedAt: timestamp(r.StartedAt),
	}
	if out.Inputs == nil {
		out.Inputs = map[string]any{}
	}
	if r.ErrorCode != "" {
		out.Error = &codedMessage{Code: r.ErrorCode, Message: r.ErrorMessage}
	}
	return out
}

type eventResponse struct {
	ID        string         `json:"id"`
	Seq       int64          `json:"seq"`
	Type      string         `json:"type"`
	Subject   string         `json:"subject"`
	Payload   map[string]any `json:"payload"`
	CreatedAt timestamp      `json:"createdAt"`
}

func toEvent(e domain.Event) eventResponse {
	payload := e.Payload
	if payload == nil {
		payload = map[string]any{}
	}
	return eventResponse{ID: e.ID(), Seq: e.Seq, Type: e.Type, Subject: e.Subject, Payload: payload, CreatedAt: timestamp(e.CreatedAt)}
}

type eventPageResponse struct {
	Items []eventResponse `json:"items"`
	// Next is the seq to pass as after for the next page: the last item's,
	// or the request's after when there are none.
	Next int64 `json:"next"`
}

type statusResponse struct {
	Status string `json:"status"`
}
