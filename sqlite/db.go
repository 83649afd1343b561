package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/pressly/goose/v3"
	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/notify"
)

//go:embed migrations/*.sql
var embeddedMigrations embed.FS

// maxAttempts bounds how many times Update runs its function.
const maxAttempts = 8

// Synchronous is SQLite's synchronous setting, how hard a commit waits for
// the disk (https://www.sqlite.org/pragma.html#pragma_synchronous). In WAL
// mode:
//   - SyncFull, the default, syncs the WAL at every commit: an acknowledged
//     write survives a process crash and a power loss or OS crash.
//   - SyncNormal syncs only at checkpoints: faster commits; an acknowledged
//     write survives a process crash, but a power loss or OS crash may lose
//     the last ones (the file is never corrupted).
type Synchronous string

const (
	SyncFull   Synchronous = "full"
	SyncNormal Synchronous = "normal"
)

// ParseSynchronous reads "full" or "normal" (any case).
func ParseSynchronous(s string) (Synchronous, error) {
	switch v := Synchronous(strings.ToLower(strings.TrimSpace(s))); v {
	case SyncFull, SyncNormal:
		return v, nil
	}
	return "", fmt.Errorf("sqlite: synchronous must be full or normal, not %q", s)
}

// Option configures Open.
type Option func(*options)

type options struct {
	sync Synchronous
}

// WithSynchronous sets the synchronous setting of every connection; the
// default is SyncFull.
func WithSynchronous(s Synchronous) Option { return func(o *options) { o.sync = s } }

// pragmas are applied by the driver to every new connection, in order.
// busy_timeout comes first so that switching to WAL waits for other
// connections instead of failing.
func pragmas(sync Synchronous) []string {
	return []string{
		"busy_timeout(10000)",
		"journal_mode(WAL)",
		"synchronous(" + strings.ToUpper(string(sync)) + ")",
		"foreign_keys(1)",
		// Savepoints (group commit) journal the pages they change; in
		// memory, not in a temporary file.
		"temp_store(MEMORY)",
	}
}

// DB is a Parley store on one SQLite file. It implements domain.Store and is
// safe for concurrent use.
type DB struct {
	path   string // absolute path of the database file
	writer *pool
	reader *pool
	// migrator runs migrations on the writer; checker inspects the goose
	// version table through the read pool without ever writing to it.
	migrator *goose.Provider
	checker  *goose.Provider
	// writes runs Update requests in batches on the writer (writer.go).
	writes *writer
	// notes delivers committed notifications in this process.
	notes notify.Hub
}

var _ domain.Store = (*DB)(nil)

// Open opens (creating it and its parent directory when missing) the
// database file at path with a single-connection writer pool and a
// read-only reader pool, synchronous=FULL unless an option says otherwise.
// It does not migrate: call Migrate.
func Open(ctx context.Context, path string, opts ...Option) (*DB, error) {
	o := options{sync: SyncFull}
	for _, opt := range opts {
		opt(&o)
	}
	if _, err := ParseSynchronous(string(o.sync)); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %q: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return nil, fmt.Errorf("sqlite: open %q: %w", path, err)
	}
	// The writer connects first: it creates the file and switches it to
	// WAL, which read-only connections cannot do.
	writer, err := openPool(ctx, dsn(abs, o.sync, "_txlock=immediate"), 1)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open writer %q: %w", path, err)
	}
	readers := min(max(runtime.GOMAXPROCS(0), 4), 8)
	reader, err := openPool(ctx, dsn(abs, o.sync, "mode=ro"), readers)
	if err != nil {
		writer.close()
		return nil, fmt.Errorf("sqlite: open readers %q: %w", path, err)
	}
	db := &DB{path: abs, writer: writer, reader: reader}
	db.startWriter()
	go db.optimizeEvery(optimizeInterval)
	if db.migrator, err = newProvider(writer.db); err == nil {
		db.checker, err = newProvider(reader.db)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: migrations: %w", err)
	}
	return db, nil
}

