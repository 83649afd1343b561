package postgres

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/parleyhq/parley/domain"

	"github.com/parleyhq/parley/postgres/pgtestdb"
)

// OpenTestStore returns a migrated store on a fresh test database (see
// pgtestdb.New), closed when the test ends.
func OpenTestStore(t testing.TB) *DB {
	t.Helper()
	return OpenTestStores(t, 1)[0]
}

// OpenTestStores returns n stores on one fresh, migrated test database, as
// n server processes would open it; each is closed when the test ends.
func OpenTestStores(t testing.TB, n int) []*DB {
	t.Helper()
	databaseURL := pgtestdb.New(t)
	ctx := context.Background()
	stores := make([]*DB, n)
	for i := range stores {
		db, err := Open(ctx, databaseURL)
		if err != nil {
			t.Fatalf("open test store: %v", err)
		}
		t.Cleanup(func() { _ = db.Close() })
		stores[i] = db
	}
	if err := stores[0].Migrate(ctx); err != nil {
		t.Fatalf("migrate test store: %v", err)
	}
	return stores
}

// QueryRow runs sql in tx, a transaction of this package's store (tests
// of package postgres_test inspect the server through it).
func QueryRow(t domain.Tx, sql string, args ...any) pgx.Row {
	return t.(*tx).queryRow(context.Background(), sql, args...)
}
