package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/postgres/pgtestdb"
	"github.com/parleyhq/parley/storetest"
)

var epoch = time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC)

func TestStoreContract(t *testing.T) {
	storetest.RunContract(t, func(t testing.TB) domain.Store { return OpenTestStore(t) })
}

// TestIdentifierRace runs the service-level identifier races with every
// racer on its own pool, as separate server processes would be.
func TestIdentifierRace(t *testing.T) {
	storetest.RunIdentifierRace(t, func(t testing.TB, n int) []domain.Store {
		stores := make([]domain.Store, n)
		for i, db := range OpenTestStores(t, n) {
			stores[i] = db
		}
		return stores
	})
}

func TestMigrateTwice(t *testing.T) {
	t.Parallel()
	db := OpenTestStore(t) // migrates once
	ctx := context.Background()
	if err := db.Migrate(ctx); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if err := db.Ready(ctx); err != nil {
		t.Fatalf("Ready after migrating twice: %v", err)
	}
}

func TestConcurrentMigrateWaitsForLock(t *testing.T) {
	t.Parallel()
	databaseURL := pgtestdb.New(t)
	ctx := context.Background()
	// Two pools stand for two server processes starting at once.
	dbs := []*DB{openDB(t, databaseURL), openDB(t, databaseURL)}
	errs := make([]error, len(dbs))
	var wg sync.WaitGroup
	for i, db := range dbs {
		wg.Go(func() { errs[i] = db.Migrate(ctx) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Migrate in process %d: %v", i, err)
		}
	}
	var applications int
	err := dbs[0].pool.QueryRow(ctx, `SELECT count(*) FROM goose_db_version WHERE version_id = 1`).Scan(&applications)
	if err != nil {
		t.Fatal(err)
	}
	if applications != 1 {
		t.Errorf("migration 1 recorded %d times, want once", applications)
	}
	if err := dbs[1].Ready(ctx); err != nil {
		t.Errorf("Ready: %v", err)
	}
}

func TestReadyFailsBeforeMigrate(t *testing.T) {
	t.Parallel()
	db := openDB(t, pgtestdb.New(t))
	ctx := context.Background()
	err := db.Ready(ctx)
	if domain.ErrorCode(err) != domain.CodeInternal {
		t.Fatalf("Ready before Migrate = %v, want a %s error", err, domain.CodeInternal)
	}
	var versionTable *string
	if err := db.pool.QueryRow(ctx, `SELECT to_regclass('goose_db_version')::text`).Scan(&versionTable); err != nil {
		t.Fatal(err)
	}
	if versionTable != nil {
		t.Errorf("Ready created %s; it must not write", *versionTable)
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.Ready(ctx); err != nil {
		t.Errorf("Ready after Migrate: %v", err)
	}
}

func TestRetryableClassifiesBySQLSTATE(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"serialization failure", &pgconn.PgError{Code: "40001"}, true},
		{"deadlock", &pgconn.PgError{Code: "40P01"}, true},
		{"unique violation", &pgconn.PgError{Code: "23505"}, true},
		{"wrapped serialization failure", fmt.Errorf("commit: %w", &pgconn.PgError{Code: "40001"}), true},
		{"foreign key violation", &pgconn.PgError{Code: "23503"}, false},
		{"not null violation", &pgconn.PgError{Code: "23502"}, false},
		{"in failed transaction", &pgconn.PgError{Code: "25P02"}, false},
		{"message mentions a conflict", errors.New("could not serialize access: 40001"), false},
		{"nil", nil, false},
	}
	for _, tt := range tests {
		if got := retryable(tt.err); got != tt.want {
			t.Errorf("%s: retryable(%v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}

func TestUpdateRetries(t *testing.T) {
	t.Parallel()
	db := OpenTestStore(t)
	ctx := context.Background()
	org := createOrg(t, db, "org_retries")
	taken := domain.Customer{ID: "cus_taken", OrgID: org, Identifier: "tel:+15550100000", IdentifierSince: epoch, CreatedAt: epoch}
	update(t, db, func(tx domain.Tx) error { return tx.CreateCustomer(ctx, taken) })
	businessErr := domain.Errorf(domain.CodeIdentifierTaken, "taken")

	tests := []struct {
		name      string
		fn        func(tx domain.Tx, call int) error
		wantCalls int
		wantCode  string // "" for success
		wantErr   error  // when set, Update must return exactly this error
	}{
		{
			name:      "unique violation is retried until attempts run out",
			fn:        func(tx domain.Tx, _ int) error { return tx.CreateCustomer(ctx, taken) },
			wantCalls: maxAttempts,
			wantCode:  domain.CodeConflict,
		},
		{
			name: "swallowed unique violation is still retried",
			fn: func(tx domain.Tx, _ int) error {
				_ = tx.CreateCustomer(ctx, taken)
				return nil
			},
			wantCalls: maxAttempts,
			wantCode:  domain.CodeConflict,
		},
		{
			name: "transient conflict then success",
			fn: func(tx domain.Tx, call int) error {
				c := taken
				if call > 1 {
					c = domain.Customer{ID: "cus_second", OrgID: org, CreatedAt: epoch}
				}
				return tx.CreateCustomer(ctx, c)
			},
			wantCalls: 2,
		},
		{
			name: "foreign key violation is not retried",
			fn: func(tx domain.Tx, _ int) error {
				return tx.CreateAPIKey(ctx, domain.APIKey{ID: "key_x", OrgID: "org_missing", Hash: []byte{1}, CreatedAt: epoch})
			},
			wantCalls: 1,
			wantCode:  domain.CodeInternal,
		},
		{
			name:      "domain error passes through untouched",
			fn:        func(domain.Tx, int) error { return businessErr },
			wantCalls: 1,
			wantCode:  domain.CodeIdentifierTaken,
			wantErr:   businessErr,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			err := db.Update(ctx, func(tx domain.Tx) error {
				calls++
				return tt.fn(tx, calls)
			})
			if calls != tt.wantCalls {
				t.Errorf("fn ran %d times, want %d", calls, tt.wantCalls)
			}
			if got := domain.ErrorCode(err); got != tt.wantCode {
				t.Errorf("Update error = %v (code %q), want code %q", err, got, tt.wantCode)
			}
			if tt.wantErr != nil && err != tt.wantErr {
				t.Errorf("Update returned %#v, want the very error fn returned", err)
			}
		})
	}
}

// TestConcurrentSameIdentifier races 100 transactions that each give a new
// customer the same identifier: exactly one may win.
func TestConcurrentSameIdentifier(t *testing.T) {
	t.Parallel()
	const writers = 100
	const identifier = "mailto:ada@example.com"
	claim := func(ctx context.Context, tx domain.Tx, org domain.OrgID, id domain.CustomerID, checkFirst bool) error {
		if checkFirst {
			iv, found, err := tx.LatestInterval(ctx, org, identifier)
			if err != nil {
				return err
			}
			if found && iv.ValidTo == nil {
				return domain.Errorf(domain.CodeIdentifierTaken, "identifier is taken").WithDetail("holderCustomerId", iv.CustomerID)
			}
		}
		c := domain.Customer{ID: id, OrgID: org, Identifier: identifier, IdentifierSince: epoch, CreatedAt: epoch}
		if err := tx.CreateCustomer(ctx, c); err != nil {
			return err
		}
		return tx.OpenInterval(ctx, domain.IdentifierInterval{OrgID: org, CustomerID: id, Identifier: identifier, ValidFrom: epoch})
	}
	for _, checkFirst := range []bool{true, false} {
		t.Run(fmt.Sprintf("read before write %v", checkFirst), func(t *testing.T) {
			t.Parallel()
			db := OpenTestStore(t)
			ctx := context.Background()
			org := createOrg(t, db, "org_race")
			errs := make([]error, writers)
			var wg sync.WaitGroup
			for i := range writers {
				wg.Go(func() {
					id := domain.CustomerID(fmt.Sprintf("cus_%03d", i))
					errs[i] = db.Update(ctx, func(tx domain.Tx) error { return claim(ctx, tx, org, id, checkFirst) })
				})
			}
			wg.Wait()
			winners := 0
			for i, err := range errs {
				switch domain.ErrorCode(err) {
				case "":
					winners++
				case domain.CodeConflict, domain.CodeIdentifierTaken:
				default:
					t.Errorf("writer %d: unexpected error %v", i, err)
				}
			}
			if winners != 1 {
				t.Errorf("%d writers succeeded, want exactly 1", winners)
			}
			assertCount(t, db, 1, `SELECT count(*) FROM customers WHERE org_id = $1 AND identifier = $2`, org, identifier)
			assertCount(t, db, 1, `SELECT count(*) FROM identifier_intervals WHERE org_id = $1 AND identifier = $2`, org, identifier)
		})
	}
}

// TestNoLostUpdates has concurrent transactions read a counter from a
// session and write it back incremented: SERIALIZABLE plus retries must
// keep every acknowledged increment.
func TestNoLostUpdates(t *testing.T) {
	t.Parallel()
	db := OpenTestStore(t)
	ctx := context.Background()
	org := createOrg(t, db, "org_counter")
	session := domain.Session{ID: "ses_counter", OrgID: org, ConversationID: "conv_counter", Variables: map[string]any{"count": 0.0}, UpdatedAt: epoch}
	update(t, db, func(tx domain.Tx) error { return tx.CreateSession(ctx, session) })

	const workers, increments = 8, 10
	var mu sync.Mutex
	acknowledged := 0
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range increments {
				err := db.Update(ctx, func(tx domain.Tx) error {
					s, err := tx.GetSession(ctx, org, session.ID)
					if err != nil {
						return err
					}
					s.Variables["count"] = s.Variables["count"].(float64) + 1
					return tx.SetSessionVariables(ctx, org, s.ID, s.Variables, epoch)
				})
				switch domain.ErrorCode(err) {
				case "":
					mu.Lock()
					acknowledged++
					mu.Unlock()
				case domain.CodeConflict:
				default:
					t.Errorf("increment: %v", err)
				}
			}
		})
	}
	wg.Wait()
	var got domain.Session
	if err := db.View(ctx, func(tx domain.Tx) (err error) {
		got, err = tx.GetSession(ctx, org, session.ID)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if count := got.Variables["count"]; count != float64(acknowledged) {
		t.Errorf("count = %v, want %d acknowledged increments", count, acknowledged)
	}
	if acknowledged == 0 {
		t.Error("no increment succeeded")
	}
}

// TestEventsCommitInSeqOrder checks that a transaction appending an event
// waits for an earlier, still open, appender of the same org, so events
// become visible in Seq order and an "after" cursor never skips one.
func TestEventsCommitInSeqOrder(t *testing.T) {
	t.Parallel()
	db := OpenTestStore(t)
	ctx := context.Background()
	org := createOrg(t, db, "org_events")
	event := func(subject string) domain.Event {
		return domain.Event{OrgID: org, Type: domain.EventMessageReceived, Subject: subject, Payload: map[string]any{}, CreatedAt: epoch}
	}

	first, err := db.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Rollback(ctx) //nolint:errcheck // committed below
	firstTx := &tx{pg: first}
	if err := firstTx.AppendEvent(ctx, event("first")); err != nil {
		t.Fatal(err)
	}

	secondDone := make(chan error, 1)
	go func() {
		secondDone <- db.Update(ctx, func(tx domain.Tx) error { return tx.AppendEvent(ctx, event("second")) })
	}()
	// Wait until the second appender blocks on the first one's lock; it
	// must not commit while the first transaction is open.
	for waiting := false; !waiting; {
		select {
		case err := <-secondDone:
			t.Fatalf("second appender committed (err %v) while the first was still open", err)
		default:
		}
		err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks
			WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))`).Scan(&waiting)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond) // poll interval, not an assertion
	}
	if err := first.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-secondDone; err != nil {
		t.Fatal(err)
	}
	var events []domain.Event
	if err := db.View(ctx, func(tx domain.Tx) (err error) {
		events, err = tx.ListEvents(ctx, org, 0, 0)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(events) != 2 || events[0].Subject != "first" || events[1].Subject != "second" || events[0].Seq >= events[1].Seq {
		t.Errorf("events = %+v, want first then second with increasing Seq", events)
	}
}

// TestJSONKeepsNUL records a run whose input holds a NUL character, as a
// rejected identifier can: the document must round-trip (jsonb would refuse
// it).
func TestJSONKeepsNUL(t *testing.T) {
	t.Parallel()
	db := OpenTestStore(t)
	ctx := context.Background()
	run := domain.OperationRun{ID: "run_nul", OrgID: "org_nul", Kind: domain.KindDataOperation, Name: "find",
		Inputs: map[string]any{"customerIdentifier": "ann\x00"}, Variable: "conversation-ids", Output: []any{},
		ErrorCode: domain.CodeIdentifierInvalid, StartedAt: epoch}
	update(t, db, func(tx domain.Tx) error { return tx.RecordRun(ctx, run) })
	var got domain.OperationRun
	if err := db.View(ctx, func(tx domain.Tx) (err error) {
		got, err = tx.GetRun(ctx, run.OrgID, run.ID)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if got.Inputs["customerIdentifier"] != "ann\x00" {
		t.Errorf("inputs = %q, want the NUL kept", got.Inputs)
	}
}

func TestViewIsReadOnly(t *testing.T) {
	t.Parallel()
	db := OpenTestStore(t)
	ctx := context.Background()
	err := db.View(ctx, func(tx domain.Tx) error {
		return tx.CreateOrg(ctx, domain.Organization{ID: "org_view", Name: "view", CreatedAt: epoch})
	})
	if sqlstate(err) != "25006" { // read_only_sql_transaction
		t.Errorf("write in View = %v, want SQLSTATE 25006", err)
	}
}

func openDB(t *testing.T, databaseURL string) *DB {
	t.Helper()
	db, err := Open(context.Background(), databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func createOrg(t *testing.T, db *DB, id domain.OrgID) domain.OrgID {
	t.Helper()
	update(t, db, func(tx domain.Tx) error {
		return tx.CreateOrg(context.Background(), domain.Organization{ID: id, Name: string(id), CreatedAt: epoch})
	})
	return id
}

func update(t *testing.T, db *DB, fn func(domain.Tx) error) {
	t.Helper()
	if err := db.Update(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

func assertCount(t *testing.T, db *DB, want int, sql string, args ...any) {
	t.Helper()
	var got int
	if err := db.pool.QueryRow(context.Background(), sql, args...).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("%s = %d, want %d", sql, got, want)
	}
}
