package sqlite

import (
	"context"
	"encoding/json"
	"time"

	"github.com/parleyhq/parley/domain"
)

const turnHead = `id, org_id, conversation_id, number, trigger_name, message_id, version_id, outcome,
	error_code, error_message, wait_step, wait_attempts, started_at, duration_us`

func scanTurnHead(s scanner, extra ...any) (domain.Turn, error) {
	var t domain.Turn
	var started, durationUS int64
	err := s.Scan(append([]any{&t.ID, &t.OrgID, &t.ConversationID, &t.Number, &t.Trigger, &t.MessageID, &t.VersionID,
		&t.Outcome, &t.ErrorCode, &t.ErrorMessage, &t.WaitStep, &t.WaitAttempts, &started, &durationUS}, extra...)...)
	t.StartedAt = fromMicros(started)
	t.Duration = time.Duration(durationUS) * time.Microsecond
	return t, err
}

func scanTurn(s scanner) (domain.Turn, error) {
	var trace string
	t, err := scanTurnHead(s, &trace)
	t.Trace = json.RawMessage(trace)
	return t, err
}

// LastTurn returns the conversation's newest turn without its trace.
func (t *tx) LastTurn(ctx context.Context, org domain.OrgID, conv domain.ConversationID) (domain.Turn, bool, error) {
	turn, found, err := lookup(ctx, t, func(s scanner) (domain.Turn, error) { return scanTurnHead(s) },
		`SELECT `+turnHead+` FROM turns WHERE org_id = ? AND conversation_id = ? ORDER BY number DESC LIMIT 1`, org, conv)
	if err != nil {
		return turn, false, wrap("last turn", err)
	}
	return turn, found, nil
}

// TurnStart reads the conversation's newest turn, session and customer
// (statements cost no round trip here).
func (t *tx) TurnStart(ctx context.Context, c domain.Conversation) (ts domain.TurnStart, err error) {
	if ts.Last, ts.HasTurns, err = t.LastTurn(ctx, c.OrgID, c.ID); err != nil {
		return ts, err
	}
	if ts.Session, err = t.GetSession(ctx, c.OrgID, c.SessionID); err != nil {
		return ts, err
	}
	ts.Customer, err = t.GetCustomer(ctx, c.OrgID, c.CustomerID)
	return ts, err
}

// SaveTurn stores a turn; a duplicate number is a conflict.
func (t *tx) SaveTurn(ctx context.Context, r domain.Turn) error {
	trace := string(r.Trace)
	if trace == "" {
		trace = "null"
	}
	return t.insert(ctx, "save turn",
		`INSERT INTO turns (`+turnHead+`, trace) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.OrgID, r.ConversationID, r.Number, r.Trigger, r.MessageID, r.VersionID, r.Outcome,
		r.ErrorCode, r.ErrorMessage, r.WaitStep, r.WaitAttempts, micros(r.StartedAt), r.Duration.Microseconds(), trace)
}

// GetTurn returns a turn with its trace; CodeNotFound when it is not in org.
func (t *tx) GetTurn(ctx context.Context, org domain.OrgID, id domain.TurnID) (domain.Turn, error) {
	return get(ctx, t, "turn", id, scanTurn,
		`SELECT `+turnHead+`, trace FROM turns WHERE org_id = ? AND id = ?`, org, id)
}

// ListTurns returns the conversation's turns numbered above after.
func (t *tx) ListTurns(ctx context.Context, org domain.OrgID, conv domain.ConversationID, after int64, limit int) ([]domain.Turn, error) {
	if limit <= 0 {
		limit = -1
	}
	return list(ctx, t, "list turns", scanTurn,
		`SELECT `+turnHead+`, trace FROM turns WHERE org_id = ? AND conversation_id = ? AND number > ?
		ORDER BY number LIMIT ?`, org, conv, after, limit)
}
