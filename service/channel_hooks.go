package service

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/parleyhq/parley/domain"
)

// messageWritten is the channels' part of writing a message, in the same
// transaction: an outbound message of an SMS conversation is queued for
// sending, and every message is announced on domain.TopicMessages so that
// the process holding the conversation's web chat socket delivers it.
func (s *Service) messageWritten(ctx context.Context, tx domain.Tx, c domain.Conversation, m domain.Message) error {
	if m.Direction == domain.Outbound {
		// A resource's kind never changes: only SMS needs the resource.
		kind, err := s.bots.resourceKind(ctx, tx, c.OrgID, c.ResourceID)
		if err != nil {
			return err
		}
		if kind == domain.ResourceSMS {
			if err := s.queueSMS(ctx, tx, c, m); err != nil {
				return err
			}
		}
	}
	return tx.Notify(ctx, domain.TopicMessages, FormatMessageNote(c.OrgID, c.ID, m.Seq))
}

// FormatMessageNote is the payload of a domain.TopicMessages
// notification: "a message was written in conversation C at seq N".
func FormatMessageNote(org domain.OrgID, conv domain.ConversationID, seq int64) string {
	return fmt.Sprintf("%s %s %d", org, conv, seq)
}

// ParseMessageNote reads a FormatMessageNote payload.
func ParseMessageNote(payload string) (org domain.OrgID, conv domain.ConversationID, seq int64, ok bool) {
	parts := strings.Fields(payload)
	if len(parts) != 3 {
		return "", "", 0, false
	}
	seq, err := strconv.ParseInt(parts[2], 10, 64)
	return domain.OrgID(parts[0]), domain.ConversationID(parts[1]), seq, err == nil
}
