package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/postgres"
	"github.com/parleyhq/parley/sqlite"
)

// sqliteFileName is the database file inside the data directory.
const sqliteFileName = "parley.db"

// storeFlags selects the store: SQLite in the data directory unless a
// PostgreSQL URL is given.
type storeFlags struct {
	data     *string
	database *string
}

func addStoreFlags(f *flagSet) storeFlags {
	return storeFlags{
		data: f.String("data", "PARLEY_DATA", "./parley-data",
			"data directory: the SQLite database ("+sqliteFileName+") and the development operator key"),
		database: f.String("database", "PARLEY_DATABASE_URL", "",
			"PostgreSQL URL (postgres://...) to use instead of SQLite in the data directory"),
	}
}

// check validates the flags. Errors are usage errors.
func (s storeFlags) check() error {
	if strings.TrimSpace(*s.data) == "" {
		return usagef("--data must not be empty")
	}
	if db := *s.database; db != "" && !isPostgresURL(db) {
		return usagef("--database must be a postgres:// or postgresql:// URL or a PostgreSQL keyword/value string (leave it empty for SQLite in --data)")
	}
	return nil
}

// isPostgresURL accepts postgres:// and postgresql:// URLs and libpq
// keyword/value strings ("host=db dbname=parley"), and refuses URLs of any
// other scheme.
func isPostgresURL(s string) bool {
	if hasPostgresScheme(s) {
		return true
	}
	return !strings.Contains(s, "://") && strings.Contains(s, "=")
}

func hasPostgresScheme(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// describe names the store for logs, without the database password.
func (s storeFlags) describe() string {
	db := *s.database
	switch {
	case db == "":
		return "SQLite " + filepath.Join(*s.data, sqliteFileName)
	case hasPostgresScheme(db):
		if u, err := url.Parse(db); err == nil {
			return "PostgreSQL " + u.Redacted()
		}
	}
	return "PostgreSQL"
}

// open opens the store and applies its migrations. The data directory is
// created (mode 0700) when missing, since it also holds the development key.
func (s storeFlags) open(ctx context.Context) (domain.Store, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(*s.data, 0o700); err != nil {
		return nil, fmt.Errorf("creating the data directory: %w", err)
	}
	var (
		store interface {
			domain.Store
			Migrate(context.Context) error
		}
		err error
	)
	if *s.database != "" {
		store, err = postgres.Open(ctx, *s.database)
	} else {
		store, err = sqlite.Open(ctx, filepath.Join(*s.data, sqliteFileName))
	}
	if err != nil {
		return nil, err
	}
	if err := store.Migrate(ctx); err != nil {
		store.Close()
		return nil, fmt.Errorf("migrating %s: %w", s.describe(), err)
	}
	return store, nil
}
