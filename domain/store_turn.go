package domain

import (
	"context"
	"encoding/json"
	"time"
)

// TurnTx holds the Tx methods for conversations as they converse: locking
// one conversation, finding messages, routing inbound messages, and the bot
// turns' state.
type TurnTx interface {
	// LockConversation returns the conversation, locked against every other
	// transaction that locks it or appends a message to it until this one
	// ends, so that one turn at a time runs per conversation.
	LockConversation(ctx context.Context, org OrgID, id ConversationID) (Conversation, error)
	// GetMessage returns a message of the org.
	GetMessage(ctx context.Context, org OrgID, id MessageID) (Message, error)
	// MessageByClientID returns the message with that ClientID on the
	// resource; found is false when there is none.
	MessageByClientID(ctx context.Context, org OrgID, resource ResourceID, clientID string) (m Message, found bool, err error)
	// GetRoute returns the conversation that receives the inbound messages
	// of destination on resource, locked until the transaction ends; found
	// is false when there is no route yet.
	GetRoute(ctx context.Context, org OrgID, resource ResourceID, destination string) (id ConversationID, found bool, err error)
	// SetRoute points the route of (resource, destination) at conversation.
	// Creating a route that a concurrent transaction created first is a
	// transient conflict, so of two first messages only one starts a
	// conversation.
	SetRoute(ctx context.Context, org OrgID, resource ResourceID, destination string, conversation ConversationID) error

	// LastTurn returns the newest turn of the conversation, without its
	// trace; found is false when it has none.
	LastTurn(ctx context.Context, org OrgID, conversation ConversationID) (t Turn, found bool, err error)
	// TurnStart returns what a turn of conversation c starts from, read
	// together: its newest turn (as LastTurn), its session and its
	// customer. CodeNotFound when the session or the customer is missing.
	TurnStart(ctx context.Context, c Conversation) (TurnStart, error)
	// SaveTurn stores a turn. Number is unique per conversation: a
	// duplicate is a transient conflict.
	SaveTurn(ctx context.Context, t Turn) error
	// GetTurn returns a turn with its trace.
	GetTurn(ctx context.Context, org OrgID, id TurnID) (Turn, error)
	// ListTurns returns the conversation's turns with a Number above
	// after, oldest first, at most limit (0 for all), with their traces.
	ListTurns(ctx context.Context, org OrgID, conversation ConversationID, after int64, limit int) ([]Turn, error)
}

// TurnStart is what a bot turn starts from (TurnTx.TurnStart).
type TurnStart struct {
	// Last is the conversation's newest turn, without its trace, when
	// HasTurns.
	Last     Turn
	HasTurns bool
	Session  Session
	Customer Customer
}

// TurnID identifies a bot turn.
type TurnID string

// Turn records one bot turn of a conversation: the event it handled, its
// outcome, the bot's wait state after it and its trace. A conversation's
// turns are numbered 1, 2, 3...
type Turn struct {
	ID             TurnID
	OrgID          OrgID
	ConversationID ConversationID
	Number         int64
	// Trigger is conversation_started or message_received (also for the
	// answer to a waiting ask).
	Trigger string
	// MessageID is the inbound message the turn handled, "" when none.
	MessageID MessageID
	VersionID VersionID
	// Outcome is idle, completed, waiting, closed or failed.
	Outcome      string
	ErrorCode    string
	ErrorMessage string
	// WaitStep is the ask step the bot waits at after the turn ("" when it
	// does not wait), WaitAttempts the invalid answers it got so far.
	WaitStep     string
	WaitAttempts int
	// Trace is the JSON trace of the turn (bot.Trace).
	Trace     json.RawMessage
	StartedAt time.Time
	Duration  time.Duration
}
