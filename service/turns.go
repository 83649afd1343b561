package service

import (
	"context"

	"github.com/parleyhq/parley/domain"
)

// Trigger names what starts a bot turn.
type Trigger string

// The triggers a definition can start a chain on.
const (
	// TriggerConversationStarted runs once, when a conversation starts.
	TriggerConversationStarted Trigger = "conversation_started"
	// TriggerMessageReceived runs on an inbound message while the bot is
	// not waiting for an answer.
	TriggerMessageReceived Trigger = "message_received"
)

// turnEvent is one event a conversation's bot handles.
type turnEvent struct {
	Trigger Trigger
	// Message is the inbound message of the turn: the customer's message
	// for message_received (or the answer a waiting ask receives), the
	// message that started the conversation for conversation_started, nil
	// for a conversation started through the API.
	Message *domain.Message
}

// turnOutcome is what a turn did.
type turnOutcome struct {
	// Conversation is the conversation after the turn (a close step closes
	// it).
	Conversation domain.Conversation
	// Replies are the messages the bot sent, in order.
	Replies []domain.Message
}

// runTurn runs conv's bot for ev inside tx, which holds conv's lock (or
// created conv), and returns what it did. It is called for every
// conversation start and every inbound message.
//
// The bot runtime (issue #7) gives it its body; until then a conversation
// has no bot and a turn does nothing.
func (s *Service) runTurn(ctx context.Context, tx domain.Tx, conv domain.Conversation, ev turnEvent) (turnOutcome, error) {
	return turnOutcome{Conversation: conv}, nil
}
