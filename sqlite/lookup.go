package sqlite

import (
	"context"
	"database/sql"
	"strings"

	"github.com/parleyhq/parley/domain"
)

// The identifier timeline, the customers list and filtered event feeds
// (domain.LookupTx).

func scanHolder(s scanner) (domain.HolderInterval, error) {
	var h domain.HolderInterval
	var from int64
	var to sql.NullInt64
	err := s.Scan(&h.OrgID, &h.CustomerID, &h.Identifier, &from, &to, &h.Position)
	h.ValidFrom, h.ValidTo = fromMicros(from), optMicros(to)
	return h, err
}

// IdentifierHolders returns a page of the identifier's intervals, ordered
// by (valid_from, id); the position is the row id.
func (t *tx) IdentifierHolders(ctx context.Context, org domain.OrgID, f domain.HolderFilter) ([]domain.HolderInterval, error) {
	if f.Limit <= 0 {
		return nil, domain.Errorf(domain.CodeInvalidArgument, "limit must be positive")
	}
	q := filterQuery{sql: `SELECT ` + intervalColumns + `, id FROM identifier_intervals WHERE org_id = ? AND identifier = ?`,
		args: []any{org, f.Identifier}}
	q.add(f.AfterPosition != 0, ` AND (valid_from, id) > (?, ?)`, micros(f.AfterValidFrom), f.AfterPosition)
	q.add(true, ` ORDER BY valid_from, id LIMIT ?`, f.Limit)
	return list(ctx, t, "identifier holders", scanHolder, q.sql, q.args...)
}

// ListCustomers returns a page of customers, newest first.
func (t *tx) ListCustomers(ctx context.Context, org domain.OrgID, f domain.CustomerFilter) ([]domain.Customer, error) {
	if f.Limit <= 0 {
		return nil, domain.Errorf(domain.CodeInvalidArgument, "limit must be positive")
	}
	q := filterQuery{sql: `SELECT ` + customerColumns + ` FROM customers WHERE org_id = ?`, args: []any{org}}
	q.add(f.Identifier != "", ` AND identifier = ?`, f.Identifier)
	q.add(!f.BeforeCreatedAt.IsZero(), ` AND (created_at, id) < (?, ?)`, micros(f.BeforeCreatedAt), f.BeforeID)
	q.add(true, ` ORDER BY created_at DESC, id DESC LIMIT ?`, f.Limit)
	return list(ctx, t, "list customers", scanCustomer, q.sql, q.args...)
}

// FilterEvents returns the org's events after f.After matching f, oldest
// first, through the generated columns customer_id and conversation_id
// (migration 00003).
func (t *tx) FilterEvents(ctx context.Context, org domain.OrgID, f domain.EventFilter) ([]domain.Event, error) {
	if f.Limit <= 0 {
		return nil, domain.Errorf(domain.CodeInvalidArgument, "limit must be positive")
	}
	q := filterQuery{sql: `SELECT ` + eventColumns + ` FROM events WHERE org_id = ? AND seq > ?`, args: []any{org, f.After}}
	if len(f.Types) > 0 {
		types := make([]any, len(f.Types))
		for i, typ := range f.Types {
			types[i] = typ
		}
		q.add(true, ` AND type IN (?`+strings.Repeat(`, ?`, len(types)-1)+`)`, types...)
	}
	q.add(f.CustomerID != "", ` AND customer_id = ?`, f.CustomerID)
	q.add(f.ConversationID != "", ` AND conversation_id = ?`, f.ConversationID)
	q.add(true, ` ORDER BY seq LIMIT ?`, f.Limit)
	return list(ctx, t, "filter events", scanEvent, q.sql, q.args...)
}

// filterQuery builds a query from optional clauses.
type filterQuery struct {
	sql  string
	args []any
}

// add appends clause and its values when set.
func (q *filterQuery) add(set bool, clause string, values ...any) {
	if set {
		q.sql += clause
		q.args = append(q.args, values...)
	}
}
