package sqlite

import (
	"context"
	"testing"

	"github.com/parleyhq/parley/domain"
)

// TestMigrateOutOfOrder checks that a migration numbered below one already
// applied (each stream of work owns its numbers, so they land in any
// order) is applied by Migrate instead of failing it, and that Ready waits
// for it.
func TestMigrateOutOfOrder(t *testing.T) {
	t.Parallel()
	db, err := Open(context.Background(), t.TempDir()+"/parley.db")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	sources := db.migrator.ListSources()
	lower := sources[len(sources)-2].Version
	if _, err := db.migrator.ApplyVersion(ctx, lower, false); err != nil {
		t.Fatalf("undo migration %d: %v", lower, err)
	}
	if err := db.Ready(ctx); domain.ErrorMessage(err) != "database not migrated" {
		t.Fatalf("Ready without migration %d = %v, want database not migrated", lower, err)
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatalf("Migrate with migration %d missing: %v", lower, err)
	}
	if err := db.Ready(ctx); err != nil {
		t.Fatalf("Ready after Migrate: %v", err)
	}
}
