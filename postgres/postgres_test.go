package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
// session and write it back incremented. At READ COMMITTED only the lock
// makes that safe: with LockConversation every increment survives; the
// same loop without it loses some (which shows the test can fail).
func TestNoLostUpdates(t *testing.T) {
	t.Parallel()
	for _, locked := range []bool{true, false} {
		t.Run(fmt.Sprintf("locked=%v", locked), func(t *testing.T) {
			t.Parallel()
			db := OpenTestStore(t)
			ctx := context.Background()
			org := createOrg(t, db, "org_counter")
			conv := seedConversation(t, db, org, "conv_counter")
			const workers, increments = 8, 10
			var wg sync.WaitGroup
			for range workers {
				wg.Go(func() {
					for range increments {
						err := db.Update(ctx, func(tx domain.Tx) error {
							if locked {
								if _, err := tx.LockConversation(ctx, org, conv.ID); err != nil {
									return err
								}
							}
							s, err := tx.GetSession(ctx, org, conv.SessionID)
							if err != nil {
								return err
							}
							time.Sleep(time.Millisecond) // let the others read the same value
							s.Variables["count"] = s.Variables["count"].(float64) + 1
							return tx.SetSessionVariables(ctx, org, s.ID, s.Variables, epoch)
						})
						if err != nil {
							t.Errorf("increment: %v", err)
						}
					}
				})
			}
			wg.Wait()
			var got domain.Session
			if err := db.View(ctx, func(tx domain.Tx) (err error) {
				got, err = tx.GetSession(ctx, org, conv.SessionID)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			count := got.Variables["count"]
			switch {
			case locked && count != float64(workers*increments):
				t.Errorf("count = %v, want all %d acknowledged increments", count, workers*increments)
			case !locked && count == float64(workers*increments):
				t.Errorf("count = %v without the lock: expected lost updates (is the isolation level READ COMMITTED?)", count)
			}
		})
	}
}

// seedConversation creates a deployed conversation with its session
// (variable count = 0) in org.
func seedConversation(t *testing.T, db *DB, org domain.OrgID, id domain.ConversationID) domain.Conversation {
	t.Helper()
	ctx := context.Background()
	conv := domain.Conversation{ID: id, OrgID: org, DeploymentID: "dep_1", AppID: "app_1", ResourceID: "res_1",
		CustomerID: "cus_1", SessionID: domain.SessionID("ses_" + id), Status: domain.StatusLive,
		CustomerDestination: "web-1", StartedAt: epoch}
	update(t, db, func(tx domain.Tx) error {
		steps := []func() error{
			func() error {
				return tx.CreateApp(ctx, domain.App{ID: "app_1", OrgID: org, Name: "a", CreatedAt: epoch})
			},
			func() error {
				return tx.CreateVersion(ctx, domain.AppVersion{ID: "ver_1", OrgID: org, AppID: "app_1", Number: 1, Definition: []byte("{}"), CreatedAt: epoch})
			},
			func() error {
				return tx.CreateDeployment(ctx, domain.Deployment{ID: "dep_1", OrgID: org, AppID: "app_1", VersionID: "ver_1", Environment: domain.EnvProduction, PublishedAt: epoch})
			},
			func() error {
				return tx.CreateResource(ctx, domain.ChannelResource{ID: "res_1", OrgID: org, Kind: domain.ResourceWebChat, Name: "w", Address: "w", CreatedAt: epoch})
			},
			func() error {
				return tx.CreateCustomer(ctx, domain.Customer{ID: "cus_1", OrgID: org, CreatedAt: epoch})
			},
			func() error { return tx.CreateConversation(ctx, conv) },
			func() error {
				return tx.CreateSession(ctx, domain.Session{ID: conv.SessionID, OrgID: org, ConversationID: id, Variables: map[string]any{"count": 0.0}, UpdatedAt: epoch})
			},
		}
		for _, step := range steps {
			if err := step(); err != nil {
				return err
			}
		}
		return nil
	})
	return conv
}

// TestEventFeedWaitsForOlderWriters: appending an event takes no lock (a
// second writer commits while the first is still open), but the feed
// shows the second writer's event only once the first, older writer has
// ended, so a reader never passes over the first one's event.
func TestEventFeedWaitsForOlderWriters(t *testing.T) {
	t.Parallel()
	db := OpenTestStore(t)
	ctx := context.Background()
	org := createOrg(t, db, "org_events")
	event := func(subject string) domain.Event {
		return domain.Event{OrgID: org, Type: domain.EventMessageReceived, Subject: subject, Payload: map[string]any{}, CreatedAt: epoch}
	}
	list := func() []string {
		var events []domain.Event
		if err := db.View(ctx, func(tx domain.Tx) (err error) {
			events, err = tx.ListEvents(ctx, org, 0, 0)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		var subjects []string
		for i, e := range events {
			if i > 0 && e.Seq <= events[i-1].Seq {
				t.Fatalf("events out of order: %+v", events)
			}
			subjects = append(subjects, e.Subject)
		}
		return subjects
	}

	first, err := db.begin(ctx, beginUpdate)
	if err != nil {
		t.Fatal(err)
	}
	defer first.release()
	if err := first.AppendEvent(ctx, event("first")); err != nil {
		t.Fatal(err)
	}
	if err := first.flush(ctx); err != nil {
		t.Fatal(err)
	}
	// The second writer does not wait for the first.
	update(t, db, func(tx domain.Tx) error { return tx.AppendEvent(ctx, event("second")) })
	if got := list(); len(got) != 0 {
		t.Fatalf("feed while the first writer is open = %v, want nothing yet (the first event would be skipped)", got)
	}
	if err := first.commit(ctx); err != nil {
		t.Fatal(err)
	}
	// The horizon is the oldest writing transaction of the whole server,
	// and other tests write at the same time: wait for theirs to end.
	waitForFeed(t, list, []string{"first", "second"})
	// A writer that rolls back leaves no event and does not hold the feed.
	aborted, err := db.begin(ctx, beginUpdate)
	if err != nil {
		t.Fatal(err)
	}
	if err := aborted.AppendEvent(ctx, event("aborted")); err != nil {
		t.Fatal(err)
	}
	if err := aborted.flush(ctx); err != nil {
		t.Fatal(err)
	}
	update(t, db, func(tx domain.Tx) error { return tx.AppendEvent(ctx, event("third")) })
	aborted.release()
	waitForFeed(t, list, []string{"first", "second", "third"})
}

// waitForFeed polls list until it returns want, for up to 30 s.
func waitForFeed(t *testing.T, list func() []string, want []string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := list()
		if slices.Equal(got, want) {
			return
		}
		if len(got) > len(want) || !slices.Equal(got, want[:len(got)]) || time.Now().After(deadline) {
			t.Fatalf("feed = %v, want %v", got, want)
		}
		time.Sleep(10 * time.Millisecond)
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

func TestAutovacuumSetting(t *testing.T) {
	t.Parallel()
	db := OpenTestStore(t)
	ctx := context.Background()
	var setting string
	if err := db.pool.QueryRow(ctx, `SHOW autovacuum`).Scan(&setting); err != nil {
		t.Fatal(err)
	}
	on, err := db.Autovacuum(ctx)
	if err != nil || on != (setting == "on") {
		t.Fatalf("Autovacuum() = %v, %v; SHOW autovacuum says %q", on, err, setting)
	}
}
