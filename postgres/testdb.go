package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestURLEnv names the environment variable holding the URL of a PostgreSQL
// server for tests, e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable.
const TestURLEnv = "PARLEY_TEST_POSTGRES"

// NewTestDatabase creates an empty database of its own on the server named
// by PARLEY_TEST_POSTGRES and returns its URL; the database is dropped
// (WITH (FORCE)) when the test ends. It skips the test when the variable is
// unset, so tests using it can run in parallel and anywhere.
func NewTestDatabase(t testing.TB) string {
	t.Helper()
	adminURL := os.Getenv(TestURLEnv)
	if adminURL == "" {
		t.Skipf("%s is not set; skipping PostgreSQL test", TestURLEnv)
	}
	u, err := url.Parse(adminURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("%s must be a postgres:// URL: %q", TestURLEnv, adminURL)
	}
	suffix := make([]byte, 8)
	_, _ = rand.Read(suffix)
	name := "parley_test_" + hex.EncodeToString(suffix)

	adminExec(t, adminURL, `CREATE DATABASE `+name)
	t.Cleanup(func() { adminExec(t, adminURL, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`) })

	u.Path = "/" + name
	return u.String()
}

// OpenTestStore returns a migrated store on a fresh test database (see
// NewTestDatabase), closed when the test ends.
func OpenTestStore(t testing.TB) *DB {
	t.Helper()
	return OpenTestStores(t, 1)[0]
}

// OpenTestStores returns n stores on one fresh, migrated test database, as
// n server processes would open it; each is closed when the test ends.
func OpenTestStores(t testing.TB, n int) []*DB {
	t.Helper()
	databaseURL := NewTestDatabase(t)
	ctx := context.Background()
	stores := make([]*DB, n)
	for i := range stores {
		db, err := Open(ctx, databaseURL)
		if err != nil {
			t.Fatalf("open test store: %v", err)
		}
		t.Cleanup(func() { _ = db.Close() })
		stores[i] = db
	}
	if err := stores[0].Migrate(ctx); err != nil {
		t.Fatalf("migrate test store: %v", err)
	}
	return stores
}

// adminExec runs one statement on a short-lived connection to adminURL.
func adminExec(t testing.TB, adminURL, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		t.Fatalf("connect to %s: %v", TestURLEnv, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}
