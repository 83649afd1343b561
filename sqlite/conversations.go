package sqlite

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/parleyhq/parley/domain"
)

const conversationColumns = `id, org_id, deployment_id, preview_version_id, app_id, resource_id, customer_id,
	session_id, status, customer_destination, external_id, identifier_at_start, started_at, closed_at`

func scanConversation(s scanner) (domain.Conversation, error) {
	var c domain.Conversation
	var deployment, preview, external sql.NullString
	var started int64
	var closed sql.NullInt64
	err := s.Scan(&c.ID, &c.OrgID, &deployment, &preview, &c.AppID, &c.ResourceID, &c.CustomerID,
		&c.SessionID, &c.Status, &c.CustomerDestination, &external, &c.IdentifierAtStart, &started, &closed)
	c.DeploymentID = domain.DeploymentID(deployment.String)
	c.PreviewVersionID = domain.VersionID(preview.String)
	c.ExternalID = external.String
	c.StartedAt = fromMicros(started)
	c.ClosedAt = optMicros(closed)
	return c, err
}

// CreateConversation stores c; a duplicate id is a conflict. Empty
// DeploymentID, PreviewVersionID and ExternalID are stored as NULL.
func (t *tx) CreateConversation(ctx context.Context, c domain.Conversation) error {
	return t.insert(ctx, "create conversation",
		`INSERT INTO conversations (`+conversationColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.OrgID, nullString(c.DeploymentID), nullString(c.PreviewVersionID), c.AppID, c.ResourceID,
		c.CustomerID, c.SessionID, c.Status, c.CustomerDestination, nullString(c.ExternalID),
		c.IdentifierAtStart, micros(c.StartedAt), nullMicros(c.ClosedAt))
}

// GetConversation returns the conversation; CodeNotFound when it is not in
// org.
func (t *tx) GetConversation(ctx context.Context, org domain.OrgID, id domain.ConversationID) (domain.Conversation, error) {
	return get(ctx, t, "conversation", id, scanConversation,
		`SELECT `+conversationColumns+` FROM conversations WHERE org_id = ? AND id = ?`, org, id)
}

// CloseConversation sets the status to closed at at; closing again keeps
// the first time. CodeNotFound when it is not in org.
func (t *tx) CloseConversation(ctx context.Context, org domain.OrgID, id domain.ConversationID, at time.Time) error {
	return t.update(ctx, "conversation", id,
		`UPDATE conversations SET status = ?, closed_at = coalesce(closed_at, ?) WHERE org_id = ? AND id = ?`,
		domain.StatusClosed, micros(at), org, id)
}

// CustomerConversationIDs returns the customer's conversation ids, newest
// first, from the conversations_customer index alone.
func (t *tx) CustomerConversationIDs(ctx context.Context, org domain.OrgID, customer domain.CustomerID) ([]domain.ConversationID, error) {
	return list(ctx, t, "customer conversations", func(s scanner) (domain.ConversationID, error) {
		var id domain.ConversationID
		return id, s.Scan(&id)
	}, `SELECT id FROM conversations WHERE org_id = ? AND customer_id = ?
	ORDER BY started_at DESC, id DESC`, org, customer)
}

// HeldConversationIDs returns the conversation ids of identifier's holder
// now (at nil) or at *at, newest first: the interval, then the holder's
// conversations (two indexed reads in the transaction's snapshot).
func (t *tx) HeldConversationIDs(ctx context.Context, org domain.OrgID, identifier string, at *time.Time) ([]domain.ConversationID, error) {
	var (
		iv    domain.IdentifierInterval
		found bool
		err   error
	)
	if at == nil {
		iv, found, err = t.LatestInterval(ctx, org, identifier)
		found = found && iv.ValidTo == nil
	} else {
		iv, found, err = t.IntervalAt(ctx, org, identifier, *at)
	}
	if err != nil || !found {
		return nil, err
	}
	return t.CustomerConversationIDs(ctx, org, iv.CustomerID)
}

// ListConversations returns the org's conversations matching f, newest
// first; CodeInvalidArgument when f.Limit is not positive. The statement
// names only the filters that are set, so SQLite picks the index of the
// most selective one and walks it in order.
func (t *tx) ListConversations(ctx context.Context, org domain.OrgID, f domain.ConversationFilter) ([]domain.Conversation, error) {
	if f.Limit <= 0 {
		return nil, domain.Errorf(domain.CodeInvalidArgument, "limit must be positive")
	}
	var q strings.Builder
	q.WriteString(`SELECT ` + conversationColumns + ` FROM conversations WHERE org_id = ?`)
	args := []any{org}
	filter := func(set bool, clause string, values ...any) {
		if set {
			q.WriteString(clause)
			args = append(args, values...)
		}
	}
	filter(f.CustomerID != "", ` AND customer_id = ?`, f.CustomerID)
	filter(f.DeploymentID != "", ` AND deployment_id = ?`, f.DeploymentID)
	filter(f.ResourceID != "", ` AND resource_id = ?`, f.ResourceID)
	filter(f.ExternalID != "", ` AND external_id = ?`, f.ExternalID)
	filter(f.Status != "", ` AND status = ?`, f.Status)
	filter(!f.BeforeStartedAt.IsZero(), ` AND (started_at, id) < (?, ?)`, micros(f.BeforeStartedAt), f.BeforeID)
	q.WriteString(` ORDER BY started_at DESC, id DESC LIMIT ?`)
	args = append(args, f.Limit)
	return list(ctx, t, "list conversations", scanConversation, q.String(), args...)
}

