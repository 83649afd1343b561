package domain

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// Typed identifiers. Every id is an opaque text with a kind prefix
// ("org_", "cus_", ...) assigned by an injected IDGenerator.
type (
	OrgID          string
	APIKeyID       string
	AppID          string
	VersionID      string
	DeploymentID   string
	ResourceID     string
	CustomerID     string
	ConversationID string
	SessionID      string
	MessageID      string
	RunID          string
)

// Organization is a tenant. Nothing crosses orgs.
type Organization struct {
	ID        OrgID
	Name      string
	CreatedAt time.Time
	// LicenseToken is the installed licence token, "" when none. It is
	// verified on every use, so an expired licence stops working by itself.
	LicenseToken string
}

// Scope is what an API key may do.
type Scope string

const (
	// ScopeAdmin keys may do everything in their org.
	ScopeAdmin Scope = "admin"
	// ScopeRuntime keys, for bots, run conversations, data operations and
	// actions and read everything, but cannot manage apps, publish, change
	// channel resources, keys or the licence.
	ScopeRuntime Scope = "runtime"
)

// Allows reports whether a key of scope s may act where need is required.
func (s Scope) Allows(need Scope) bool { return s == ScopeAdmin || s == need }

// APIKey authenticates requests for one org. Only the SHA-256 hash of the
// secret is stored; the secret is shown once at creation.
type APIKey struct {
	ID        APIKeyID
	OrgID     OrgID
	Name      string
	Scope     Scope
	Prefix    string // first characters of the secret, to recognize it
	Hash      []byte // SHA-256 of the secret
	CreatedAt time.Time
	RevokedAt *time.Time
}

// Plan is a licence plan.
type Plan string

const (
	PlanStandard   Plan = "standard"
	PlanEnterprise Plan = "enterprise"
)

// License is the verified content of a licence token.
type License struct {
	OrgID     OrgID
	Plan      Plan
	IssuedAt  time.Time
	ExpiresAt time.Time
	KeyID     string // which operator key signed it
}

// App is a Conversation Chat Bot definition; its content lives in versions.
type App struct {
	ID        AppID
	OrgID     OrgID
	Name      string
	CreatedAt time.Time
}

// AppVersion is an immutable, numbered version of an app.
type AppVersion struct {
	ID         VersionID
	OrgID      OrgID
	AppID      AppID
	Number     int             // 1, 2, 3 ... per app
	Definition json.RawMessage // the bot definition, a JSON object
	CreatedAt  time.Time
}

// Environment is where a version is published.
type Environment string

const (
	EnvDevelopment Environment = "development"
	EnvQA          Environment = "qa"
	EnvProduction  Environment = "production"
)

// ValidEnvironment reports whether e is one of the three environments.
func ValidEnvironment(e Environment) bool {
	return e == EnvDevelopment || e == EnvQA || e == EnvProduction
}

// Deployment is a version published to an environment. Publishing again to
// the same environment sets ReplacedAt on the previous deployment; at most
// one deployment per (app, environment) is active.
type Deployment struct {
	ID          DeploymentID
	OrgID       OrgID
	AppID       AppID
	VersionID   VersionID
	Environment Environment
	PublishedAt time.Time
	ReplacedAt  *time.Time
}

// Active reports whether the deployment has not been replaced.
func (d Deployment) Active() bool { return d.ReplacedAt == nil }

// ResourceKind is the kind of a channel resource.
type ResourceKind string

const (
	ResourceSMS     ResourceKind = "sms"
	ResourceWebChat ResourceKind = "webchat"
)

// IdentifyBy says how a conversation started by an inbound message
// identifies its customer.
type IdentifyBy string

const (
	// IdentifyByNone starts the conversation with a customer without an
	// identifier (unless the channel verified one).
	IdentifyByNone IdentifyBy = "none"
	// IdentifyByDestination identifies the customer by the sender's
	// address: "tel:" + the number for SMS.
	IdentifyByDestination IdentifyBy = "destination"
)

// ChannelResource is a configured channel in the org's Conversation Hub.
// Address is the SMS number (E.164) or the web chat widget key.
//
// A resource is bound to what its inbound messages talk to: a fixed
// deployment (DeploymentID), or an app and environment (AppID and
// Environment: whatever is published there, following republishing). An
// unbound resource cannot start conversations from inbound messages.
type ChannelResource struct {
	ID           ResourceID
	OrgID        OrgID
	Kind         ResourceKind
	Name         string
	Address      string
	DeploymentID DeploymentID // "" unless bound to a fixed deployment
	AppID        AppID        // "" unless bound to an app and environment
	Environment  Environment  // set with AppID
	IdentifyBy   IdentifyBy
	CreatedAt    time.Time
}

// Bound reports whether the resource can start conversations.
func (r ChannelResource) Bound() bool { return r.DeploymentID != "" || r.AppID != "" }

// Customer has a stable id and at most one current identifier.
type Customer struct {
	ID              CustomerID
	OrgID           OrgID
	Identifier      string    // current identifier, "" when none
	IdentifierSince time.Time // start of the current interval; zero when none
	CreatedAt       time.Time
}

// IdentifierInterval records that a customer held an identifier during
// [ValidFrom, ValidTo). ValidTo is nil while the interval is current. The
// intervals of one identifier never overlap.
type IdentifierInterval struct {
	OrgID      OrgID
	CustomerID CustomerID
	Identifier string
	ValidFrom  time.Time
	ValidTo    *time.Time
}

