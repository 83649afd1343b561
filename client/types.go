package client

import (
	"encoding/json"
	"fmt"
	"time"
)

// Request and response types of the API. Fields the server may answer
// with null are pointers.

// Status is the body of /healthz and /readyz.
type Status struct {
	Status string `json:"status"`
}

// License is an organization's verified licence.
type License struct {
	OrgID     string    `json:"orgId"`
	Plan      string    `json:"plan"` // "standard" or "enterprise"
	IssuedAt  time.Time `json:"issuedAt"`
	ExpiresAt time.Time `json:"expiresAt"`
	KeyID     string    `json:"keyId"`
	// EnterpriseFeatures tells whether the licence unlocks the data
	// operations and actions now; Problem says why not.
	EnterpriseFeatures bool          `json:"enterpriseFeatures"`
	Problem            *CodedMessage `json:"problem"`
}

// CodedMessage is a code with a message.
type CodedMessage struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Organization is the caller's organization. License is nil when none is
// installed or it cannot be verified; LicenseError then says why.
type Organization struct {
	ID           string        `json:"id"`
	Name         string        `json:"name"`
	CreatedAt    time.Time     `json:"createdAt"`
	License      *License      `json:"license"`
	LicenseError *CodedMessage `json:"licenseError"`
}

// InstallLicenseRequest installs a licence token.
type InstallLicenseRequest struct {
	Token string `json:"token"`
}

// APIKey describes a key; the secret is never returned after creation.
type APIKey struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Scope     string     `json:"scope"` // "admin" or "runtime"
	Prefix    string     `json:"prefix"`
	CreatedAt time.Time  `json:"createdAt"`
	RevokedAt *time.Time `json:"revokedAt"`
}

// NewAPIKey is a created key with its secret, shown only once.
type NewAPIKey struct {
	APIKey
	Secret string `json:"secret"`
}

// CreateAPIKeyRequest creates an API key. The call is not idempotent (the
// server never stores the new secret), so it takes no Idempotency-Key.
type CreateAPIKeyRequest struct {
	Name string `json:"name"`
	// Scope is "admin" (the default) or "runtime": runtime keys, for bots,
	// cannot manage apps, publish, change channel resources, keys or the
	// licence.
	Scope string `json:"scope,omitempty"`
}

