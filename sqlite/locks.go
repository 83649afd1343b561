package sqlite

import (
	"context"

	"github.com/parleyhq/parley/domain"
)

// The locks of domain.Tx cost nothing here: every write transaction of the
// process runs on the one writer connection, one after the other (a group
// commit runs its requests in sequence), and SQLite's write lock
// serializes writers of other processes. A lock is therefore held from the
// moment a transaction starts; LockConversation (routes.go) and
// LockCustomer only read, and a read inside a write transaction sees the
// latest state.

// LockCustomer returns the customer; CodeNotFound when it does not exist
// in org.
func (t *tx) LockCustomer(ctx context.Context, org domain.OrgID, id domain.CustomerID) (domain.Customer, error) {
	return t.GetCustomer(ctx, org, id)
}

// LockKeys does nothing: writers are serialized already.
func (t *tx) LockKeys(context.Context, domain.OrgID, ...string) error { return nil }
