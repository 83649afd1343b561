package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/sqlite"
	"github.com/parleyhq/parley/storetest"
)

func factory(t testing.TB) domain.Store { return newStore(t) }

// openShared opens n handles on one fresh database file, as n server
// processes would.
func openShared(t testing.TB, n int) []domain.Store {
	path := filepath.Join(t.TempDir(), "shared.db")
	stores := make([]domain.Store, n)
	for i := range stores {
		stores[i] = open(t, path)
	}
	if err := stores[0].(*sqlite.DB).Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return stores
}

func TestIdentifierRace(t *testing.T)    { storetest.RunIdentifierRace(t, openShared) }
func TestOperationFailures(t *testing.T) { storetest.RunFailures(t, factory) }
func TestTemporalHistory(t *testing.T)   { storetest.RunTemporal(t, factory) }
func TestOperations(t *testing.T)        { storetest.RunOperations(t, factory) }
func TestInbound(t *testing.T)           { storetest.RunInbound(t, openShared) }

func TestBotTurns(t *testing.T) { storetest.RunBotTurns(t, factory) }

// TestTurnsSerialized: 50 inbound messages at once to one conversation,
// through three handles on one database file.
func TestTurnsSerialized(t *testing.T) { storetest.RunTurnsSerialized(t, openShared, 50) }

// TestRetention: expired runs, events and idempotency records deleted by
// two processes at once, recent ones kept, writers unaffected.
func TestRetention(t *testing.T) { storetest.RunRetention(t, openShared) }
