package service

import (
	"context"
	"time"

	"github.com/parleyhq/parley/domain"
)

// Transcript returns a conversation with its messages, as the
// conversation_transcript data operation outputs it.
// Errors: conversation_not_found.
func (s *Service) Transcript(ctx context.Context, org domain.OrgID, id domain.ConversationID) (t map[string]any, err error) {
	err = s.view(ctx, func(tx domain.Tx) error {
		c, err := getConversation(ctx, tx, org, id)
		if err != nil {
			return err
		}
		t, err = transcript(ctx, tx, c)
		return err
	})
	return t, err
}

// transcript builds the transcript object: plain JSON values, so it can be
// stored in a session variable as is.
func transcript(ctx context.Context, tx domain.Tx, c domain.Conversation) (map[string]any, error) {
	customer, err := tx.GetCustomer(ctx, c.OrgID, c.CustomerID)
	if err != nil {
		return nil, err
	}
	msgs, err := tx.ListMessages(ctx, c.OrgID, c.ID, 0, 0)
	if err != nil {
		return nil, err
	}
	messages := make([]any, len(msgs))
	for i, m := range msgs {
		messages[i] = map[string]any{
			"id": string(m.ID), "seq": m.Seq, "direction": string(m.Direction), "author": string(m.Author),
			"text": m.Text, "createdAt": formatTime(m.CreatedAt),
		}
	}
	var closedAt any
	if c.ClosedAt != nil {
		closedAt = formatTime(*c.ClosedAt)
	}
	return map[string]any{
		"id": string(c.ID), "status": string(c.Status),
		"customerId": string(c.CustomerID), "customerIdentifier": nullIfEmpty(customer.Identifier),
		"identifierAtStart": nullIfEmpty(c.IdentifierAtStart), "resourceId": string(c.ResourceID),
		"customerDestination": c.CustomerDestination, "externalId": nullIfEmpty(c.ExternalID),
		"startedAt": formatTime(c.StartedAt), "closedAt": closedAt, "messages": messages,
	}, nil
}

// formatTime writes times as the API does: UTC with six fractional digits.
func formatTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z07:00") }

// nullIfEmpty makes an empty optional text null, as the API does.
func nullIfEmpty(v string) any {
	if v == "" {
		return nil
	}
	return v
}