// App is a Conversation Chat Bot.
type App struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"createdAt"`
}

// CreateAppRequest creates an app.
type CreateAppRequest struct {
	Name           string `json:"name"`
	IdempotencyKey string `json:"-"`
}

// Version is an immutable, numbered version of an app.
type Version struct {
	ID         string          `json:"id"`
	AppID      string          `json:"appId"`
	Number     int             `json:"number"`
	Definition json.RawMessage `json:"definition"`
	CreatedAt  time.Time       `json:"createdAt"`
}

// CreateVersionRequest creates the next version of an app. A nil
// Definition means {}.
type CreateVersionRequest struct {
	Definition     json.RawMessage `json:"definition,omitempty"`
	IdempotencyKey string          `json:"-"`
}

// Environments a version is published to.
const (
	EnvDevelopment = "development"
	EnvQA          = "qa"
	EnvProduction  = "production"
)

// Deployment is a version published to an environment.
type Deployment struct {
	ID          string     `json:"id"`
	AppID       string     `json:"appId"`
	VersionID   string     `json:"versionId"`
	Environment string     `json:"environment"`
	PublishedAt time.Time  `json:"publishedAt"`
	ReplacedAt  *time.Time `json:"replacedAt"`
	Active      bool       `json:"active"`
}

// PublishRequest publishes a version to an environment.
type PublishRequest struct {
	VersionID      string `json:"versionId"`
	Environment    string `json:"environment"`
	IdempotencyKey string `json:"-"`
}

// Channel resource kinds.
const (
	KindSMS     = "sms"
	KindWebChat = "webchat"
)

// ChannelResource is a configured channel: an SMS number or a web chat widget.
// Its binding (DeploymentID, or AppID and Environment) is what its inbound
// messages start conversations on.
type ChannelResource struct {
	ID           string    `json:"id"`
	Kind         string    `json:"kind"`
	Name         string    `json:"name"`
	Address      string    `json:"address"`
	DeploymentID *string   `json:"deploymentId"`
	AppID        *string   `json:"appId"`
	Environment  *string   `json:"environment"`
	IdentifyBy   string    `json:"identifyBy"` // "none" or "destination"
	CreatedAt    time.Time `json:"createdAt"`
}

// CreateChannelResourceRequest configures a channel resource, optionally
// bound to a deployment, or to an app and environment (it then follows
// what is published there).
type CreateChannelResourceRequest struct {
	Kind           string `json:"kind"`
	Name           string `json:"name"`
	Address        string `json:"address"`
	DeploymentID   string `json:"deploymentId,omitempty"`
	AppID          string `json:"appId,omitempty"`
	Environment    string `json:"environment,omitempty"`
	IdentifyBy     string `json:"identifyBy,omitempty"`
	IdempotencyKey string `json:"-"`
}

// Conversation is one conversation; DeploymentID is nil for a preview run,
// PreviewVersionID is set only for one.
type Conversation struct {
	ID                  string     `json:"id"`
	Status              string     `json:"status"` // "live" or "closed"
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
	StartedAt           time.Time  `json:"startedAt"`
	ClosedAt            *time.Time `json:"closedAt"`
}

// Session is the variable document of a conversation.
type Session struct {
	ID             string         `json:"id"`
	ConversationID string         `json:"conversationId"`
	Variables      map[string]any `json:"variables"`
	UpdatedAt      time.Time      `json:"updatedAt"`
}

// ConversationIDVariable returns channels.message.conversationId.
func (s Session) ConversationIDVariable() string {
	channels, _ := s.Variables["channels"].(map[string]any)
	message, _ := channels["message"].(map[string]any)
	id, _ := message["conversationId"].(string)
	return id
}

// Customer is a customer with its current identifier (nil when none).
type Customer struct {
	ID              string     `json:"id"`
	Identifier      *string    `json:"identifier"`
	IdentifierSince *time.Time `json:"identifierSince"`
	CreatedAt       time.Time  `json:"createdAt"`
}

// StartedConversation is a new conversation with its session and customer.
// Replies are the messages its bot sent when it started.
type StartedConversation struct {
	Conversation Conversation `json:"conversation"`
	Session      Session      `json:"session"`
	Customer     Customer     `json:"customer"`
	Replies      []Message    `json:"replies"`
}

// StartConversationRequest starts a conversation on a deployment.
type StartConversationRequest struct {
	DeploymentID        string `json:"deploymentId"`
	ResourceID          string `json:"resourceId"`
	ExternalID          string `json:"externalId,omitempty"`
	CustomerDestination string `json:"customerDestination"`
	CustomerIdentifier  string `json:"customerIdentifier,omitempty"`
	IdempotencyKey      string `json:"-"`
}

// StartPreviewRequest starts a preview run of a version.
type StartPreviewRequest struct {
	VersionID           string `json:"versionId"`
	ResourceID          string `json:"resourceId"`
	ExternalID          string `json:"externalId,omitempty"`
	CustomerDestination string `json:"customerDestination"`
	CustomerIdentifier  string `json:"customerIdentifier,omitempty"`
	IdempotencyKey      string `json:"-"`
}

// ListConversationsParams filters and pages conversations; zero fields do
// not filter. Cursor is the NextCursor of the previous page.
type ListConversationsParams struct {
	Status       string
	CustomerID   string
	DeploymentID string
	ResourceID   string
	ExternalID   string
	Limit        int // 0 for the server default (50)
	Cursor       string
}

// ConversationPage is one page of conversations, newest first. NextCursor
// is nil on the last page.
type ConversationPage struct {
	Items      []Conversation `json:"items"`
	NextCursor *string        `json:"nextCursor"`
}

// Message directions.
const (
	Inbound  = "inbound"
	Outbound = "outbound"
)

// Message is one message of a conversation.
// Seq numbers a conversation's messages 1, 2, 3... without gaps; Author is
// "customer", "bot" or "operator"; ClientID is the sender's id of an
// inbound message ("" when none).
type Message struct {
	ID             string    `json:"id"`
	ConversationID string    `json:"conversationId"`
	Seq            int64     `json:"seq"`
	Direction      string    `json:"direction"`
	Author         string    `json:"author"`
	Text           string    `json:"text"`
	ClientID       string    `json:"clientId"`
	CreatedAt      time.Time `json:"createdAt"`
}

// AddMessageRequest writes a message into a live conversation: inbound
// (the customer's; the default) runs the bot, outbound is an operator's.
// ClientID, optional, makes a resent inbound message a duplicate.
type AddMessageRequest struct {
	Direction      string `json:"direction,omitempty"`
	Text           string `json:"text"`
	ClientID       string `json:"clientId,omitempty"`
	IdempotencyKey string `json:"-"`
}

// ReceivedMessage answers AddMessage: the stored message, the
// conversation's status after the bot's turn, and the bot's replies.
// Duplicate is true when ClientID had been received before (nothing was
// stored again).
type ReceivedMessage struct {
	Message
	ConversationStatus string    `json:"conversationStatus"`
	Duplicate          bool      `json:"duplicate"`
	Replies            []Message `json:"replies"`
}

// ListMessagesParams pages messages: After is the sequence number of the
// last message seen (0 for the start).
type ListMessagesParams struct {
	After int64
	Limit int // 0 for the server default (50)
}

// Transcript is a conversation with its messages, as the
// conversation_transcript data operation outputs it. The server sends null
// for an empty CustomerIdentifier, IdentifierAtStart or ExternalID; they
// decode as "".
type Transcript struct {
	ID                  string              `json:"id"`
	Status              string              `json:"status"`
	CustomerID          string              `json:"customerId"`
	CustomerIdentifier  string              `json:"customerIdentifier"`
	IdentifierAtStart   string              `json:"identifierAtStart"`
	ResourceID          string              `json:"resourceId"`
	CustomerDestination string              `json:"customerDestination"`
	ExternalID          string              `json:"externalId"`
	StartedAt           time.Time           `json:"startedAt"`
	ClosedAt            *time.Time          `json:"closedAt"`
	Messages            []TranscriptMessage `json:"messages"`
}

// TranscriptMessage is a message in a transcript.
type TranscriptMessage struct {
	ID        string    `json:"id"`
	Seq       int64     `json:"seq"`
	Direction string    `json:"direction"`
	Author    string    `json:"author"`
	Text      string    `json:"text"`
	CreatedAt time.Time `json:"createdAt"`
}

// IdentifierInterval records that a customer held an identifier during
// [ValidFrom, ValidTo); ValidTo is nil while current.
type IdentifierInterval struct {
	CustomerID string     `json:"customerId"`
	Identifier string     `json:"identifier"`
	ValidFrom  time.Time  `json:"validFrom"`
	ValidTo    *time.Time `json:"validTo"`
}

// Names of the data operations and actions.
const (
	OpUpdateCustomerIdentifier = "update_customer_identifier"
	OpFindConversations        = "find_conversations_by_customer_identifier"
	OpConversationTranscript   = "conversation_transcript"
	OpCloseConversation        = "close_conversation"
	OpSendMessage              = "send_message_to_conversation"

	ActionStartConversation        = "start_conversation_chat_bot"
	ActionUpdateCustomerIdentifier = "update_customer_identifier"
	ActionCloseConversation        = "close_conversation"
)

// RunRequest runs a data operation or action with literal inputs,
// optionally inside a session whose variables receive the output.
type RunRequest struct {
	Inputs         map[string]any `json:"inputs"`
	SessionID      string         `json:"sessionId,omitempty"`
	OutputVariable string         `json:"outputVariable,omitempty"`
	IdempotencyKey string         `json:"-"`
}

// OutcomeError is a business outcome of a run (identifier_taken,
// conversation_closed, conversation_not_found): the run completed with a
// false or empty value.
type OutcomeError struct {
	Code    string         `json:"code"`
	Message string         `json:"message"`
	Details map[string]any `json:"details"`
}

func (e *OutcomeError) Error() string { return e.Code + ": " + e.Message }

// RunResult is the answer of a data operation (Operation set) or an action
// (Action set). Error is set for a business outcome.
type RunResult struct {
	Operation string          `json:"operation,omitempty"`
	Action    string          `json:"action,omitempty"`
	Variable  *string         `json:"variable"`
	Value     json.RawMessage `json:"value"`
	Error     *OutcomeError   `json:"error"`
	RunID     string          `json:"runId"`
}

// DecodeValue decodes Value into v.
func (r RunResult) DecodeValue(v any) error {
	if err := json.Unmarshal(r.Value, v); err != nil {
		return fmt.Errorf("parley: decoding run value %s: %w", r.Value, err)
	}
	return nil
}

// Bool returns Value as a boolean. Errors when it is not one.
func (r RunResult) Bool() (bool, error) {
	var b bool
	return b, r.DecodeValue(&b)
}

// Strings returns Value as a list of text. Errors when it is not one.
func (r RunResult) Strings() ([]string, error) {
	var s []string
	return s, r.DecodeValue(&s)
}

// Run is a recorded run of a data operation or action.
type Run struct {
	ID                   string         `json:"id"`
	Kind                 string         `json:"kind"` // "data_operation" or "action"
	Name                 string         `json:"name"`
	SessionID            *string        `json:"sessionId"`
	Inputs               map[string]any `json:"inputs"`
	Variable             *string        `json:"variable"`
	Output               any            `json:"output"`
	Error                *CodedMessage  `json:"error"`
	DurationMicroseconds int64          `json:"durationMicroseconds"`
	StartedAt            time.Time      `json:"startedAt"`
}

// ListRunsParams pages runs, newest first: Before is the id of the last
// run seen ("" for the newest).
type ListRunsParams struct {
	Before string
	Limit  int
}

// Event is an outbox entry.
type Event struct {
	// ID is "evt_" and Seq: the webhook-id of the event's deliveries.
	ID        string         `json:"id"`
	Seq       int64          `json:"seq"`
	Type      string         `json:"type"`
	Subject   string         `json:"subject"`
	Payload   map[string]any `json:"payload"`
	CreatedAt time.Time      `json:"createdAt"`
}

// EventPage is a page of events; Next is the After of the next page.
type EventPage struct {
	Items []Event `json:"items"`
	Next  int64   `json:"next"`
}

// ListEventsParams pages events after a sequence number; the filters keep
// events of any of Types, about CustomerID (its conversations' events
// included) and about ConversationID. Zero fields do not filter.
type ListEventsParams struct {
	After          int64
	Limit          int
	Types          []string
	CustomerID     string
	ConversationID string
}

// Turn is one bot turn of a conversation with its trace.
type Turn struct {
	ID                   string        `json:"id"`
	ConversationID       string        `json:"conversationId"`
	Number               int64         `json:"number"`
	Trigger              string        `json:"trigger"` // conversation_started or message_received
	MessageID            *string       `json:"messageId"`
	VersionID            string        `json:"versionId"`
	Outcome              string        `json:"outcome"` // idle, completed, waiting, closed or failed
	Error                *CodedMessage `json:"error"`
	WaitingAt            *string       `json:"waitingAt"` // the ask step the bot waits at
	Trace                TurnTrace     `json:"trace"`
	DurationMicroseconds int64         `json:"durationMicroseconds"`
	StartedAt            time.Time     `json:"startedAt"`
}

// TurnTrace is what a turn did, step by step.
type TurnTrace struct {
	Trigger    string        `json:"trigger"`
	Resumed    string        `json:"resumed,omitempty"`
	Steps      []TraceStep   `json:"steps"`
	Outcome    string        `json:"outcome"`
	Error      *TraceFailure `json:"error,omitempty"`
	DurationUS int64         `json:"durationUs"`
}

// TraceStep is one step a turn ran.
type TraceStep struct {
	Step        string          `json:"step"`
	Kind        string          `json:"kind"`
	Expressions []TraceExpr     `json:"expressions,omitempty"`
	Sent        string          `json:"sent,omitempty"`
	Operation   *TraceOperation `json:"operation,omitempty"`
	Note        string          `json:"note,omitempty"`
	Next        string          `json:"next,omitempty"`
	Error       *TraceFailure   `json:"error,omitempty"`
	DurationUS  int64           `json:"durationUs"`
}

// TraceExpr is one expression evaluated: its JSON pointer in the
// definition, its result (JSON, truncated) and its CEL cost.
type TraceExpr struct {
	Path   string `json:"path"`
	Result string `json:"result,omitempty"`
	Cost   uint64 `json:"cost"`
	Error  string `json:"error,omitempty"`
}

// TraceOperation is a data operation or action a do step ran.
type TraceOperation struct {
	Kind       string         `json:"kind"`
	Name       string         `json:"name"`
	RunID      string         `json:"runId,omitempty"`
	Inputs     map[string]any `json:"inputs"`
	Variable   string         `json:"variable,omitempty"`
	Value      string         `json:"value,omitempty"`
	Error      *TraceFailure  `json:"error,omitempty"`
	DurationUS int64          `json:"durationUs"`
}

// TraceFailure is an error in a trace, with the step it happened at.
type TraceFailure struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Step    string `json:"step,omitempty"`
}

// ListTurnsParams pages a conversation's turns: After is the number of the
// last turn seen (0 for the start).
type ListTurnsParams struct {
	After int64
	Limit int
}
