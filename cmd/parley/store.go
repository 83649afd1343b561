package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
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
	// sqliteSync is SQLite's synchronous setting, full or normal; nil
	// means full.
	sqliteSync *string
	flags      *flagSet // says where --data came from
}

func addStoreFlags(f *flagSet) storeFlags {
	return storeFlags{
		flags: f,
		data: f.String("data", "PARLEY_DATA", "./parley-data",
			"data directory: the SQLite database ("+sqliteFileName+") and the development operator key"),
		database: f.String("database", "PARLEY_DATABASE_URL", "",
			"PostgreSQL URL (postgres://...) to use instead of SQLite in the data directory"),
		sqliteSync: addSQLiteSyncFlag(f, "PARLEY_SQLITE_SYNC"),
	}
}

// addSQLiteSyncFlag adds --sqlite-sync, read from env unless env is "".
func addSQLiteSyncFlag(f *flagSet, env string) *string {
	return f.String("sqlite-sync", env, string(sqlite.SyncFull),
		"SQLite durability: full (every commit synced: an acknowledged write survives a power loss) or normal "+
			"(faster commits; survives a process crash, a power loss may lose the last acknowledged writes)")
}

// sync returns the SQLite synchronous setting.
func (s storeFlags) sync() sqlite.Synchronous {
	if s.sqliteSync == nil {
		return sqlite.SyncFull
	}
	sync, err := sqlite.ParseSynchronous(*s.sqliteSync)
	if err != nil {
		return sqlite.SyncFull // check refused it already
	}
	return sync
}

// check validates the flags. Errors are usage errors.
func (s storeFlags) check() error {
	if strings.TrimSpace(*s.data) == "" {
		return usagef("--data must not be empty")
	}
	if db := *s.database; db != "" && !isPostgresURL(db) {
		return usagef("--database must be a postgres:// or postgresql:// URL or a PostgreSQL keyword/value string (leave it empty for SQLite in --data)")
	}
	if s.sqliteSync != nil && !validSQLiteSync(*s.sqliteSync) {
		return usagef("--sqlite-sync must be full or normal, got %q", *s.sqliteSync)
	}
	return nil
}

func validSQLiteSync(v string) bool {
	_, err := sqlite.ParseSynchronous(v)
	return err == nil
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
		return "SQLite " + filepath.Join(*s.data, sqliteFileName) + " (synchronous=" + string(s.sync()) + ")"
	case hasPostgresScheme(db):
		if u, err := url.Parse(db); err == nil {
			return "PostgreSQL " + u.Redacted()
		}
	}
	return "PostgreSQL"
}

// open opens the store and applies its migrations. The data directory is
// created (mode 0700) when missing, since it also holds the development
// key: only serve and migrate call it.
func (s storeFlags) open(ctx context.Context) (domain.Store, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(*s.data, 0o700); err != nil {
		return nil, fmt.Errorf("creating the data directory: %w", err)
	}
	return s.openStore(ctx)
}

// openExisting opens the store of an admin command: its database must
// exist already, so that a command run from another directory says where
// it looked instead of starting a database the server never sees.
func (s storeFlags) openExisting(ctx context.Context) (domain.Store, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if *s.database == "" {
		if err := s.requireFile(filepath.Join(*s.data, sqliteFileName), "Parley database"); err != nil {
			return nil, err
		}
	}
	return s.openStore(ctx)
}

// requireDataDir fails, naming the directory and where its name came from,
// when the data directory does not exist.
func (s storeFlags) requireDataDir() error {
	return s.requireFile(*s.data, "data directory")
}

// requireFile fails when path, a file or directory of the data directory
// called what, does not exist.
func (s storeFlags) requireFile(path, what string) error {
	_, err := os.Stat(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	abs, absErr := filepath.Abs(path)
	if absErr != nil {
		abs = path
	}
	return fmt.Errorf("no %s at %s (the data directory %q comes from %s): run the command where 'parley serve' keeps its data, "+
		"or give --data (PARLEY_DATA); only 'parley serve' and 'parley migrate' create one", what, abs, *s.data, s.flags.source("data"))
}

// openStore opens the store and applies its migrations.
func (s storeFlags) openStore(ctx context.Context) (domain.Store, error) {
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
		store, err = sqlite.Open(ctx, filepath.Join(*s.data, sqliteFileName), sqlite.WithSynchronous(s.sync()))
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
