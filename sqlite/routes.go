package sqlite

import (
	"context"

	"github.com/parleyhq/parley/domain"
)

// LockConversation returns the conversation. The single writer connection
// already runs one write transaction at a time, so no lock is needed.
func (t *tx) LockConversation(ctx context.Context, org domain.OrgID, id domain.ConversationID) (domain.Conversation, error) {
	return t.GetConversation(ctx, org, id)
}

// GetMessage returns the message; CodeNotFound when it is not in org.
func (t *tx) GetMessage(ctx context.Context, org domain.OrgID, id domain.MessageID) (domain.Message, error) {
	return get(ctx, t, "message", id, scanMessage,
		`SELECT `+messageColumns+` FROM messages WHERE org_id = ? AND id = ?`, org, id)
}

// MessageByClientID returns the message with that client id on resource.
func (t *tx) MessageByClientID(ctx context.Context, org domain.OrgID, resource domain.ResourceID, clientID string) (domain.Message, bool, error) {
	m, found, err := lookup(ctx, t, scanMessage,
		`SELECT `+messageColumns+` FROM messages WHERE org_id = ? AND resource_id = ? AND client_id = ?`,
		org, resource, clientID)
	if err != nil {
		return m, false, wrap("message by client id", err)
	}
	return m, found, nil
}

// GetRoute returns the conversation of (resource, destination).
func (t *tx) GetRoute(ctx context.Context, org domain.OrgID, resource domain.ResourceID, destination string) (domain.ConversationID, bool, error) {
	id, found, err := lookup(ctx, t, func(s scanner) (domain.ConversationID, error) {
		var id domain.ConversationID
		return id, s.Scan(&id)
	}, `SELECT conversation_id FROM conversation_routes WHERE org_id = ? AND resource_id = ? AND destination = ?`,
		org, resource, destination)
	if err != nil {
		return id, false, wrap("get route", err)
	}
	return id, found, nil
}

// SetRoute points (resource, destination) at conversation: an update of
// the existing route, or an insert that conflicts with a concurrent one.
func (t *tx) SetRoute(ctx context.Context, org domain.OrgID, resource domain.ResourceID, destination string, conversation domain.ConversationID) error {
	res, err := t.exec(ctx, `UPDATE conversation_routes SET conversation_id = ?
		WHERE org_id = ? AND resource_id = ? AND destination = ?`, conversation, org, resource, destination)
	if err != nil {
		return wrap("set route", err)
	}
	if n, err := res.RowsAffected(); err != nil || n > 0 {
		return err
	}
	return t.insert(ctx, "set route", `INSERT INTO conversation_routes (org_id, resource_id, destination, conversation_id)
		VALUES (?, ?, ?, ?)`, org, resource, destination, conversation)
}
