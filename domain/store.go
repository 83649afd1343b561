package domain

import (
	"context"
	"time"
)

// Store is a storage backend. All state lives in it; server processes are
// stateless. Implementations: package sqlite and package postgres. The
// contract every implementation honours is the storetest suite.
//
// Isolation. A write transaction (Update, UpdateOrg) does not serialize
// with every other writer: on PostgreSQL it runs at READ COMMITTED (each
// statement sees what committed before it started), on SQLite the one
// writer connection serializes every write. Read-then-write logic therefore
// takes the locks that protect what it reads before it reads it:
// LockConversation for a conversation, its session and its messages,
// LockCustomer and LockKeys (identifiers) for an identity change; the
// unique indexes (one holder per identifier, one current interval, one
// active deployment, one version number, one idempotency key) are the last
// word, and a raced unique insert is a transient conflict that runs fn
// again. docs/ARCHITECTURE.md ("Guarantees") says which lock protects what.
type Store interface {
	// View runs fn in a read-only transaction: one consistent snapshot.
	// It never waits for writers and takes no lock that could delay them.
	View(ctx context.Context, fn func(Tx) error) error
	// ViewLatest is View for a read whose statements need not share one
	// snapshot: each statement is one (read-only, consistent on its own)
	// and sees the latest committed data. It is meant for a read of one
	// statement beside an independent check such as CheckAPIKey: on
	// PostgreSQL that is one round trip, the statement going out with
	// its own BEGIN and COMMIT.
	ViewLatest(ctx context.Context, fn func(Tx) error) error
	// Update runs fn in a read-write transaction and commits when fn
	// returns nil; any error rolls everything back. When the database
	// reports a transient conflict (a unique violation raced by another
	// writer, a serialization failure or a deadlock) or the connection was
	// lost before COMMIT was sent, Update rolls back and runs fn again, a
	// bounded number of times, so fn must have no effect outside the
	// transaction. When retries run out it returns CodeConflict (or
	// CodeUnavailable when the database cannot be reached).
	// fn must not call the store itself (View, Update, UpdateOrg): that
	// would wait for the transaction fn runs in.
	Update(ctx context.Context, fn func(Tx) error) error
	// UpdateOrg is Update for a transaction that writes the rows of one
	// org. It takes no org-wide lock: writers of one org run in parallel
	// and exclude each other only through the locks fn takes.
	UpdateOrg(ctx context.Context, org OrgID, fn func(Tx) error) error
	// Ready returns nil when the database is reachable and fully migrated.
	Ready(ctx context.Context) error
	Close() error
}

