package postgres_test

import (
	"testing"

	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/postgres"
	"github.com/parleyhq/parley/storetest"
)

func factory(t testing.TB) domain.Store { return postgres.OpenTestStore(t) }

func TestOperationFailures(t *testing.T) { storetest.RunFailures(t, factory) }
func TestTemporalHistory(t *testing.T)   { storetest.RunTemporal(t, factory) }
func TestOperations(t *testing.T)        { storetest.RunOperations(t, factory) }

// pools opens n pools on one fresh database, one per "server process".
func pools(t testing.TB, n int) []domain.Store {
	stores := make([]domain.Store, n)
	for i, db := range postgres.OpenTestStores(t, n) {
		stores[i] = db
	}
	return stores
}

// TestInbound runs the inbound suite with each "process" on its own pool.
func TestInbound(t *testing.T) { storetest.RunInbound(t, pools) }

func TestBotTurns(t *testing.T) { storetest.RunBotTurns(t, factory) }

// TestTurnsSerialized: 50 inbound messages at once to one conversation,
// through three connection pools (three server processes).
func TestTurnsSerialized(t *testing.T) { storetest.RunTurnsSerialized(t, pools, 50) }

// TestRetention: expired runs, events and idempotency records deleted by
// two processes at once (SKIP LOCKED batches), recent ones kept, writers
// unaffected.
func TestRetention(t *testing.T) { storetest.RunRetention(t, pools) }
