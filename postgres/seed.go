package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/parleyhq/parley/dataset"
)

// seedProgressEvery is how many rows pass between two progress calls.
const seedProgressEvery = 20_000

// Seed writes plan's rows with COPY, in one transaction, into an empty
// part of the database (the plan's org, deployment and resource exist;
// its ids do not), then vacuums and analyzes the tables it wrote, as
// autovacuum would soon after a load: without it, the first reader of each
// freshly copied page sets its hint bits and cannot use index-only scans.
// progress, when set, is called with the number of rows written so far
// every few thousand rows. Errors: the plan's (dataset.Plan.Validate) or the
// database's, with nothing written.
func (db *DB) Seed(ctx context.Context, plan dataset.Plan, progress func(rows int)) error {
	if err := plan.Validate(); err != nil {
		return err
	}
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres: seed: %w", err)
	}
	defer tx.Rollback(ctx)
	written := 0
	var names []string
	for _, table := range plan.Tables() {
		names = append(names, table.Name)
		src := pgx.CopyFromFunc(func() func() ([]any, error) {
			i := 0
			return func() ([]any, error) {
				if i == table.Rows {
					return nil, nil
				}
				if written++; progress != nil && written%seedProgressEvery == 0 {
					progress(written)
				}
				i++
				return table.Row(i - 1), nil
			}
		}())
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{table.Name}, table.Columns, src); err != nil {
			return fmt.Errorf("postgres: seed %s: %w", table.Name, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: seed: commit: %w", err)
	}
	if progress != nil {
		progress(written)
	}
	if _, err := db.pool.Exec(ctx, "VACUUM (ANALYZE) "+strings.Join(names, ", ")); err != nil {
		return fmt.Errorf("postgres: seed: vacuum: %w", err)
	}
	return nil
}
