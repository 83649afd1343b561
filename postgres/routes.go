package postgres

import (
	"context"
	"fmt"

	"github.com/parleyhq/parley/domain"
)

// LockConversation returns the conversation with its row locked FOR NO
// KEY UPDATE until the transaction ends: other lockers (and AppendMessage,
// whose counter update takes the same lock) wait, while inserts of rows
// referencing it (their foreign-key check takes FOR KEY SHARE) do not.
// CodeNotFound when it is not in org.
func (t *tx) LockConversation(ctx context.Context, org domain.OrgID, id domain.ConversationID) (domain.Conversation, error) {
	return get(ctx, t, "conversation", id, scanConversation,
		`SELECT `+conversationColumns+` FROM conversations WHERE org_id = $1 AND id = $2 FOR NO KEY UPDATE`, org, id)
}

// GetMessage returns the message; CodeNotFound when it is not in org.
func (t *tx) GetMessage(ctx context.Context, org domain.OrgID, id domain.MessageID) (domain.Message, error) {
	return get(ctx, t, "message", id, scanMessage,
		`SELECT `+messageColumns+` FROM messages WHERE org_id = $1 AND id = $2`, org, id)
}

// MessageByClientID returns the message with that client id on resource.
func (t *tx) MessageByClientID(ctx context.Context, org domain.OrgID, resource domain.ResourceID, clientID string) (domain.Message, bool, error) {
	return find(ctx, t, scanMessage,
		`SELECT `+messageColumns+` FROM messages WHERE org_id = $1 AND resource_id = $2 AND client_id = $3`,
		org, resource, clientID)
}

// GetRoute returns the conversation of (resource, destination), with the
// route's row locked until the transaction ends.
func (t *tx) GetRoute(ctx context.Context, org domain.OrgID, resource domain.ResourceID, destination string) (domain.ConversationID, bool, error) {
	return find(ctx, t, func(row scanner) (domain.ConversationID, error) {
		var id domain.ConversationID
		return id, row.Scan(&id)
	}, `SELECT conversation_id FROM conversation_routes WHERE org_id = $1 AND resource_id = $2 AND destination = $3
		FOR UPDATE`, org, resource, destination)
}

// SetRoute points (resource, destination) at conversation: an update of
// the existing route, or an insert that a concurrent insert makes a unique
// violation (a transient conflict: the loser runs again and finds the
// winner's route).
func (t *tx) SetRoute(ctx context.Context, org domain.OrgID, resource domain.ResourceID, destination string, conversation domain.ConversationID) error {
	tag, err := t.exec(ctx, `UPDATE conversation_routes SET conversation_id = $4
		WHERE org_id = $1 AND resource_id = $2 AND destination = $3`, org, resource, destination, conversation)
	if err != nil {
		return fmt.Errorf("postgres: set route: %w", err)
	}
	if tag.RowsAffected() > 0 {
		return nil
	}
	_, err = t.exec(ctx, `INSERT INTO conversation_routes (org_id, resource_id, destination, conversation_id)
		VALUES ($1, $2, $3, $4)`, org, resource, destination, conversation)
	if err != nil {
		return fmt.Errorf("postgres: set route: %w", err)
	}
	return nil
}
