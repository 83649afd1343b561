package postgres

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/domain"
)

// TestUpdateOrgWaitersHoldNoConnection: writers of one org in a process
// queue in Go, so while one runs no other connection of the process waits
// on the org's lock in PostgreSQL (and the pool stays free for others).
func TestUpdateOrgWaitersHoldNoConnection(t *testing.T) {
	db := OpenTestStore(t)
	ctx := context.Background()
	const writers = 12
	waiting := make([]int, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := db.UpdateOrg(ctx, "org_busy", func(t2 domain.Tx) error {
				time.Sleep(20 * time.Millisecond) // let the other writers pile up
				// pg_locks covers the whole server: count this test
				// database's waiters only, not other tests' servers.
				return t2.(*tx).pg.QueryRow(ctx, `SELECT count(*) FROM pg_locks
					WHERE locktype = 'advisory' AND NOT granted
					AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&waiting[i])
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for i, n := range waiting {
		if n != 0 {
			t.Fatalf("writer %d saw %d connections waiting on an advisory lock", i, n)
		}
	}
}
