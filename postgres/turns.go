package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parleyhq/parley/domain"
)

const turnHead = `id, org_id, conversation_id, number, trigger_name, message_id, version_id, outcome,
	error_code, error_message, wait_step, wait_attempts, started_at, duration_us`

func scanTurnHead(row scanner, extra ...any) (domain.Turn, error) {
	var t domain.Turn
	var durationUS int64
	err := row.Scan(append([]any{&t.ID, &t.OrgID, &t.ConversationID, &t.Number, &t.Trigger, &t.MessageID, &t.VersionID,
		&t.Outcome, &t.ErrorCode, &t.ErrorMessage, &t.WaitStep, &t.WaitAttempts, &t.StartedAt, &durationUS}, extra...)...)
	t.StartedAt = t.StartedAt.UTC()
	t.Duration = time.Duration(durationUS) * time.Microsecond
	return t, err
}

func scanTurn(row scanner) (domain.Turn, error) {
	var trace []byte
	t, err := scanTurnHead(row, &trace)
	t.Trace = json.RawMessage(trace)
	return t, err
}

// LastTurn returns the conversation's newest turn without its trace.
func (t *tx) LastTurn(ctx context.Context, org domain.OrgID, conv domain.ConversationID) (domain.Turn, bool, error) {
	return find(ctx, t, func(row scanner) (domain.Turn, error) { return scanTurnHead(row) },
		`SELECT `+turnHead+` FROM turns WHERE org_id = $1 AND conversation_id = $2 ORDER BY number DESC LIMIT 1`, org, conv)
}

// TurnStart reads the conversation's newest turn, session and customer in
// one pipeline.
func (t *tx) TurnStart(ctx context.Context, c domain.Conversation) (domain.TurnStart, error) {
	var ts domain.TurnStart
	var hasSession, hasCustomer bool
	err := t.readRows(ctx,
		rowRead{found: &ts.HasTurns, scan: func(row pgx.Row) (err error) { ts.Last, err = scanTurnHead(row); return err },
			sql:  `SELECT ` + turnHead + ` FROM turns WHERE org_id = $1 AND conversation_id = $2 ORDER BY number DESC LIMIT 1`,
			args: []any{c.OrgID, c.ID}},
		rowRead{found: &hasSession, scan: func(row pgx.Row) (err error) { ts.Session, err = scanSession(row); return err },
			sql: `SELECT ` + sessionColumns + ` FROM sessions WHERE org_id = $1 AND id = $2`, args: []any{c.OrgID, c.SessionID}},
		rowRead{found: &hasCustomer, scan: func(row pgx.Row) (err error) { ts.Customer, err = scanCustomer(row); return err },
			sql: `SELECT ` + customerColumns + ` FROM customers WHERE org_id = $1 AND id = $2`, args: []any{c.OrgID, c.CustomerID}},
	)
	switch {
	case err != nil:
		return ts, fmt.Errorf("postgres: turn start: %w", err)
	case !hasSession:
		return ts, domain.NotFound("session", c.SessionID)
	case !hasCustomer:
		return ts, domain.NotFound("customer", c.CustomerID)
	}
	return ts, nil
}

// SaveTurn stores a turn (with the transaction's next statement); a
// duplicate number is a conflict.
func (t *tx) SaveTurn(ctx context.Context, r domain.Turn) error {
	trace := string(r.Trace)
	if trace == "" {
		trace = "null"
	}
	err := t.later(ctx, `INSERT INTO turns (`+turnHead+`, trace)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
		r.ID, r.OrgID, r.ConversationID, r.Number, r.Trigger, r.MessageID, r.VersionID, r.Outcome,
		r.ErrorCode, r.ErrorMessage, r.WaitStep, r.WaitAttempts, r.StartedAt, r.Duration.Microseconds(), trace)
	if err != nil {
		return fmt.Errorf("postgres: save turn: %w", err)
	}
	return nil
}

// GetTurn returns a turn with its trace; CodeNotFound when it is not in org.
func (t *tx) GetTurn(ctx context.Context, org domain.OrgID, id domain.TurnID) (domain.Turn, error) {
	return get(ctx, t, "turn", id, scanTurn,
		`SELECT `+turnHead+`, trace FROM turns WHERE org_id = $1 AND id = $2`, org, id)
}

// ListTurns returns the conversation's turns numbered above after.
func (t *tx) ListTurns(ctx context.Context, org domain.OrgID, conv domain.ConversationID, after int64, limit int) ([]domain.Turn, error) {
	return collect(ctx, t, scanTurn,
		`SELECT `+turnHead+`, trace FROM turns WHERE org_id = $1 AND conversation_id = $2 AND number > $3
		ORDER BY number LIMIT $4`, org, conv, after, limitOrAll(limit))
}