// Tx is the set of reads and writes inside one transaction. Every method
// scoped to an org sees only that org's rows. Getters return an error with
// CodeNotFound when the row does not exist in that org.
type Tx interface {
	// Organizations and API keys.
	CreateOrg(ctx context.Context, org Organization) error
	GetOrg(ctx context.Context, id OrgID) (Organization, error)
	ListOrgs(ctx context.Context) ([]Organization, error)
	SetOrgLicense(ctx context.Context, id OrgID, token string) error
	CreateAPIKey(ctx context.Context, key APIKey) error
	// GetAPIKeyByHash finds a key in any org by the hash of its secret.
	GetAPIKeyByHash(ctx context.Context, hash []byte) (APIKey, error)
	// CheckAPIKey calls accept with the key of hash (in any org), or with
	// an error of CodeNotFound when none matches, and returns what accept
	// returns. In a View a backend may send the read with the
	// transaction's next statement instead of on its own: accept's error
	// is then returned by that statement, or by the commit when none
	// follows, and the View fails with it.
	CheckAPIKey(ctx context.Context, hash []byte, accept func(APIKey, error) error) error
	ListAPIKeys(ctx context.Context, org OrgID) ([]APIKey, error)
	RevokeAPIKey(ctx context.Context, org OrgID, id APIKeyID, at time.Time) error

	// Apps, versions, deployments and channel resources.
	CreateApp(ctx context.Context, app App) error
	GetApp(ctx context.Context, org OrgID, id AppID) (App, error)
	ListApps(ctx context.Context, org OrgID) ([]App, error)
	// CreateVersion stores v; v.Number must be unique per app (a raced
	// duplicate is a transient conflict).
	CreateVersion(ctx context.Context, v AppVersion) error
	GetVersion(ctx context.Context, org OrgID, id VersionID) (AppVersion, error)
	ListVersions(ctx context.Context, org OrgID, app AppID) ([]AppVersion, error)
	// LatestVersionNumber returns the highest version number of app, 0 if none.
	LatestVersionNumber(ctx context.Context, org OrgID, app AppID) (int, error)
	// CreateDeployment stores d; at most one active deployment per (app,
	// environment) (a raced duplicate is a transient conflict).
	CreateDeployment(ctx context.Context, d Deployment) error
	GetDeployment(ctx context.Context, org OrgID, id DeploymentID) (Deployment, error)
	// ActiveDeployment returns the active deployment of app in env.
	ActiveDeployment(ctx context.Context, org OrgID, app AppID, env Environment) (Deployment, error)
	ReplaceDeployment(ctx context.Context, org OrgID, id DeploymentID, at time.Time) error
	// ListDeployments returns the deployments of app, newest first.
	ListDeployments(ctx context.Context, org OrgID, app AppID) ([]Deployment, error)
	CreateResource(ctx context.Context, r ChannelResource) error
	GetResource(ctx context.Context, org OrgID, id ResourceID) (ChannelResource, error)
	ListResources(ctx context.Context, org OrgID) ([]ChannelResource, error)

	// Customers and identifier history.
	CreateCustomer(ctx context.Context, c Customer) error
	GetCustomer(ctx context.Context, org OrgID, id CustomerID) (Customer, error)
	// LockCustomer returns the customer, locked until the transaction ends
	// against every other LockCustomer (PostgreSQL: SELECT ... FOR NO KEY
	// UPDATE, which still lets other transactions insert rows referencing
	// it; SQLite: a read, since its one writer serializes already). An
	// identity change locks its customer before the identifiers (LockKeys).
	LockCustomer(ctx context.Context, org OrgID, id CustomerID) (Customer, error)
	// LockKeys locks named keys of org until the transaction ends, in
	// sorted order (so two transactions locking overlapping sets cannot
	// deadlock each other); duplicates are locked once. Keys are namespaced
	// by their users: IdentifierKey for an identifier, RouteKey for an
	// inbound route. Transactions lock route keys first, then
	// conversations, customers and identifier keys, in that order. PostgreSQL: advisory
	// transaction locks on a 64-bit hash of (org, key), so two keys may
	// rarely share a lock (safe: it only makes one wait); SQLite: nothing.
	LockKeys(ctx context.Context, org OrgID, keys ...string) error
	// SetCustomerIdentifier sets the current identifier ("" for none) and
	// the start of its interval. At most one customer per org holds an
	// identifier: a duplicate is a transient conflict.
	SetCustomerIdentifier(ctx context.Context, org OrgID, id CustomerID, identifier string, since time.Time) error
	// OpenInterval inserts a current interval (ValidTo nil). At most one
	// current interval per (org, identifier): a duplicate is a transient
	// conflict.
	OpenInterval(ctx context.Context, iv IdentifierInterval) error
	// CloseInterval sets ValidTo on the customer's current interval of
	// identifier; CodeNotFound when there is none.
	CloseInterval(ctx context.Context, org OrgID, customer CustomerID, identifier string, at time.Time) error
	// LatestInterval returns the interval of identifier with the latest
	// ValidFrom (the current one, if any); found is false when the
	// identifier was never held.
	LatestInterval(ctx context.Context, org OrgID, identifier string) (iv IdentifierInterval, found bool, err error)
	// IntervalAt returns the interval of identifier that covers instant at.
	IntervalAt(ctx context.Context, org OrgID, identifier string, at time.Time) (iv IdentifierInterval, found bool, err error)
	// CustomerIntervals returns the customer's intervals, oldest first.
	CustomerIntervals(ctx context.Context, org OrgID, customer CustomerID) ([]IdentifierInterval, error)

	// Conversations, sessions and messages.
	CreateConversation(ctx context.Context, c Conversation) error
	GetConversation(ctx context.Context, org OrgID, id ConversationID) (Conversation, error)
	CloseConversation(ctx context.Context, org OrgID, id ConversationID, at time.Time) error
	// CustomerConversationIDs returns the customer's conversation ids,
	// newest first (StartedAt descending, then id descending).
	CustomerConversationIDs(ctx context.Context, org OrgID, customer CustomerID) ([]ConversationID, error)
	// HeldConversationIDs returns the conversation ids of the customer
	// who holds identifier now (at nil: whose latest interval of it is
	// open) or held it at *at (IntervalAt), newest first as
	// CustomerConversationIDs; none when nobody does.
	HeldConversationIDs(ctx context.Context, org OrgID, identifier string, at *time.Time) ([]ConversationID, error)
	// ListConversations returns conversations matching f, newest first.
	ListConversations(ctx context.Context, org OrgID, f ConversationFilter) ([]Conversation, error)
	CreateSession(ctx context.Context, s Session) error
	GetSession(ctx context.Context, org OrgID, id SessionID) (Session, error)
	// SetSessionVariables replaces the whole variable document.
	SetSessionVariables(ctx context.Context, org OrgID, id SessionID, vars map[string]any, at time.Time) error
	// AppendMessage stores m as the conversation's next message and returns
	// it with its Seq (the conversation's previous Seq plus one). A ClientID
	// already stored on m.ResourceID is a transient conflict.
	AppendMessage(ctx context.Context, m Message) (Message, error)
	// ListMessages returns the conversation's messages with Seq > afterSeq,
	// oldest first, at most limit (0 for all).
	ListMessages(ctx context.Context, org OrgID, conversation ConversationID, afterSeq int64, limit int) ([]Message, error)

	// Operation runs, events (outbox) and idempotency records.
	RecordRun(ctx context.Context, r OperationRun) error
	// RecordRuns stores several runs at once (the batched run log), in
	// order; a duplicate id is a transient conflict.
	RecordRuns(ctx context.Context, rs []OperationRun) error
	GetRun(ctx context.Context, org OrgID, id RunID) (OperationRun, error)
	// ListRuns returns runs newest first, before the run with id before
	// ("" for the newest), at most limit.
	ListRuns(ctx context.Context, org OrgID, before RunID, limit int) ([]OperationRun, error)
	// AppendEvent stores e and assigns its Seq (e.Seq is ignored). Seqs
	// grow but need not be consecutive, and appending takes no lock: writers
	// of one org append in parallel.
	AppendEvent(ctx context.Context, e Event) error
	// ListEvents returns events with Seq > after, oldest first, at most
	// limit (0 for all). The feed's guarantee: it never skips an event. An
	// event is listed only once no transaction that could still commit an
	// event with a lower Seq is in progress, so a reader that has seen Seq n
	// never later finds a new event at or below n, and polling with
	// after = the last Seq seen delivers every committed event exactly once,
	// in Seq order. (PostgreSQL: Seq orders events by writing transaction,
	// and events of a transaction become visible once every older writing
	// transaction of the database has ended; a long open write transaction
	// delays the feed, it never loses events. SQLite: commit order.)
	// Events written by the calling transaction itself need not be listed.
	ListEvents(ctx context.Context, org OrgID, after int64, limit int) ([]Event, error)
	// GetIdempotency returns the record of key; found is false when none.
	GetIdempotency(ctx context.Context, org OrgID, key string) (rec IdempotencyRecord, found bool, err error)
	// PutIdempotency stores rec (Status 0 marks a request in progress); a
	// duplicate key is a transient conflict.
	PutIdempotency(ctx context.Context, rec IdempotencyRecord) error
	// CompleteIdempotency stores the response of the request holding key.
	CompleteIdempotency(ctx context.Context, org OrgID, key string, status int, body []byte) error
	// DeleteIdempotency forgets key, so a failed request can be retried.
	DeleteIdempotency(ctx context.Context, org OrgID, key string) error

	// Each capability adds its methods as an interface of its own, in a
	// file of its own (store_<capability>.go).
	LookupTx
	MaintenanceTx
	TurnTx
	ChannelTx
	WebhookTx
	ConsoleTx
}

