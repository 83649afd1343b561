package service

import (
	"context"

	"github.com/parleyhq/parley/domain"
)

// AddMessage appends a message to a live conversation.
// Errors: invalid_argument, conversation_not_found, conversation_closed.
func (s *Service) AddMessage(ctx context.Context, org domain.OrgID, id domain.ConversationID, dir domain.Direction, text string) (m domain.Message, err error) {
	if dir != domain.Inbound && dir != domain.Outbound {
		return m, invalidf("direction must be inbound or outbound")
	}
	if err := checkMessage(text); err != nil {
		return m, err
	}
	err = s.update(ctx, org, func(tx domain.Tx) error {
		c, err := getConversation(ctx, tx, org, id)
		if err != nil {
			return err
		}
		m, err = s.appendMessage(ctx, tx, c, dir, text)
		return err
	})
	return m, err
}

func checkMessage(text string) error {
	if text == "" {
		return invalidf("message text is required")
	}
	return checkText("message", text, maxMessageLen, true)
}

// appendMessage adds a message to c. Errors: conversation_closed.
func (s *Service) appendMessage(ctx context.Context, tx domain.Tx, c domain.Conversation, dir domain.Direction, text string) (domain.Message, error) {
	if c.Status == domain.StatusClosed {
		return domain.Message{}, closedError(c.ID)
	}
	m := domain.Message{
		ID: domain.MessageID(s.ids.NewID("msg")), OrgID: c.OrgID, ConversationID: c.ID,
		Direction: dir, Text: text, CreatedAt: s.now(),
	}
	if err := tx.AppendMessage(ctx, m); err != nil {
		return m, err
	}
	return m, tx.AppendEvent(ctx, domain.Event{
		OrgID: c.OrgID, Type: domain.EventMessageAdded, Subject: string(c.ID), CreatedAt: m.CreatedAt,
		Payload: map[string]any{"messageId": string(m.ID), "direction": string(dir)},
	})
}

func closedError(id domain.ConversationID) *domain.Error {
	return domain.Errorf(domain.CodeConversationClosed, "conversation %s is closed", id).WithDetail("conversationId", string(id))
}

// ListMessages returns messages oldest first, after a message id.
// Errors: conversation_not_found, invalid_argument (limit).
func (s *Service) ListMessages(ctx context.Context, org domain.OrgID, id domain.ConversationID, after domain.MessageID, limit int) (ms []domain.Message, err error) {
	if limit <= 0 || limit > MaxPageSize {
		return nil, invalidf("limit must be between 1 and %d", MaxPageSize)
	}
	err = s.view(ctx, func(tx domain.Tx) error {
		if _, err := getConversation(ctx, tx, org, id); err != nil {
			return err
		}
		ms, err = tx.ListMessages(ctx, org, id, after, limit)
		return err
	})
	return ms, err
}
