package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/parleyhq/parley/domain"
)

// Statistics. The query planner chooses indexes better when it knows the
// tables' sizes, so the store runs PRAGMA optimize (ANALYZE of the tables
// whose size changed much, with a small analysis limit) after migrating
// and then every optimizeInterval, as the SQLite documentation advises
// for long-lived connections.
//
// It keeps only the sqlite_stat1 statistics (row counts per index
// prefix). This build of SQLite has STAT4 (value samples): with samples,
// a prepared statement whose plan might depend on a bound value is
// compiled again at its first step after every new binding, which is every
// execution here (measured: a find query 40-75 % slower, and about a tenth
// of a server's CPU under load in #10). Every Parley query filters by
// org_id first, so samples would not change a plan worth having.

// optimizeInterval is the pause between two PRAGMA optimize runs.
const optimizeInterval = time.Hour

// Optimize refreshes the planner's statistics (PRAGMA optimize) and drops
// the STAT4 samples. all analyzes every table that needs it, not only
// those this process has used (use it after opening). It runs on the
// writer like any write.
func (db *DB) Optimize(ctx context.Context, all bool) error {
	pragma := "PRAGMA optimize"
	if all {
		pragma = "PRAGMA optimize=0x10002"
	}
	return db.Update(ctx, func(dtx domain.Tx) error {
		t := dtx.(*tx)
		if _, err := t.sql.ExecContext(ctx, pragma); err != nil {
			return fmt.Errorf("sqlite: optimize: %w", err)
		}
		var samples bool
		err := t.sql.QueryRowContext(ctx,
			`SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat4')`).Scan(&samples)
		if err != nil || !samples {
			return err
		}
		if _, err := t.sql.ExecContext(ctx, `DELETE FROM sqlite_stat4`); err != nil {
			return fmt.Errorf("sqlite: drop statistics samples: %w", err)
		}
		// Loads the statistics now held in the tables into the schema.
		_, err = t.sql.ExecContext(ctx, `ANALYZE sqlite_schema`)
		return err
	})
}

// optimizeEvery runs Optimize every interval until the store closes.
func (db *DB) optimizeEvery(interval time.Duration) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-db.writes.quit:
			return
		case <-ticker.C:
			_ = db.Optimize(context.Background(), false) // a store not migrated yet: next time
		}
	}
}