const sessionColumns = `id, org_id, conversation_id, variables, updated_at`

func scanSession(s scanner) (domain.Session, error) {
	var ses domain.Session
	var variables string
	var updated int64
	if err := s.Scan(&ses.ID, &ses.OrgID, &ses.ConversationID, &variables, &updated); err != nil {
		return ses, err
	}
	ses.UpdatedAt = fromMicros(updated)
	return ses, decodeJSON(variables, &ses.Variables)
}

// CreateSession stores s; a duplicate id is a conflict.
func (t *tx) CreateSession(ctx context.Context, s domain.Session) error {
	variables, err := encodeJSON(s.Variables)
	if err != nil {
		return err
	}
	return t.insert(ctx, "create session",
		`INSERT INTO sessions (`+sessionColumns+`) VALUES (?, ?, ?, ?, ?)`,
		s.ID, s.OrgID, s.ConversationID, variables, micros(s.UpdatedAt))
}

// GetSession returns the session; CodeNotFound when it is not in org.
func (t *tx) GetSession(ctx context.Context, org domain.OrgID, id domain.SessionID) (domain.Session, error) {
	return get(ctx, t, "session", id, scanSession,
		`SELECT `+sessionColumns+` FROM sessions WHERE org_id = ? AND id = ?`, org, id)
}

// SetSessionVariables replaces the variable document; CodeNotFound when the
// session is not in org, CodeInvalidArgument when vars cannot be encoded.
func (t *tx) SetSessionVariables(ctx context.Context, org domain.OrgID, id domain.SessionID, vars map[string]any, at time.Time) error {
	variables, err := encodeJSON(vars)
	if err != nil {
		return err
	}
	return t.update(ctx, "session", id,
		`UPDATE sessions SET variables = ?, updated_at = ? WHERE org_id = ? AND id = ?`,
		variables, micros(at), org, id)
}

const messageColumns = `id, org_id, conversation_id, resource_id, conversation_seq, direction, author, text,
	client_id, created_at`

func scanMessage(s scanner) (domain.Message, error) {
	var m domain.Message
	var client sql.NullString
	var created int64
	err := s.Scan(&m.ID, &m.OrgID, &m.ConversationID, &m.ResourceID, &m.Seq, &m.Direction, &m.Author, &m.Text,
		&client, &created)
	m.ClientID = client.String
	m.CreatedAt = fromMicros(created)
	return m, err
}

// AppendMessage stores m as the conversation's next message: it takes the
// next number from the conversation row in the same transaction. A
// duplicate id or ClientID is a conflict; CodeNotFound when the
// conversation is not in org.
func (t *tx) AppendMessage(ctx context.Context, m domain.Message) (domain.Message, error) {
	seq, found, err := lookup(ctx, t, scanInt64,
		`UPDATE conversations SET last_seq = last_seq + 1 WHERE org_id = ? AND id = ? RETURNING last_seq`,
		m.OrgID, m.ConversationID)
	if err != nil {
		return m, wrap("append message", err)
	}
	if !found {
		return m, domain.NotFound("conversation", m.ConversationID)
	}
	m.Seq = seq
	return m, t.insert(ctx, "append message",
		`INSERT INTO messages (`+messageColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		m.ID, m.OrgID, m.ConversationID, m.ResourceID, m.Seq, m.Direction, m.Author, m.Text,
		nullString(m.ClientID), micros(m.CreatedAt))
}

func scanInt64(s scanner) (v int64, err error) {
	err = s.Scan(&v)
	return v, err
}

// ListMessages returns the conversation's messages with Seq > afterSeq, in
// order, at most limit (0 for all).
func (t *tx) ListMessages(ctx context.Context, org domain.OrgID, conversation domain.ConversationID, afterSeq int64, limit int) ([]domain.Message, error) {
	return list(ctx, t, "list messages", scanMessage,
		`SELECT `+messageColumns+` FROM messages WHERE org_id = ? AND conversation_id = ? AND conversation_seq > ?
		ORDER BY conversation_seq LIMIT ?`, org, conversation, afterSeq, limitArg(limit))
}
