package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/parleyhq/parley/domain"
)

// The identifier timeline, the customers list and filtered event feeds
// (domain.LookupTx).

func scanHolder(row scanner) (domain.HolderInterval, error) {
	var h domain.HolderInterval
	err := row.Scan(&h.OrgID, &h.CustomerID, &h.Identifier, &h.ValidFrom, &h.ValidTo, &h.Position)
	h.ValidFrom, h.ValidTo = h.ValidFrom.UTC(), utcOrNil(h.ValidTo)
	return h, err
}

// IdentifierHolders returns a page of the identifier's intervals, ordered
// by (valid_from, id); the position is the row id.
func (t *tx) IdentifierHolders(ctx context.Context, org domain.OrgID, f domain.HolderFilter) ([]domain.HolderInterval, error) {
	if f.Limit <= 0 {
		return nil, domain.Errorf(domain.CodeInvalidArgument, "limit must be positive")
	}
	q := newFilterQuery(`SELECT `+intervalColumns+`, id FROM identifier_intervals`, org)
	q.add(true, "identifier = ?", f.Identifier)
	q.add(f.AfterPosition != 0, "(valid_from, id) > (?, ?)", f.AfterValidFrom, f.AfterPosition)
	sql := q.sql("ORDER BY valid_from, id", f.Limit)
	return collect(ctx, t, scanHolder, sql, q.args...)
}

// ListCustomers returns a page of customers, newest first.
func (t *tx) ListCustomers(ctx context.Context, org domain.OrgID, f domain.CustomerFilter) ([]domain.Customer, error) {
	if f.Limit <= 0 {
		return nil, domain.Errorf(domain.CodeInvalidArgument, "limit must be positive")
	}
	q := newFilterQuery(`SELECT `+customerColumns+` FROM customers`, org)
	q.add(f.Identifier != "", "identifier = ?", f.Identifier)
	q.add(!f.BeforeCreatedAt.IsZero(), "(created_at, id) < (?, ?)", f.BeforeCreatedAt, f.BeforeID)
	sql := q.sql("ORDER BY created_at DESC, id DESC", f.Limit)
	return collect(ctx, t, scanCustomer, sql, q.args...)
}

// FilterEvents returns the org's events after f.After matching f, oldest
// first, through the generated columns customer_id and conversation_id
// (migration 00003), up to the feed's horizon as ListEvents (records.go),
// so a filtered feed never skips an event either.
func (t *tx) FilterEvents(ctx context.Context, org domain.OrgID, f domain.EventFilter) ([]domain.Event, error) {
	if f.Limit <= 0 {
		return nil, domain.Errorf(domain.CodeInvalidArgument, "limit must be positive")
	}
	q := newFilterQuery(`SELECT `+eventColumns+` FROM events`, org)
	q.add(true, "seq > ?", f.After)
	q.add(true, "seq < (parley_feed_horizon() << 16)")
	q.add(len(f.Types) > 0, "type = ANY (?)", f.Types)
	q.add(f.CustomerID != "", "customer_id = ?", f.CustomerID)
	q.add(f.ConversationID != "", "conversation_id = ?", f.ConversationID)
	sql := q.sql("ORDER BY seq", f.Limit)
	return collect(ctx, t, scanEvent, sql, q.args...)
}

// filterQuery builds a query of one org's rows from optional conditions.
type filterQuery struct {
	base  string
	where []string
	args  []any
}

func newFilterQuery(base string, org domain.OrgID) *filterQuery {
	return &filterQuery{base: base, where: []string{"org_id = $1"}, args: []any{org}}
}

// add appends condition when set; its ? placeholders take values in order.
func (q *filterQuery) add(set bool, condition string, values ...any) {
	if !set {
		return
	}
	for _, value := range values {
		q.args = append(q.args, value)
		condition = strings.Replace(condition, "?", fmt.Sprintf("$%d", len(q.args)), 1)
	}
	q.where = append(q.where, condition)
}

// sql returns the query with its conditions, order and limit, and appends
// limit to q.args: read q.args after calling it.
func (q *filterQuery) sql(order string, limit int) string {
	q.args = append(q.args, limit)
	return q.base + " WHERE " + strings.Join(q.where, " AND ") + " " + order + fmt.Sprintf(" LIMIT $%d", len(q.args))
}
