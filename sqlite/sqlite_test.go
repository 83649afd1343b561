package sqlite_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/sqlite"
	"github.com/parleyhq/parley/storetest"
)

// open opens a database file in t.TempDir() (a subdirectory that does not
// exist yet, to show Open creates it) and closes it at cleanup.
func open(t testing.TB, path string, opts ...sqlite.Option) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), path, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

// newStore opens and migrates a fresh database.
func newStore(t testing.TB) *sqlite.DB {
	t.Helper()
	db := open(t, filepath.Join(t.TempDir(), "data", "parley.db"))
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return db
}

func TestStoreContract(t *testing.T) {
	storetest.RunContract(t, func(t testing.TB) domain.Store { return newStore(t) })
}

// TestPragmasOnEveryConnection checks the settings of the writer and of
// several readers; synchronous is FULL (2) unless NORMAL (1) is asked for.
func TestPragmasOnEveryConnection(t *testing.T) {
	for _, tc := range []struct {
		name        string
		opts        []sqlite.Option
		synchronous string
	}{
		{"default", nil, "2"},
		{"full", []sqlite.Option{sqlite.WithSynchronous(sqlite.SyncFull)}, "2"},
		{"normal", []sqlite.Option{sqlite.WithSynchronous(sqlite.SyncNormal)}, "1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := open(t, filepath.Join(t.TempDir(), "parley.db"), tc.opts...)
			if err := db.Migrate(context.Background()); err != nil {
				t.Fatal(err)
			}
			checkPragmas(t, db, map[string]string{"journal_mode": "wal", "synchronous": tc.synchronous, "foreign_keys": "1", "busy_timeout": "10000"})
		})
	}
	if _, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "x.db"), sqlite.WithSynchronous("off")); err == nil {
		t.Error("Open accepted synchronous=off")
	}
}

// checkPragmas checks want on the writer and on several readers at once.
func checkPragmas(t *testing.T, db *sqlite.DB, want map[string]string) {
	t.Helper()
	ctx := context.Background()
	check := func(name string, read func(pragma string) (string, error)) {
		t.Helper()
		for pragma, value := range want {
			got, err := read(pragma)
			if err != nil {
				t.Fatalf("%s: PRAGMA %s: %v", name, pragma, err)
			}
			if got != value {
				t.Errorf("%s: PRAGMA %s = %q, want %q", name, pragma, got, value)
			}
		}
	}
	check("writer", func(pragma string) (got string, err error) {
		err = db.Update(ctx, func(tx domain.Tx) error {
			got, err = sqlite.Pragma(ctx, tx, pragma)
			return err
		})
		return got, err
	})
	// Hold several read transactions open at once so that the pool opens
	// several connections (it allows at least 4); each must have every
	// pragma.
	const readers = 4
	var wg, started sync.WaitGroup
	started.Add(readers)
	release := make(chan struct{})
	results := make(chan map[string]string, readers)
	for range readers {
		wg.Go(func() {
			got := map[string]string{}
			err := db.View(ctx, func(tx domain.Tx) error {
				for pragma := range want {
					v, err := sqlite.Pragma(ctx, tx, pragma)
					if err != nil {
						return err
					}
					got[pragma] = v
				}
				started.Done()
				<-release
				return nil
			})
			if err != nil {
				got["error"] = err.Error()
				started.Done()
			}
			results <- got
		})
	}
	started.Wait()
	close(release)
	wg.Wait()
	close(results)
	for got := range results {
		check("reader", func(pragma string) (string, error) {
			if e, ok := got["error"]; ok {
				return "", fmt.Errorf("%s", e)
			}
			return got[pragma], nil
		})
	}
}

func TestMigrateIsIdempotent(t *testing.T) {
	db := newStore(t)
	ctx := context.Background()
	if err := db.Migrate(ctx); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if err := db.Ready(ctx); err != nil {
		t.Fatalf("Ready after two Migrate: %v", err)
	}
	// Migrating from another handle on the same file is a no-op too.
	if err := open(t, sqlite.Path(db)).Migrate(ctx); err != nil {
		t.Fatalf("Migrate from a second handle: %v", err)
	}
}

func TestReadyBeforeMigrate(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "parley.db"))
	ctx := context.Background()
	err := db.Ready(ctx)
	if code := domain.ErrorCode(err); code != domain.CodeInternal || domain.ErrorMessage(err) != "database not migrated" {
		t.Fatalf("Ready before Migrate = %v, want internal: database not migrated", err)
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.Ready(ctx); err != nil {
		t.Fatalf("Ready after Migrate: %v", err)
	}
}

// seedOrg creates the org every customer below belongs to.
func seedOrg(t *testing.T, db domain.Store) domain.OrgID {
	t.Helper()
	org := domain.Organization{ID: "org_1", Name: "one", CreatedAt: time.Unix(0, 0).UTC()}
	ctx := context.Background()
	if err := db.Update(ctx, func(tx domain.Tx) error { return tx.CreateOrg(ctx, org) }); err != nil {
		t.Fatal(err)
	}
	return org.ID
}

