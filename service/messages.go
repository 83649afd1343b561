package service

import (
	"context"
	"strconv"
	"strings"

	"github.com/parleyhq/parley/domain"
)

// maxClientIDLen bounds a message's client id.
const maxClientIDLen = 200

// AddMessage writes a message into a live conversation. An inbound message
// is the customer's: it runs the conversation's bot (ReceiveInConversation);
// an outbound one is an operator's and runs nothing.
// Errors: invalid_argument, conversation_not_found, conversation_closed,
// conflict (clientId used in another conversation).
func (s *Service) AddMessage(ctx context.Context, org domain.OrgID, id domain.ConversationID, dir domain.Direction, text, clientID string) (Received, error) {
	switch dir {
	case domain.Inbound:
		return s.ReceiveInConversation(ctx, org, id, text, clientID)
	case domain.Outbound:
		if clientID != "" {
			return Received{}, invalidf("clientId is only for inbound messages")
		}
		return s.operatorMessage(ctx, org, id, text)
	}
	return Received{}, invalidf("direction must be inbound or outbound")
}

// operatorMessage writes an operator's outbound message.
func (s *Service) operatorMessage(ctx context.Context, org domain.OrgID, id domain.ConversationID, text string) (rec Received, err error) {
	if err := checkMessage(text); err != nil {
		return rec, err
	}
	err = s.update(ctx, org, func(tx domain.Tx) error {
		c, err := lockConversation(ctx, tx, org, id)
		if err != nil {
			return err
		}
		m, err := s.appendMessage(ctx, tx, c, domain.AuthorOperator, text, "")
		if err != nil {
			return err
		}
		rec = Received{Conversation: c, Message: m}
		return s.answer(ctx, tx, rec)
	})
	return rec, err
}

func checkMessage(text string) error {
	if text == "" {
		return invalidf("message text is required")
	}
	return checkText("message", text, maxMessageLen, true)
}

func checkClientID(clientID string) error {
	if clientID == "" {
		return nil
	}
	if strings.TrimSpace(clientID) == "" {
		return invalidf("clientId is blank")
	}
	return checkText("clientId", clientID, maxClientIDLen, false)
}

// appendMessage is the one place where a message is written: it stores
// the conversation's next message (inbound when the author is the
// customer, outbound otherwise) and its message.received or message.sent
// event. c must be locked (lockConversation) by the caller's transaction.
// Errors: conversation_closed.
func (s *Service) appendMessage(ctx context.Context, tx domain.Tx, c domain.Conversation, author domain.Author, text, clientID string) (domain.Message, error) {
	if c.Status == domain.StatusClosed {
		return domain.Message{}, closedError(c.ID)
	}
	dir, eventType := domain.Outbound, domain.EventMessageSent
	if author == domain.AuthorCustomer {
		dir, eventType = domain.Inbound, domain.EventMessageReceived
	}
	m, err := tx.AppendMessage(ctx, domain.Message{
		ID: domain.MessageID(s.ids.NewID("msg")), OrgID: c.OrgID, ConversationID: c.ID, ResourceID: c.ResourceID,
		Direction: dir, Author: author, Text: text, ClientID: clientID, CreatedAt: s.now(),
	})
	if err != nil {
		return m, err
	}
	err = tx.AppendEvent(ctx, domain.Event{
		OrgID: c.OrgID, Type: eventType, Subject: string(c.ID), CreatedAt: m.CreatedAt,
		Payload: map[string]any{
			"conversationId": string(c.ID), "customerId": string(c.CustomerID), "messageId": string(m.ID),
			"seq": m.Seq, "direction": string(dir), "author": string(author), "text": text,
			"clientId": nullIfEmpty(clientID),
		},
	})
	if err != nil {
		return m, err
	}
	return m, s.messageWritten(ctx, tx, c, m)
}

func closedError(id domain.ConversationID) *domain.Error {
	return domain.Errorf(domain.CodeConversationClosed, "conversation %s is closed", id).WithDetail("conversationId", string(id))
}

// lockConversation locks a conversation for the transaction (one writer at
// a time per conversation); a missing one is conversation_not_found.
func lockConversation(ctx context.Context, tx domain.Tx, org domain.OrgID, id domain.ConversationID) (domain.Conversation, error) {
	c, err := tx.LockConversation(ctx, org, id)
	if domain.IsNotFound(err) {
		return c, conversationNotFound(id)
	}
	return c, err
}

// ListMessages returns a conversation's messages with a sequence number
// above afterSeq, oldest first, at most limit.
// Errors: conversation_not_found, invalid_argument (limit, afterSeq).
func (s *Service) ListMessages(ctx context.Context, org domain.OrgID, id domain.ConversationID, afterSeq int64, limit int) (ms []domain.Message, err error) {
	if limit <= 0 || limit > MaxPageSize {
		return nil, invalidf("limit must be between 1 and %d", MaxPageSize)
	}
	if afterSeq < 0 {
		return nil, invalidf("after must be a sequence number (0 or more)")
	}
	err = s.view(ctx, func(tx domain.Tx) error {
		if _, err := getConversation(ctx, tx, org, id); err != nil {
			return err
		}
		ms, err = tx.ListMessages(ctx, org, id, afterSeq, limit)
		return err
	})
	return ms, err
}

// MessageCursor turns the "after" cursor of a message listing into a
// sequence number: a number is one; a message id (the cursor of earlier
// versions) is that message's number. Errors: conversation_not_found,
// invalid_argument (a message id that is not a message of the
// conversation).
func (s *Service) MessageCursor(ctx context.Context, org domain.OrgID, id domain.ConversationID, after string) (int64, error) {
	if after == "" {
		return 0, nil
	}
	if n, err := strconv.ParseInt(after, 10, 64); err == nil {
		if n < 0 {
			return 0, invalidf("after must be a sequence number (0 or more)")
		}
		return n, nil
	}
	var seq int64
	err := s.view(ctx, func(tx domain.Tx) error {
		if _, err := getConversation(ctx, tx, org, id); err != nil {
			return err
		}
		m, err := tx.GetMessage(ctx, org, domain.MessageID(after))
		if domain.IsNotFound(err) || (err == nil && m.ConversationID != id) {
			return invalidf("cursor does not name a message of this conversation")
		}
		seq = m.Seq
		return err
	})
	return seq, err
}
