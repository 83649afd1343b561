package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/parleyhq/parley/domain"
)

const customerColumns = `id, org_id, COALESCE(identifier, ''), identifier_since, created_at`

func scanCustomer(row scanner) (domain.Customer, error) {
	var c domain.Customer
	var since *time.Time
	err := row.Scan(&c.ID, &c.OrgID, &c.Identifier, &since, &c.CreatedAt)
	c.IdentifierSince = utcOrZero(since)
	c.CreatedAt = c.CreatedAt.UTC()
	return c, err
}

// CreateCustomer stores c; an identifier another customer of the org holds
// is a transient conflict.
func (t *tx) CreateCustomer(ctx context.Context, c domain.Customer) error {
	_, err := t.exec(ctx, `INSERT INTO customers (id, org_id, identifier, identifier_since, created_at)
		VALUES ($1, $2, $3, $4, $5)`,
		c.ID, c.OrgID, nullIfEmpty(c.Identifier), sinceIfHeld(c.Identifier, c.IdentifierSince), c.CreatedAt)
	if err != nil {
		return fmt.Errorf("postgres: create customer: %w", err)
	}
	return nil
}

// GetCustomer returns the customer; CodeNotFound when it does not exist in
// org.
func (t *tx) GetCustomer(ctx context.Context, org domain.OrgID, id domain.CustomerID) (domain.Customer, error) {
	return get(ctx, t, "customer", id, scanCustomer,
		`SELECT `+customerColumns+` FROM customers WHERE org_id = $1 AND id = $2`, org, id)
}

// LockCustomer returns the customer locked FOR NO KEY UPDATE until the
// transaction ends: other lockers wait, while conversations and intervals
// referencing it can still be inserted (their foreign keys take FOR KEY
// SHARE), so a conversation start holding an identifier's lock never
// waits for a customer lock (no deadlock with an identity change, which
// locks its customer first). CodeNotFound when it does not exist in org.
func (t *tx) LockCustomer(ctx context.Context, org domain.OrgID, id domain.CustomerID) (domain.Customer, error) {
	return get(ctx, t, "customer", id, scanCustomer,
		`SELECT `+customerColumns+` FROM customers WHERE org_id = $1 AND id = $2 FOR NO KEY UPDATE`, org, id)
}

// SetCustomerIdentifier sets the customer's current identifier ("" for
// none) and the start of its interval. CodeNotFound when the customer does
// not exist in org; an identifier another customer holds is a transient
// conflict.
func (t *tx) SetCustomerIdentifier(ctx context.Context, org domain.OrgID, id domain.CustomerID, identifier string, since time.Time) error {
	if identifier == "" {
		since = time.Time{}
	}
	return t.execOne(ctx, "customer", id,
		`UPDATE customers SET identifier = $3, identifier_since = $4 WHERE org_id = $1 AND id = $2`,
		org, id, nullIfEmpty(identifier), sinceIfHeld(identifier, since))
}

const intervalColumns = `org_id, customer_id, identifier, valid_from, valid_to`

func scanInterval(row scanner) (domain.IdentifierInterval, error) {
	var iv domain.IdentifierInterval
	err := row.Scan(&iv.OrgID, &iv.CustomerID, &iv.Identifier, &iv.ValidFrom, &iv.ValidTo)
	iv.ValidFrom = iv.ValidFrom.UTC()
	iv.ValidTo = utcOrNil(iv.ValidTo)
	return iv, err
}

// OpenInterval inserts iv (normally current: ValidTo nil); a second current
// interval of the identifier in the org is a transient conflict.
func (t *tx) OpenInterval(ctx context.Context, iv domain.IdentifierInterval) error {
	_, err := t.exec(ctx, `INSERT INTO identifier_intervals (`+intervalColumns+`) VALUES ($1, $2, $3, $4, $5)`,
		iv.OrgID, iv.CustomerID, iv.Identifier, iv.ValidFrom, iv.ValidTo)
	if err != nil {
		return fmt.Errorf("postgres: open interval: %w", err)
	}
	return nil
}

// CloseInterval ends the customer's current interval of identifier at at;
// CodeNotFound when there is none.
func (t *tx) CloseInterval(ctx context.Context, org domain.OrgID, customer domain.CustomerID, identifier string, at time.Time) error {
	return t.execOne(ctx, "current interval", fmt.Sprintf("of %q for customer %s", identifier, customer),
		`UPDATE identifier_intervals SET valid_to = $4
		 WHERE org_id = $1 AND customer_id = $2 AND identifier = $3 AND valid_to IS NULL`,
		org, customer, identifier, at)
}

// LatestInterval returns the interval of identifier with the latest
// ValidFrom; found is false when the identifier was never held.
func (t *tx) LatestInterval(ctx context.Context, org domain.OrgID, identifier string) (domain.IdentifierInterval, bool, error) {
	return find(ctx, t, scanInterval,
		`SELECT `+intervalColumns+` FROM identifier_intervals WHERE org_id = $1 AND identifier = $2
		 ORDER BY valid_from DESC, id DESC LIMIT 1`, org, identifier)
}

// IntervalAt returns the interval of identifier covering instant at; found
// is false when nobody held it then.
func (t *tx) IntervalAt(ctx context.Context, org domain.OrgID, identifier string, at time.Time) (domain.IdentifierInterval, bool, error) {
	return find(ctx, t, scanInterval,
		`SELECT `+intervalColumns+` FROM identifier_intervals
		 WHERE org_id = $1 AND identifier = $2 AND valid_from <= $3 AND (valid_to IS NULL OR valid_to > $3)
		 ORDER BY valid_from DESC, id DESC LIMIT 1`, org, identifier, at)
}

// CustomerIntervals returns the customer's intervals, oldest first.
func (t *tx) CustomerIntervals(ctx context.Context, org domain.OrgID, customer domain.CustomerID) ([]domain.IdentifierInterval, error) {
	return collect(ctx, t, scanInterval,
		`SELECT `+intervalColumns+` FROM identifier_intervals WHERE org_id = $1 AND customer_id = $2
		 ORDER BY valid_from, id`, org, customer)
}

// sinceIfHeld stores the start of the current interval only while there is
// an identifier (NULL otherwise, as the SQLite backend does).
func sinceIfHeld(identifier string, since time.Time) any {
	if identifier == "" {
		return nil
	}
	return nullIfZero(since)
}