// createCustomers creates n customers with ids prefix+i concurrently, one
// goroutine and one Update each, and returns the errors.
func createCustomers(stores []domain.Store, org domain.OrgID, prefix string, n int, identifier func(i int) string) []error {
	ctx := context.Background()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			store := stores[i%len(stores)]
			c := domain.Customer{ID: domain.CustomerID(fmt.Sprintf("%s%03d", prefix, i)), OrgID: org,
				Identifier: identifier(i), CreatedAt: time.UnixMicro(int64(i)).UTC()}
			if c.Identifier != "" {
				c.IdentifierSince = c.CreatedAt
			}
			errs[i] = store.Update(ctx, func(tx domain.Tx) error { return tx.CreateCustomer(ctx, c) })
		})
	}
	wg.Wait()
	return errs
}

func countCustomers(t *testing.T, db domain.Store, org domain.OrgID, prefix string, n int) int {
	t.Helper()
	ctx := context.Background()
	found := 0
	err := db.View(ctx, func(tx domain.Tx) error {
		for i := range n {
			_, err := tx.GetCustomer(ctx, org, domain.CustomerID(fmt.Sprintf("%s%03d", prefix, i)))
			if err == nil {
				found++
			} else if !domain.IsNotFound(err) {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func TestConcurrentUpdates(t *testing.T) {
	db := newStore(t)
	org := seedOrg(t, db)
	const n = 100
	errs := createCustomers([]domain.Store{db}, org, "cus_", n, func(i int) string { return fmt.Sprintf("id-%d", i) })
	for i, err := range errs {
		if err != nil {
			t.Errorf("customer %d: %v", i, err)
		}
	}
	if got := countCustomers(t, db, org, "cus_", n); got != n {
		t.Errorf("%d customers stored, want %d", got, n)
	}
}

func TestConcurrentUpdatesOfOneIdentifier(t *testing.T) {
	db := newStore(t)
	org := seedOrg(t, db)
	const n = 50
	errs := createCustomers([]domain.Store{db}, org, "cus_", n, func(int) string { return "tel:+15550100000" })
	won := 0
	for i, err := range errs {
		switch domain.ErrorCode(err) {
		case "":
			won++
		case domain.CodeConflict:
		default:
			t.Errorf("customer %d: %v, want nil or conflict", i, err)
		}
	}
	if won != 1 {
		t.Errorf("%d customers got the identifier, want exactly 1", won)
	}
	if got := countCustomers(t, db, org, "cus_", n); got != 1 {
		t.Errorf("%d customers stored, want 1", got)
	}
}

// TestTwoProcesses opens the same file twice, as two server processes
// would, and writes through both at once.
func TestTwoProcesses(t *testing.T) {
	first := newStore(t)
	second := open(t, sqlite.Path(first))
	if err := second.Ready(context.Background()); err != nil {
		t.Fatalf("Ready on the second handle: %v", err)
	}
	org := seedOrg(t, first)
	const n = 60
	stores := []domain.Store{first, second}
	errs := createCustomers(stores, org, "cus_", n, func(i int) string { return fmt.Sprintf("id-%d", i) })
	for i, err := range errs {
		if err != nil {
			t.Errorf("customer %d: %v", i, err)
		}
	}
	for name, db := range map[string]domain.Store{"first": first, "second": second} {
		if got := countCustomers(t, db, org, "cus_", n); got != n {
			t.Errorf("%s handle sees %d customers, want %d", name, got, n)
		}
	}
	// One identifier raced across both handles: one holder.
	errs = createCustomers(stores, org, "dup_", 20, func(int) string { return "shared" })
	won := 0
	for _, err := range errs {
		if err == nil {
			won++
		} else if domain.ErrorCode(err) != domain.CodeConflict {
			t.Errorf("raced identifier: %v, want nil or conflict", err)
		}
	}
	if won != 1 {
		t.Errorf("%d customers got the raced identifier, want 1", won)
	}
}

func TestUpdateGivesUpAfterEightAttempts(t *testing.T) {
	db := newStore(t)
	org := seedOrg(t, db)
	ctx := context.Background()
	attempts := 0
	err := db.Update(ctx, func(tx domain.Tx) error {
		attempts++
		return tx.CreateOrg(ctx, domain.Organization{ID: org})
	})
	if domain.ErrorCode(err) != domain.CodeConflict || attempts != 8 {
		t.Errorf("Update of a duplicate org = %v after %d attempts, want conflict after 8", err, attempts)
	}
}

func TestOpenCreatesTheDirectory(t *testing.T) {
	// Characters that mean something in a file: URI must reach the file
	// name unchanged.
	path := filepath.Join(t.TempDir(), "a b", "c?d#e%20f", "parley.db")
	db := open(t, path)
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(path); err != nil || !info.Mode().IsRegular() {
		t.Fatalf("database file after Open: %v, %v", info, err)
	}
	if err := db.Ready(context.Background()); err != nil {
		t.Fatalf("Ready through the read pool: %v", err)
	}
}