// ConversationFilter selects conversations for ListConversations. Zero
// fields do not filter. Results are ordered newest first (StartedAt
// descending, id descending); Before is a keyset cursor: only conversations
// strictly older than (BeforeStartedAt, BeforeID) are returned.
type ConversationFilter struct {
	Status          ConversationStatus
	CustomerID      CustomerID
	DeploymentID    DeploymentID
	ResourceID      ResourceID
	ExternalID      string
	BeforeStartedAt time.Time
	BeforeID        ConversationID
	Limit           int // required, > 0
}

// IdentifierKey is the LockKeys key of an identifier (canonical form):
// every transaction that reads who holds an identifier and then acts on it
// (gives it to a customer, closes its interval, starts a conversation
// under it) locks it first.
func IdentifierKey(identifier string) string { return "identifier:" + identifier }

// RouteKey is the LockKeys key of the inbound route of destination on a
// channel resource: a message arriving there locks it before it looks the
// route up, so concurrent first messages start one conversation.
func RouteKey(resource ResourceID, destination string) string {
	return "route:" + string(resource) + "\x00" + destination
}

// Clock tells the time; injected so tests are deterministic.
type Clock interface{ Now() time.Time }

// IDGenerator makes new ids with a kind prefix such as "conv".
type IDGenerator interface{ NewID(prefix string) string }

// LicenseVerifier checks a licence token offline. It returns an error with
// CodeLicenseRequired for a malformed, tampered or unsigned token.
type LicenseVerifier interface {
	Verify(token string) (License, error)
}

// IdentifierNormalizer turns user input into the canonical identifier, or
// returns an error with CodeIdentifierInvalid.
type IdentifierNormalizer interface {
	Normalize(input string) (string, error)
}