// dsn is the driver data source name of the file at abs: a file: URI so
// that SQLite honours mode=ro, with every pragma and the extra parameters.
func dsn(abs string, sync Synchronous, extra ...string) string {
	var params []string
	for _, p := range pragmas(sync) {
		params = append(params, "_pragma="+p)
	}
	params = append(params, extra...)
	return "file:" + (&url.URL{Path: abs}).EscapedPath() + "?" + strings.Join(params, "&")
}

func newProvider(db *sql.DB) (*goose.Provider, error) {
	fsys, err := fs.Sub(embeddedMigrations, "migrations")
	if err != nil {
		return nil, err
	}
	// Each stream of work owns migration numbers, so a migration may land
	// after a higher-numbered one was applied: apply it too.
	return goose.NewProvider(goose.DialectSQLite3, db, fsys, goose.WithDisableGlobalRegistry(true),
		goose.WithAllowOutofOrder(true))
}

// Migrate applies every pending migration on the writer connection. It is
// idempotent.
// Migrate then refreshes the planner's statistics (Optimize).
func (db *DB) Migrate(ctx context.Context) error {
	if _, err := db.migrator.Up(ctx); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	return db.Optimize(ctx, true)
}

// Ready returns nil when the database answers and has no pending migration;
// an error with domain.CodeInternal ("database not migrated") when
// migrations are pending, or the driver's error when it does not answer.
func (db *DB) Ready(ctx context.Context) error {
	var versioned bool
	err := db.reader.db.QueryRowContext(ctx,
		`SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'goose_db_version')`,
	).Scan(&versioned)
	if err != nil {
		return fmt.Errorf("sqlite: ready: %w", err)
	}
	if !versioned {
		return notMigrated()
	}
	pending, err := db.checker.HasPending(ctx)
	if err != nil {
		return fmt.Errorf("sqlite: ready: %w", err)
	}
	if pending {
		return notMigrated()
	}
	return nil
}

func notMigrated() error { return domain.Errorf(domain.CodeInternal, "database not migrated") }

// Close closes both pools and their prepared statements.
func (db *DB) Close() error {
	db.stopWriter()
	return errors.Join(db.reader.close(), db.writer.close())
}

// View runs fn in a read-only transaction on the read pool: fn sees one
// consistent snapshot and any write fails. fn's error is returned as is.
func (db *DB) View(ctx context.Context, fn func(domain.Tx) error) error {
	sqlTx, err := db.reader.begin(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("sqlite: begin read: %w", err)
	}
	defer sqlTx.Rollback() //nolint:errcheck // read-only: nothing to keep
	return fn(&tx{sql: sqlTx, stmts: db.reader})
}

// ViewLatest is View: a read transaction on the read pool costs no more
// than a statement on its own.
func (db *DB) ViewLatest(ctx context.Context, fn func(domain.Tx) error) error {
	return db.View(ctx, fn)
}

// Update runs fn in a write transaction (BEGIN IMMEDIATE, possibly shared
// with other waiting Updates under savepoints: see "Group commit") and
// commits when fn returns nil. Any error rolls back fn's changes. A UNIQUE/PRIMARY KEY violation or
// SQLITE_BUSY/SQLITE_LOCKED, from fn or from the commit, makes Update run fn
// again, up to 8 attempts; then it returns an error with
// domain.CodeConflict. Other errors, domain errors included, are returned
// as is.
func (db *DB) Update(ctx context.Context, fn func(domain.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := db.updateOnce(ctx, fn)
		if err == nil || !transient(err) {
			return err
		}
		if attempt == maxAttempts {
			return &domain.Error{
				Code:    domain.CodeConflict,
				Message: fmt.Sprintf("transaction conflicted %d times; try again", maxAttempts),
			}
		}
		if err := sleep(ctx, backoff(attempt)); err != nil {
			return err
		}
	}
}

