package sqlite

import (
	"context"

	"github.com/parleyhq/parley/domain"
)

// Pragma reads PRAGMA name on the connection of a transaction.
func Pragma(ctx context.Context, t domain.Tx, name string) (string, error) {
	var v string
	err := t.(*tx).sql.QueryRowContext(ctx, "PRAGMA "+name).Scan(&v)
	return v, err
}

// Path is the database file of db.
func Path(db *DB) string { return db.path }
