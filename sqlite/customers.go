package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/parleyhq/parley/domain"
)

const customerColumns = `id, org_id, identifier, identifier_since, created_at`

func scanCustomer(s scanner) (domain.Customer, error) {
	var c domain.Customer
	var identifier sql.NullString
	var since sql.NullInt64
	var created int64
	err := s.Scan(&c.ID, &c.OrgID, &identifier, &since, &created)
	c.Identifier = identifier.String
	if since.Valid {
		c.IdentifierSince = fromMicros(since.Int64)
	}
	c.CreatedAt = fromMicros(created)
	return c, err
}

// identifierArgs encodes a current identifier and its start: NULL, NULL
// when the customer holds none.
func identifierArgs(identifier string, since time.Time) (any, any) {
	if identifier == "" {
		return nil, nil
	}
	if since.IsZero() {
		return identifier, nil
	}
	return identifier, micros(since)
}

// CreateCustomer stores c; a duplicate id, or an identifier another
// customer of the org holds, is a conflict.
func (t *tx) CreateCustomer(ctx context.Context, c domain.Customer) error {
	identifier, since := identifierArgs(c.Identifier, c.IdentifierSince)
	return t.insert(ctx, "create customer",
		`INSERT INTO customers (`+customerColumns+`) VALUES (?, ?, ?, ?, ?)`,
		c.ID, c.OrgID, identifier, since, micros(c.CreatedAt))
}

// GetCustomer returns the customer; CodeNotFound when it is not in org.
func (t *tx) GetCustomer(ctx context.Context, org domain.OrgID, id domain.CustomerID) (domain.Customer, error) {
	return get(ctx, t, "customer", id, scanCustomer,
		`SELECT `+customerColumns+` FROM customers WHERE org_id = ? AND id = ?`, org, id)
}

// SetCustomerIdentifier sets the current identifier ("" for none) and its
// start. An identifier another customer of the org holds is a conflict;
// CodeNotFound when the customer is not in org.
func (t *tx) SetCustomerIdentifier(ctx context.Context, org domain.OrgID, id domain.CustomerID, identifier string, since time.Time) error {
	ident, start := identifierArgs(identifier, since)
	return t.update(ctx, "customer", id,
		`UPDATE customers SET identifier = ?, identifier_since = ? WHERE org_id = ? AND id = ?`,
		ident, start, org, id)
}

const intervalColumns = `org_id, customer_id, identifier, valid_from, valid_to`

func scanInterval(s scanner) (domain.IdentifierInterval, error) {
	var iv domain.IdentifierInterval
	var from int64
	var to sql.NullInt64
	err := s.Scan(&iv.OrgID, &iv.CustomerID, &iv.Identifier, &from, &to)
	iv.ValidFrom = fromMicros(from)
	iv.ValidTo = optMicros(to)
	return iv, err
}

// OpenInterval inserts iv (normally current: ValidTo nil). A second
// current interval of the identifier in the org is a conflict.
func (t *tx) OpenInterval(ctx context.Context, iv domain.IdentifierInterval) error {
	return t.insert(ctx, "open interval",
		`INSERT INTO identifier_intervals (`+intervalColumns+`) VALUES (?, ?, ?, ?, ?)`,
		iv.OrgID, iv.CustomerID, iv.Identifier, micros(iv.ValidFrom), nullMicros(iv.ValidTo))
}

// CloseInterval ends the customer's current interval of identifier at at;
// CodeNotFound when there is none.
func (t *tx) CloseInterval(ctx context.Context, org domain.OrgID, customer domain.CustomerID, identifier string, at time.Time) error {
	return t.update(ctx, "current interval", identifier,
		`UPDATE identifier_intervals SET valid_to = ?
		WHERE org_id = ? AND identifier = ? AND valid_to IS NULL AND customer_id = ?`,
		micros(at), org, identifier, customer)
}

// LatestInterval returns the interval of identifier with the latest
// ValidFrom; found is false when the identifier was never held in org.
func (t *tx) LatestInterval(ctx context.Context, org domain.OrgID, identifier string) (domain.IdentifierInterval, bool, error) {
	iv, found, err := lookup(ctx, t, scanInterval,
		`SELECT `+intervalColumns+` FROM identifier_intervals
		WHERE org_id = ? AND identifier = ?
		ORDER BY valid_from DESC, id DESC LIMIT 1`, org, identifier)
	if err != nil {
		return iv, false, wrap("latest interval", err)
	}
	return iv, found, nil
}

// IntervalAt returns the interval of identifier covering at ([ValidFrom,
// ValidTo)); found is false when nobody held it then. Intervals of one
// identifier never overlap, so the candidate is the one that started last
// at or before at.
func (t *tx) IntervalAt(ctx context.Context, org domain.OrgID, identifier string, at time.Time) (domain.IdentifierInterval, bool, error) {
	iv, found, err := lookup(ctx, t, scanInterval,
		`SELECT `+intervalColumns+` FROM identifier_intervals
		WHERE org_id = ? AND identifier = ? AND valid_from <= ?
		ORDER BY valid_from DESC, id DESC LIMIT 1`, org, identifier, micros(at))
	if err != nil {
		return iv, false, wrap("interval at", err)
	}
	if !found || !iv.Covers(at) {
		return domain.IdentifierInterval{}, false, nil
	}
	return iv, true, nil
}

// CustomerIntervals returns the customer's intervals, oldest first.
func (t *tx) CustomerIntervals(ctx context.Context, org domain.OrgID, customer domain.CustomerID) ([]domain.IdentifierInterval, error) {
	return list(ctx, t, "customer intervals", scanInterval,
		`SELECT `+intervalColumns+` FROM identifier_intervals
		WHERE org_id = ? AND customer_id = ? ORDER BY valid_from, id`, org, customer)
}
