package postgres

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/postgres/pgtestdb"
)

// TestBrokenConnectionsAreRetried kills every server connection of the
// store, again and again (pg_terminate_backend), while 16 writers
// increment a counter under LockConversation. A transaction whose
// connection broke before COMMIT is run again on a fresh one: every write
// succeeds or answers unavailable (never internal), and the counter equals
// the acknowledged increments (plus at most those whose COMMIT was in
// flight when the connection broke, whose outcome nobody can know).
func TestBrokenConnectionsAreRetried(t *testing.T) {
	t.Parallel()
	databaseURL := pgtestdb.New(t)
	db := openDB(t, databaseURL)
	ctx := context.Background()
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	org := createOrg(t, db, "org_killed")
	conv := seedConversation(t, db, org, "conv_killed")

	const writers, kills = 16, 8
	var acknowledged, unknown, unavailable atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				err := db.Update(ctx, func(tx domain.Tx) error {
					if _, err := tx.LockConversation(ctx, org, conv.ID); err != nil {
						return err
					}
					s, err := tx.GetSession(ctx, org, conv.SessionID)
					if err != nil {
						return err
					}
					s.Variables["count"] = s.Variables["count"].(float64) + 1
					return tx.SetSessionVariables(ctx, org, s.ID, s.Variables, epoch)
				})
				var commitUnknown *commitUnknownError
				switch {
				case err == nil:
					acknowledged.Add(1)
				case errors.As(err, &commitUnknown):
					unknown.Add(1)
				case domain.ErrorCode(err) == domain.CodeUnavailable:
					unavailable.Add(1)
				default:
					t.Errorf("increment failed with %s: %v", domain.ErrorCode(err), err)
				}
			}
		})
	}
	killer, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer killer.Close(ctx)
	killed := 0
	for range kills {
		time.Sleep(100 * time.Millisecond) // let the writers get going again
		var n int
		err := killer.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid()`).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		killed += n
	}
	time.Sleep(100 * time.Millisecond)
	close(stop)
	wg.Wait()

	var got domain.Session
	if err := db.View(ctx, func(tx domain.Tx) (err error) {
		got, err = tx.GetSession(ctx, org, conv.SessionID)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	count := int64(got.Variables["count"].(float64))
	t.Logf("%d connections killed; %d increments acknowledged, %d with the commit in flight, %d unavailable",
		killed, acknowledged.Load(), unknown.Load(), unavailable.Load())
	if killed < kills {
		t.Fatalf("only %d connections killed", killed)
	}
	if count < acknowledged.Load() || count > acknowledged.Load()+unknown.Load() {
		t.Fatalf("counter = %d, want between %d acknowledged and %d (with the commits of unknown outcome)",
			count, acknowledged.Load(), acknowledged.Load()+unknown.Load())
	}
}
