// Package postgres is the PostgreSQL storage backend (jackc/pgx v5 pool)
// for running several stateless Parley processes on one database. It
// implements domain.Store; migrations are embedded and applied with goose.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/parleyhq/parley/domain"
)

// DefaultMaxConns is the pool size used when the URL has no pool_max_conns.
const DefaultMaxConns = 10

// defaultConnectTimeout bounds a connection attempt when the URL sets no
// connect_timeout, so an unreachable server answers "unavailable" quickly
// instead of holding requests until their deadline.
const defaultConnectTimeout = 5 * time.Second

//go:embed migrations/*.sql
var embeddedMigrations embed.FS

// DB is a PostgreSQL-backed domain.Store. It is safe for concurrent use.
type DB struct {
	pool       *pgxpool.Pool
	sqlDB      *sql.DB // goose's view of the pool
	migrations *goose.Provider
	notes      listener  // LISTEN connection behind Subscribe
	publisher  publisher // NOTIFY of committed transactions' notifications
	// conflicts counts the transaction attempts that failed on a transient
	// conflict (deadlock, raced unique key) and ran again.
	conflicts atomic.Int64
}

// Conflicts returns how many transaction attempts failed on a transient
// conflict (a deadlock or a raced unique key) and were run again since
// Open; tests use it to show that work which should never wait in a
// cycle does not.
func (db *DB) Conflicts() int64 { return db.conflicts.Load() }

var _ domain.Store = (*DB)(nil)

// Open connects a pool to the database at url (postgres://... or a
// keyword/value string). Pool settings come from the URL's pool_* parameters
// (pool_max_conns, pool_min_conns, ...); without pool_max_conns the pool
// holds at most DefaultMaxConns connections. Open pings the server; it does
// not migrate.
func Open(ctx context.Context, url string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse url: %w", err)
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: ping: %w", err)
	}
	db := &DB{pool: pool, sqlDB: stdlib.OpenDBFromPool(pool)}
	if db.migrations, err = newMigrationProvider(db.sqlDB); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// newMigrationProvider returns a goose provider over the embedded
// migrations. Its session locker holds a PostgreSQL advisory lock while
// migrating, so a second process migrating at the same time waits (probing
// every second, for up to five minutes) instead of failing.
func newMigrationProvider(sqlDB *sql.DB) (*goose.Provider, error) {
	fsys, err := fs.Sub(embeddedMigrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("postgres: migrations: %w", err)
	}
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
	if err != nil {
		return nil, fmt.Errorf("postgres: migration locker: %w", err)
	}
	// Each stream of work owns migration numbers, so a migration may land
	// after a higher-numbered one was applied: apply it too.
	provider, err := goose.NewProvider(goose.DialectPostgres, sqlDB, fsys, goose.WithSessionLocker(locker),
		goose.WithAllowOutofOrder(true))
	if err != nil {
		return nil, fmt.Errorf("postgres: migrations: %w", err)
	}
	return provider, nil
}

// Migrate applies every pending embedded migration. Concurrent callers,
// in this process or others, wait for each other on goose's advisory lock;
// migrating an up-to-date database does nothing.
func (db *DB) Migrate(ctx context.Context) error {
	if _, err := db.migrations.Up(ctx); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	return nil
}

// Ready returns nil when the server answers and every embedded migration
// has been applied; an error with CodeInternal ("database not migrated")
// when one is pending, or the driver's error when the server does not
// answer. It writes nothing (not even goose's version table).
func (db *DB) Ready(ctx context.Context) error {
	if err := db.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	var hasVersionTable bool
	if err := db.pool.QueryRow(ctx, `SELECT to_regclass('goose_db_version') IS NOT NULL`).Scan(&hasVersionTable); err != nil {
		return fmt.Errorf("postgres: readiness: %w", err)
	}
	if !hasVersionTable {
		return notMigrated()
	}
	rows, err := db.pool.Query(ctx, `SELECT version_id FROM goose_db_version WHERE is_applied`)
	if err != nil {
		return fmt.Errorf("postgres: readiness: %w", err)
	}
	applied := map[int64]bool{}
	for rows.Next() {
		var version int64
		if err := rows.Scan(&version); err != nil {
			rows.Close()
			return fmt.Errorf("postgres: readiness: %w", err)
		}
		applied[version] = true
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("postgres: readiness: %w", err)
	}
	for _, source := range db.migrations.ListSources() {
		if !applied[source.Version] {
			return notMigrated()
		}
	}
	return nil
}

func notMigrated() error { return domain.Errorf(domain.CodeInternal, "database not migrated") }

// Close sends the notifications waiting to be sent and closes the pool.
func (db *DB) Close() error {
	db.publisher.close()
	db.notes.close()
	err := db.sqlDB.Close()
	db.pool.Close()
	return err
}
