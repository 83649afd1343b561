package sqlite

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/parleyhq/parley/dataset"
	"github.com/parleyhq/parley/domain"
)

// Seeding writes a dataset.Plan with multi-row INSERTs, seedRowsPerTx rows
// per transaction on the writer, then refreshes the planner's statistics.

const (
	// seedVarsPerStatement stays under SQLite's limit of bound parameters
	// (32766).
	seedVarsPerStatement = 8000
	// seedRowsPerTx bounds the write-ahead log between checkpoints.
	seedRowsPerTx = 100_000
)

// Seed writes plan's rows into an empty part of the database (the plan's
// org, deployment and resource exist; its ids do not) and analyzes the
// tables. progress, when set, is called with the number of rows written
// so far after each transaction. Errors: the plan's (dataset.Plan.Validate)
// or the database's, with the rows written by the committed transactions
// left in place.
func (db *DB) Seed(ctx context.Context, plan dataset.Plan, progress func(rows int)) error {
	if err := plan.Validate(); err != nil {
		return err
	}
	written := 0
	for _, table := range plan.Tables() {
		for from := 0; from < table.Rows; from += seedRowsPerTx {
			to := min(from+seedRowsPerTx, table.Rows)
			if err := db.Update(ctx, func(dtx domain.Tx) error {
				return dtx.(*tx).insertRows(ctx, table, from, to)
			}); err != nil {
				return fmt.Errorf("sqlite: seed %s: %w", table.Name, err)
			}
			written += to - from
			if progress != nil {
				progress(written)
			}
		}
	}
	return db.Optimize(ctx, true)
}

// insertRows inserts rows [from, to) of table, as many per statement as
// the parameter limit allows.
func (t *tx) insertRows(ctx context.Context, table dataset.Table, from, to int) error {
	perStatement := seedVarsPerStatement / len(table.Columns)
	row := "(" + strings.Repeat("?, ", len(table.Columns)-1) + "?)"
	args := make([]any, 0, perStatement*len(table.Columns))
	for start := from; start < to; start += perStatement {
		end := min(start+perStatement, to)
		args = args[:0]
		for i := start; i < end; i++ {
			for _, v := range table.Row(i) {
				args = append(args, seedValue(v))
			}
		}
		query := "INSERT INTO " + table.Name + " (" + strings.Join(table.Columns, ", ") + ") VALUES " +
			strings.Repeat(row+", ", end-start-1) + row
		if _, err := t.sql.ExecContext(ctx, query, args...); err != nil {
			return err
		}
	}
	return nil
}

// seedValue converts a seed value to the column's storage: times as
// microseconds, JSON as text.
func seedValue(v any) any {
	switch v := v.(type) {
	case time.Time:
		return micros(v)
	case []byte:
		return string(v)
	}
	return v
}

// DSN is the data source name the store opens path with (its pragmas and
// synchronous setting): its writer's (immediate transactions) or, with
// readOnly, its readers'. For tools that read and write the same file by
// hand, such as the baselines of parley bench.
func DSN(path string, sync Synchronous, readOnly bool) string {
	if readOnly {
		return dsn(path, sync, "mode=ro")
	}
	return dsn(path, sync, "_txlock=immediate")
}