// Covers reports whether the interval includes instant t.
func (iv IdentifierInterval) Covers(t time.Time) bool {
	return !t.Before(iv.ValidFrom) && (iv.ValidTo == nil || t.Before(*iv.ValidTo))
}

// ConversationStatus is live or closed.
type ConversationStatus string

const (
	StatusLive   ConversationStatus = "live"
	StatusClosed ConversationStatus = "closed"
)

// Conversation belongs to one org, one deployment (or a preview run of a
// version, then DeploymentID is "" and PreviewVersionID is set), one channel
// resource and one customer.
type Conversation struct {
	ID                  ConversationID
	OrgID               OrgID
	DeploymentID        DeploymentID // "" for a preview run
	PreviewVersionID    VersionID    // set only for a preview run
	AppID               AppID
	ResourceID          ResourceID
	CustomerID          CustomerID
	SessionID           SessionID
	Status              ConversationStatus
	CustomerDestination string
	ExternalID          string
	// IdentifierAtStart is the customer's identifier in force when the
	// conversation started ("" when it had none).
	IdentifierAtStart string
	StartedAt         time.Time
	ClosedAt          *time.Time
}

// Deployed reports whether the conversation belongs to a published
// deployment (not a preview run).
func (c Conversation) Deployed() bool { return c.DeploymentID != "" }

// Session is the variable document of a conversation.
type Session struct {
	ID             SessionID
	OrgID          OrgID
	ConversationID ConversationID
	Variables      map[string]any
	UpdatedAt      time.Time
}

// Direction of a message.
type Direction string

const (
	Inbound  Direction = "inbound"
	Outbound Direction = "outbound"
)

// Author says who wrote a message.
type Author string

const (
	// AuthorCustomer writes every inbound message.
	AuthorCustomer Author = "customer"
	// AuthorBot is the conversation's bot (its say and ask steps, and
	// send_message_to_conversation).
	AuthorBot Author = "bot"
	// AuthorOperator is a person or a system writing through the API or the
	// console.
	AuthorOperator Author = "operator"
)

// Message is one message of a conversation.
type Message struct {
	ID             MessageID
	OrgID          OrgID
	ConversationID ConversationID
	// ResourceID is the conversation's channel resource.
	ResourceID ResourceID
	// Seq numbers the conversation's messages 1, 2, 3... without gaps, in
	// the order they were written; the store assigns it.
	Seq       int64
	Direction Direction
	Author    Author
	Text      string
	// ClientID is the sender's own id of an inbound message (Twilio's
	// MessageSid, a web chat client message id); "" when none. It is unique
	// per channel resource, so a resent message is stored once.
	ClientID  string
	CreatedAt time.Time
}

// RunKind tells a data operation from an action.
type RunKind string

const (
	KindDataOperation RunKind = "data_operation"
	KindAction        RunKind = "action"
)

// OperationRun records one run of a data operation or action: its inputs,
// output, error and duration. Runs are recorded for every outcome.
type OperationRun struct {
	ID           RunID
	OrgID        OrgID
	Kind         RunKind
	Name         string
	SessionID    SessionID // "" when run outside a session
	Inputs       map[string]any
	Variable     string
	Output       any // JSON-encodable
	ErrorCode    string
	ErrorMessage string
	Duration     time.Duration
	StartedAt    time.Time
}

// Event is an outbox entry written in the same transaction as the change it
// describes. Seq is assigned by the store, increasing per store.
type Event struct {
	Seq       int64
	OrgID     OrgID
	Type      string
	Subject   string // id of the object the event is about
	Payload   map[string]any
	CreatedAt time.Time
}

// ID is the event's public id, "evt_" and its Seq: the webhook-id of its
// deliveries.
func (e Event) ID() string { return EventIDOf(e.Seq) }

// EventIDOf returns the id of the event with sequence number seq.
func EventIDOf(seq int64) string { return "evt_" + strconv.FormatInt(seq, 10) }

// ParseEventID returns the Seq of an event id; ok is false when id is not
// "evt_" and a positive decimal number.
func ParseEventID(id string) (seq int64, ok bool) {
	digits, found := strings.CutPrefix(id, "evt_")
	if !found || digits == "" || len(digits) > 18 || digits[0] == '0' {
		return 0, false
	}
	seq, err := strconv.ParseInt(digits, 10, 64)
	return seq, err == nil && seq > 0
}

// Event types. docs/EVENTS.md describes each one with an example payload.
const (
	EventConversationStarted       = "conversation.started"
	EventConversationClosed        = "conversation.closed"
	EventMessageReceived           = "message.received"
	EventMessageSent               = "message.sent"
	EventCustomerIdentifierChanged = "customer.identifier_changed"
	EventDeploymentPublished       = "deployment.published"
	// EventTurnFailed: a bot turn broke its chain (a thrown error, a failed
	// expression, a limit); the conversation stays live.
	EventTurnFailed = "turn.failed"
	// EventRunFailed: a data operation or action failed (thrown error,
	// nothing changed but the run log).
	EventRunFailed = "run.failed"
)

// IdempotencyRecord stores the response of a POST sent with an
// Idempotency-Key, so a retry gets the same answer.
type IdempotencyRecord struct {
	OrgID       OrgID
	Key         string
	RequestHash string // method, path and body hashed
	Status      int
	Body        []byte
	CreatedAt   time.Time
}
