package domain

import "context"

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
}
