package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/parleyhq/parley/domain"
)

const conversationColumns = `id, org_id, COALESCE(deployment_id, ''), COALESCE(preview_version_id, ''), app_id,
	resource_id, customer_id, session_id, status, customer_destination, COALESCE(external_id, ''), identifier_at_start,
	started_at, closed_at`

func scanConversation(row scanner) (domain.Conversation, error) {
	var c domain.Conversation
	err := row.Scan(&c.ID, &c.OrgID, &c.DeploymentID, &c.PreviewVersionID, &c.AppID,
		&c.ResourceID, &c.CustomerID, &c.SessionID, &c.Status, &c.CustomerDestination, &c.ExternalID,
		&c.IdentifierAtStart, &c.StartedAt, &c.ClosedAt)
	c.StartedAt = c.StartedAt.UTC()
	c.ClosedAt = utcOrNil(c.ClosedAt)
	return c, err
}

// CreateConversation stores c.
func (t *tx) CreateConversation(ctx context.Context, c domain.Conversation) error {
	_, err := t.exec(ctx, `INSERT INTO conversations (id, org_id, deployment_id, preview_version_id, app_id,
		resource_id, customer_id, session_id, status, customer_destination, external_id, identifier_at_start,
		started_at, closed_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
		c.ID, c.OrgID, nullIfEmpty(c.DeploymentID), nullIfEmpty(c.PreviewVersionID), c.AppID,
		c.ResourceID, c.CustomerID, c.SessionID, c.Status, c.CustomerDestination, nullIfEmpty(c.ExternalID),
		c.IdentifierAtStart, c.StartedAt, c.ClosedAt)
	if err != nil {
		return fmt.Errorf("postgres: create conversation: %w", err)
	}
	return nil
}

// GetConversation returns the conversation; CodeNotFound when it does not
// exist in org.
func (t *tx) GetConversation(ctx context.Context, org domain.OrgID, id domain.ConversationID) (domain.Conversation, error) {
	return get(ctx, t, "conversation", id, scanConversation,
		`SELECT `+conversationColumns+` FROM conversations WHERE org_id = $1 AND id = $2`, org, id)
}

// CloseConversation sets the conversation closed at at; closing again keeps
// the first time. CodeNotFound when it does not exist in org.
func (t *tx) CloseConversation(ctx context.Context, org domain.OrgID, id domain.ConversationID, at time.Time) error {
	return t.execOne(ctx, "conversation", id,
		`UPDATE conversations SET status = $3, closed_at = COALESCE(closed_at, $4) WHERE org_id = $1 AND id = $2`,
		org, id, domain.StatusClosed, at)
}

// CustomerConversationIDs returns the customer's conversation ids, newest
// first.
func (t *tx) CustomerConversationIDs(ctx context.Context, org domain.OrgID, customer domain.CustomerID) ([]domain.ConversationID, error) {
	return collect(ctx, t, func(row scanner) (id domain.ConversationID, err error) {
		err = row.Scan(&id)
		return id, err
	}, `SELECT id FROM conversations WHERE org_id = $1 AND customer_id = $2
		ORDER BY started_at DESC, id DESC`, org, customer)
}

// HeldConversationIDs returns the conversation ids of identifier's holder
// now (at nil) or at *at, newest first, in one statement (one round trip,
// sent with the transaction's BEGIN and waiting statements): the interval
// (the latest when open, or the one covering *at) joined to its
// customer's conversations.
func (t *tx) HeldConversationIDs(ctx context.Context, org domain.OrgID, identifier string, at *time.Time) ([]domain.ConversationID, error) {
	holder, args := `SELECT customer_id, valid_to FROM identifier_intervals
			WHERE org_id = $1 AND identifier = $2 ORDER BY valid_from DESC, id DESC LIMIT 1`, []any{org, identifier}
	current := "holder.valid_to IS NULL"
	if at != nil {
		holder = `SELECT customer_id, valid_to FROM identifier_intervals
			WHERE org_id = $1 AND identifier = $2 AND valid_from <= $3 AND (valid_to IS NULL OR valid_to > $3)
			ORDER BY valid_from DESC, id DESC LIMIT 1`
		args, current = append(args, *at), "true"
	}
	return collect(ctx, t, func(row scanner) (id domain.ConversationID, err error) {
		err = row.Scan(&id)
		return id, err
	}, `SELECT c.id FROM (`+holder+`) AS holder
		JOIN conversations c ON c.org_id = $1 AND c.customer_id = holder.customer_id
		WHERE `+current+`
		ORDER BY c.started_at DESC, c.id DESC`, args...)
}

// ListConversations returns the org's conversations matching f, newest
// first; CodeInvalidArgument when f.Limit is not positive.
func (t *tx) ListConversations(ctx context.Context, org domain.OrgID, f domain.ConversationFilter) ([]domain.Conversation, error) {
	if f.Limit <= 0 {
		return nil, domain.Errorf(domain.CodeInvalidArgument, "limit must be positive")
	}
	where := []string{"org_id = $1"}
	args := []any{org}
	// add appends a condition whose ? placeholders take values in order.
	add := func(condition string, values ...any) {
		for _, value := range values {
			args = append(args, value)
			condition = strings.Replace(condition, "?", fmt.Sprintf("$%d", len(args)), 1)
		}
		where = append(where, condition)
	}
	if f.Status != "" {
		add("status = ?", f.Status)
	}
	if f.CustomerID != "" {
		add("customer_id = ?", f.CustomerID)
	}
	if f.DeploymentID != "" {
		add("deployment_id = ?", f.DeploymentID)
	}
	if f.ResourceID != "" {
		add("resource_id = ?", f.ResourceID)
	}
	if f.ExternalID != "" {
		add("external_id = ?", f.ExternalID)
	}
	if !f.BeforeStartedAt.IsZero() {
		add("(started_at, id) < (?, ?)", f.BeforeStartedAt, f.BeforeID)
	}
	args = append(args, f.Limit)
	sql := `SELECT ` + conversationColumns + ` FROM conversations WHERE ` + strings.Join(where, " AND ") +
		fmt.Sprintf(` ORDER BY started_at DESC, id DESC LIMIT $%d`, len(args))
	return collect(ctx, t, scanConversation, sql, args...)
}

const sessionColumns = `id, org_id, conversation_id, variables, updated_at`

func scanSession(row scanner) (domain.Session, error) {
	var s domain.Session
	var variables []byte
	if err := row.Scan(&s.ID, &s.OrgID, &s.ConversationID, &variables, &s.UpdatedAt); err != nil {
		return s, err
	}
	s.UpdatedAt = s.UpdatedAt.UTC()
	return s, decodeJSON(variables, &s.Variables)
}

// CreateSession stores s.
func (t *tx) CreateSession(ctx context.Context, s domain.Session) error {
	variables, err := encodeJSON(s.Variables)
	if err != nil {
		return err
	}
	_, err = t.exec(ctx, `INSERT INTO sessions (`+sessionColumns+`) VALUES ($1, $2, $3, $4, $5)`,
		s.ID, s.OrgID, s.ConversationID, variables, s.UpdatedAt)
	if err != nil {
		return fmt.Errorf("postgres: create session: %w", err)
	}
	return nil
}

// GetSession returns the session; CodeNotFound when it does not exist in
// org.
func (t *tx) GetSession(ctx context.Context, org domain.OrgID, id domain.SessionID) (domain.Session, error) {
	return get(ctx, t, "session", id, scanSession,
		`SELECT `+sessionColumns+` FROM sessions WHERE org_id = $1 AND id = $2`, org, id)
}

// SetSessionVariables replaces the session's variables; CodeNotFound when
// the session does not exist in org, CodeInvalidArgument when vars cannot
// be encoded.
func (t *tx) SetSessionVariables(ctx context.Context, org domain.OrgID, id domain.SessionID, vars map[string]any, at time.Time) error {
	variables, err := encodeJSON(vars)
	if err != nil {
		return err
	}
	return t.execOne(ctx, "session", id,
		`UPDATE sessions SET variables = $3, updated_at = $4 WHERE org_id = $1 AND id = $2`, org, id, variables, at)
}

const messageColumns = `id, org_id, conversation_id, resource_id, conversation_seq, direction, author, text,
	client_id, created_at`

func scanMessage(row scanner) (domain.Message, error) {
	var m domain.Message
	var client *string
	err := row.Scan(&m.ID, &m.OrgID, &m.ConversationID, &m.ResourceID, &m.Seq, &m.Direction, &m.Author, &m.Text,
		&client, &m.CreatedAt)
	if client != nil {
		m.ClientID = *client
	}
	m.CreatedAt = m.CreatedAt.UTC()
	return m, err
}

// AppendMessage stores m as the conversation's next message. It takes the
// next number from the conversation row, whose row lock it holds until
// commit: the messages of one conversation commit in Seq order, so an
// "after" cursor never skips a message that commits late. A duplicate id
// or ClientID is a transient conflict; CodeNotFound when the conversation
// is not in org.
func (t *tx) AppendMessage(ctx context.Context, m domain.Message) (domain.Message, error) {
	seq, found, err := find(ctx, t, scanSeq, appendMessageSQL,
		m.ID, m.OrgID, m.ConversationID, m.ResourceID, m.Direction, m.Author, m.Text, nullIfEmpty(m.ClientID), m.CreatedAt)
	if err != nil {
		return m, fmt.Errorf("postgres: append message: %w", err)
	}
	if !found {
		return m, domain.NotFound("conversation", m.ConversationID)
	}
	m.Seq = seq
	return m, nil
}

// appendMessageSQL takes the conversation's next number and inserts the
// message with it, in one statement; no row when the conversation is
// missing. Parameters: the message's columns but its number.
const appendMessageSQL = `WITH next AS (
		UPDATE conversations SET last_seq = last_seq + 1 WHERE org_id = $2 AND id = $3 RETURNING last_seq)
	INSERT INTO messages (` + messageColumns + `)
	SELECT $1::text, $2::text, $3::text, $4::text, next.last_seq, $5::text, $6::text, $7::text, $8::text, $9::timestamptz FROM next
	RETURNING conversation_seq`

// ListMessages returns the conversation's messages with Seq > afterSeq,
// oldest first, at most limit (0 for all).
func (t *tx) ListMessages(ctx context.Context, org domain.OrgID, conversation domain.ConversationID, afterSeq int64, limit int) ([]domain.Message, error) {
	return collect(ctx, t, scanMessage,
		`SELECT `+messageColumns+` FROM messages WHERE org_id = $1 AND conversation_id = $2 AND conversation_seq > $3
		 ORDER BY conversation_seq LIMIT $4`, org, conversation, afterSeq, limitOrAll(limit))
}

func scanSeq(row scanner) (seq int64, err error) {
	err = row.Scan(&seq)
	return seq, err
}

// limitOrAll maps a non-positive limit to SQL NULL (LIMIT ALL).
func limitOrAll(limit int) any {
	if limit <= 0 {
		return nil
	}
	return limit
}
