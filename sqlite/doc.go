// Package sqlite is Parley's embedded storage backend on modernc.org/sqlite
// (pure Go, no cgo). *DB implements domain.Store.
//
// # Connections
//
// Open keeps two database/sql pools on the same database file:
//
//   - the writer: exactly one connection (SetMaxOpenConns(1)); its
//     transactions start with BEGIN IMMEDIATE (DSN parameter
//     _txlock=immediate), so a write transaction takes SQLite's write lock
//     up front and never fails half-way with SQLITE_BUSY when it upgrades
//     from reading to writing. Update and Migrate use it. One connection
//     means writers of one process queue in Go instead of spinning on the
//     file lock; writers of other processes wait through busy_timeout.
//   - the readers: a small pool opened with mode=ro, used by View. In WAL
//     mode readers never block the writer and the writer never blocks them;
//     each read transaction sees a consistent snapshot, and any write
//     attempted through it fails.
//
// Every connection of both pools gets its settings from the DSN, so a
// connection the pool opens later can never miss one: journal_mode=WAL,
// synchronous=FULL by default (the WAL is synced at every commit, so an
// acknowledged write survives a power loss; WithSynchronous(SyncNormal)
// syncs only at checkpoints: a process crash loses nothing, a power loss
// may drop the last commits but never corrupts the file), foreign_keys=ON
// and busy_timeout=10000 ms.
//
// # Group commit
//
// Updates of one process queue (in arrival order) for a writer goroutine,
// which runs every request waiting, up to 64, in one BEGIN IMMEDIATE
// transaction, each inside its own SAVEPOINT, and commits once (writer.go).
// A failing request rolls back to its savepoint alone; the commit's WAL
// writes, half the cost of a small transaction, are shared by the batch. A
// request that finds the writer idle runs alone at once, so nothing waits
// for a batch to fill. docs/PERFORMANCE.md has the measurements.
//
// # Retries
//
// Update retries its function, up to 8 attempts with a short growing
// backoff, when SQLite reports a UNIQUE or PRIMARY KEY constraint violation
// or SQLITE_BUSY/SQLITE_LOCKED (recognized by the driver's result codes,
// never by message text); when attempts run out it returns a *domain.Error
// with domain.CodeConflict. Any other error rolls back and is returned as is.
//
// # Schema
//
// Migrations are embedded (migrations/*.sql) and run by goose's Provider
// API. Every table carries org_id and every query filters by it; times are
// INTEGER unix microseconds; JSON documents are TEXT. Optional values whose
// absence matters to a unique index or a foreign key (a customer's current
// identifier, a conversation's deployment or preview version, its external
// id) are stored as NULL when empty. Uniqueness of current identifiers,
// current identifier intervals and active deployments is enforced by partial
// unique indexes. Statements are prepared once per connection and reused.
package sqlite
