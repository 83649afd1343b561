// Package pgtestdb gives each test a fresh PostgreSQL database of its own
// on the server named by PARLEY_TEST_POSTGRES. It is test support, used by
// the tests of package postgres and by the multi-process end-to-end test.
package pgtestdb

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

// EnvURL names the environment variable holding the URL of a PostgreSQL
// server for tests, e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable.
const EnvURL = "PARLEY_TEST_POSTGRES"

// New creates an empty database of its own on the server named
// by PARLEY_TEST_POSTGRES and returns its URL; the database is dropped
// (WITH (FORCE)) when the test ends. It skips the test when the variable is
// unset, so tests using it can run in parallel and anywhere.
func New(t testing.TB) string {
	t.Helper()
	adminURL := os.Getenv(EnvURL)
	if adminURL == "" {
		t.Skipf("%s is not set; skipping PostgreSQL test", EnvURL)
	}
	u, err := url.Parse(adminURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("%s must be a postgres:// URL: %q", EnvURL, adminURL)
	}
	suffix := make([]byte, 8)
	_, _ = rand.Read(suffix)
	name := "parley_test_" + hex.EncodeToString(suffix)

	adminExec(t, adminURL, `CREATE DATABASE `+name)
	t.Cleanup(func() { adminExec(t, adminURL, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`) })

	u.Path = "/" + name
	return u.String()
}

// adminExec runs one statement on a short-lived connection to adminURL.
func adminExec(t testing.TB, adminURL, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		t.Fatalf("connect to %s: %v", EnvURL, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}
