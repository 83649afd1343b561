package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/parleyhq/parley/domain"
)

// slowInsert is a statement long enough to be interrupted: when its
// context is cancelled, SQLite rolls back the whole shared transaction.
const slowInsert = `INSERT INTO events (org_id, type, subject, payload, created_at)
	WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 50000000)
	SELECT 'org_x', 't', 's', '{}', x FROM c`

func migratedDB(t *testing.T) *DB {
	t.Helper()
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "w.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}

// batchBehindBlocker holds the writer with one request while the given
// functions queue up (in order) behind it, so they share the next batch,
// and returns their results.
func batchBehindBlocker(t *testing.T, db *DB, ctxs []context.Context, fns []func(domain.Tx) error) []error {
	t.Helper()
	running, release := make(chan struct{}), make(chan struct{})
	go db.Update(context.Background(), func(domain.Tx) error { close(running); <-release; return nil })
	<-running
	results := make([]chan error, len(fns))
	for i, fn := range fns {
		results[i] = make(chan error, 1)
		go func() { results[i] <- db.Update(ctxs[i], fn) }()
		time.Sleep(20 * time.Millisecond) // queue in this order
	}
	close(release)
	errs := make([]error, len(fns))
	for i := range results {
		errs[i] = <-results[i]
	}
	return errs
}

func createOrg(id domain.OrgID) func(domain.Tx) error {
	return func(t domain.Tx) error {
		return t.CreateOrg(context.Background(), domain.Organization{ID: id, Name: "o", CreatedAt: time.Unix(0, 0)})
	}
}

func orgExists(t *testing.T, db *DB, id domain.OrgID) bool {
	t.Helper()
	err := db.View(context.Background(), func(tx domain.Tx) error {
		_, err := tx.GetOrg(context.Background(), id)
		return err
	})
	if err != nil && !domain.IsNotFound(err) {
		t.Fatal(err)
	}
	return err == nil
}

// interruptedAfter returns a request that is cancelled while its slow
// statement runs, and its context.
func interruptedAfter(d time.Duration) (context.Context, func(domain.Tx) error) {
	ctx, cancel := context.WithCancel(context.Background())
	return ctx, func(t domain.Tx) error {
		time.AfterFunc(d, cancel)
		_, err := t.(*tx).sql.ExecContext(ctx, slowInsert)
		return err
	}
}

// TestBatchAbortedByAnotherRequestRunsAgain: a request whose batch is lost
// because another request aborted the transaction is run again, not failed.
func TestBatchAbortedByAnotherRequestRunsAgain(t *testing.T) {
	db := migratedDB(t)
	bg := context.Background()
	abortCtx, abort := interruptedAfter(100 * time.Millisecond)
	errs := batchBehindBlocker(t, db, []context.Context{bg, abortCtx}, []func(domain.Tx) error{createOrg("org_a"), abort})
	if errs[0] != nil || !orgExists(t, db, "org_a") {
		t.Fatalf("innocent request: %v, org exists %v; want it committed", errs[0], orgExists(t, db, "org_a"))
	}
	if errs[1] == nil {
		t.Fatal("the interrupted request succeeded")
	}
}

// TestFailureAnsweredOnlyAfterCommit: a request that fails because of a
// change earlier in its batch is answered only once that change committed.
func TestFailureAnsweredOnlyAfterCommit(t *testing.T) {
	db := migratedDB(t)
	bg := context.Background()
	errSaw := errors.New("saw org_a")
	sawOrg := func(tx domain.Tx) error {
		if _, err := tx.GetOrg(bg, "org_a"); err == nil {
			return errSaw
		}
		return nil
	}
	abortCtx, abort := interruptedAfter(100 * time.Millisecond)
	errs := batchBehindBlocker(t, db, []context.Context{bg, bg, abortCtx},
		[]func(domain.Tx) error{createOrg("org_a"), sawOrg, abort})
	if errors.Is(errs[1], errSaw) && !orgExists(t, db, "org_a") {
		t.Fatal("a request was answered from a change that never committed")
	}
	if errs[0] != nil {
		t.Fatalf("creating the org: %v", errs[0])
	}
}

// TestGoexitInFunctionKeepsTheWriter: a function that ends its goroutine
// (t.FailNow does) gets an error, and the store keeps working.
func TestGoexitInFunctionKeepsTheWriter(t *testing.T) {
	db := migratedDB(t)
	done := make(chan error, 1)
	go func() {
		done <- db.Update(context.Background(), func(domain.Tx) error {
			runtimeGoexit()
			return nil
		})
	}()
	if err := <-done; !errors.Is(err, errGoexit) {
		t.Fatalf("Update with Goexit: %v", err)
	}
	if err := db.Update(context.Background(), createOrg("org_after")); err != nil || !orgExists(t, db, "org_after") {
		t.Fatalf("Update after a Goexit: %v", err)
	}
}

// TestCloseConcurrently does not panic.
func TestCloseConcurrently(t *testing.T) {
	db := migratedDB(t)
	done := make(chan struct{})
	for range 4 {
		go func() { db.stopWriter(); done <- struct{}{} }()
	}
	for range 4 {
		<-done
	}
}

var runtimeGoexit = runtime.Goexit