// UpdateOrg is Update: one writer connection (and SQLite's write lock
// across processes) already serializes every write transaction.
func (db *DB) UpdateOrg(ctx context.Context, _ domain.OrgID, fn func(domain.Tx) error) error {
	return db.Update(ctx, fn)
}

func (db *DB) updateOnce(ctx context.Context, fn func(domain.Tx) error) error {
	return db.submit(ctx, fn)
}

// transient reports whether err is a conflict worth running the
// transaction again for: a raced unique key or a locked database.
// Foreign-key and other constraint violations are not.
func transient(err error) bool {
	if errors.Is(err, errBatchLost) {
		return true
	}
	var e *msqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	switch code := e.Code(); code {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return true
	default:
		primary := code & 0xff
		return primary == sqlite3.SQLITE_BUSY || primary == sqlite3.SQLITE_LOCKED
	}
}

// backoff is the pause before attempt+1: a growing base plus jitter, so
// that raced writers do not collide again in lockstep (1-2 ms, then
// 4-8 ms, ... 49-98 ms).
func backoff(attempt int) time.Duration {
	base := time.Duration(attempt*attempt) * time.Millisecond
	return base + rand.N(base+1)
}

func sleep(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// pool is a database/sql pool with a cache of prepared statements: each
// query text is prepared once per connection and reused by every
// transaction on it. A statement cannot be prepared on the pool while a
// transaction holds its only connection, so a query missing from the cache
// is prepared on the transaction for this use and queued; the queue is
// prepared on the pool before the next transaction begins.
type pool struct {
	db      *sql.DB
	mu      sync.RWMutex
	stmts   map[string]*sql.Stmt
	pending map[string]struct{}
}

func openPool(ctx context.Context, dsn string, conns int) (*pool, error) {
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return &pool{db: db, stmts: make(map[string]*sql.Stmt), pending: make(map[string]struct{})}, nil
}

// begin prepares the queued statements, then begins a transaction.
func (p *pool) begin(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error) {
	p.preparePending(ctx)
	return p.db.BeginTx(ctx, opts)
}

// stmt returns query prepared for use in sqlTx.
func (p *pool) stmt(ctx context.Context, sqlTx *sql.Tx, query string) (*sql.Stmt, error) {
	p.mu.RLock()
	cached, ok := p.stmts[query]
	p.mu.RUnlock()
	if ok {
		return sqlTx.StmtContext(ctx, cached), nil
	}
	p.mu.Lock()
	p.pending[query] = struct{}{}
	p.mu.Unlock()
	return sqlTx.PrepareContext(ctx, query)
}

// preparePending prepares the queued queries on the pool, without holding
// the lock while it waits for a connection. A query that fails to prepare
// (the schema is not migrated yet) is dropped from the queue: the
// transaction that uses it reports the error.
func (p *pool) preparePending(ctx context.Context) {
	p.mu.RLock()
	n := len(p.pending)
	p.mu.RUnlock()
	if n == 0 {
		return
	}
	p.mu.Lock()
	queries := make([]string, 0, len(p.pending))
	for query := range p.pending {
		queries = append(queries, query)
	}
	clear(p.pending)
	p.mu.Unlock()
	for _, query := range queries {
		stmt, err := p.db.PrepareContext(ctx, query)
		if err != nil {
			continue
		}
		p.mu.Lock()
		if _, dup := p.stmts[query]; dup || p.stmts == nil {
			stmt.Close()
		} else {
			p.stmts[query] = stmt
		}
		p.mu.Unlock()
	}
}

func (p *pool) close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	errs := make([]error, 0, len(p.stmts)+1)
	for _, stmt := range p.stmts {
		errs = append(errs, stmt.Close())
	}
	p.stmts = nil
	return errors.Join(append(errs, p.db.Close())...)
}
