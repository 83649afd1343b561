package bench

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/sqlite"
)

// RawSQLite runs the two operations as hand-written SQL on the store's
// SQLite file, for the baselines of seeded runs: the reads and writes of
// the store's transactions (the update's run record in its transaction;
// the find in a read transaction, without the run record the store writes
// off the request path), with statements prepared once, through one
// writer connection and a pool of readers as the store has.
type RawSQLite struct {
	org     string
	writer  *sql.DB
	readers *sql.DB
	stmts   map[string]*sql.Stmt
}

var _ Target = (*RawSQLite)(nil)

// Raw queries of SQLite, prepared by OpenRawSQLite.
const (
	sqliteConversation = `SELECT deployment_id, status, customer_id FROM conversations WHERE id = ? AND org_id = ?`
	sqliteCustomer     = `SELECT identifier, identifier_since FROM customers WHERE id = ? AND org_id = ?`
	sqliteLatest       = `SELECT customer_id, valid_to FROM identifier_intervals WHERE org_id = ? AND identifier = ? ORDER BY valid_from DESC LIMIT 1`
	sqliteNewest       = `SELECT started_at FROM conversations WHERE org_id = ? AND customer_id = ? ORDER BY started_at DESC, id DESC LIMIT 1`
	sqliteList         = `SELECT id FROM conversations WHERE org_id = ? AND customer_id = ? ORDER BY started_at DESC, id DESC`
	sqliteClose        = `UPDATE identifier_intervals SET valid_to = ? WHERE org_id = ? AND customer_id = ? AND identifier = ? AND valid_to IS NULL`
	sqliteOpen         = `INSERT INTO identifier_intervals (org_id, customer_id, identifier, valid_from) VALUES (?, ?, ?, ?)`
	sqliteSet          = `UPDATE customers SET identifier = ?, identifier_since = ? WHERE id = ? AND org_id = ?`
	sqliteEvent        = `INSERT INTO events (org_id, type, subject, payload, created_at) VALUES (?, ?, ?, ?, ?)`
	sqliteRun          = `INSERT INTO operation_runs (id, org_id, kind, name, session_id, inputs, variable, output, error_code, error_message, duration_us, started_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
)

// OpenRawSQLite opens path (a migrated store's file) with readers reader
// connections. Close it after use.
func OpenRawSQLite(ctx context.Context, path string, sync sqlite.Synchronous, org domain.OrgID, readers int) (*RawSQLite, error) {
	r := &RawSQLite{org: string(org), stmts: map[string]*sql.Stmt{}}
	var err error
	if r.writer, err = sql.Open("sqlite", sqlite.DSN(path, sync, false)); err != nil {
		return nil, err
	}
	r.writer.SetMaxOpenConns(1)
	if r.readers, err = sql.Open("sqlite", sqlite.DSN(path, sync, true)); err != nil {
		r.writer.Close()
		return nil, err
	}
	r.readers.SetMaxOpenConns(readers)
	r.readers.SetMaxIdleConns(readers)
	prepare := map[*sql.DB][]string{
		r.writer:  {sqliteConversation, sqliteCustomer, sqliteLatest, sqliteNewest, sqliteClose, sqliteOpen, sqliteSet, sqliteEvent, sqliteRun},
		r.readers: {sqliteLatest, sqliteList},
	}
	for db, queries := range prepare {
		for _, q := range queries {
			key := q
			if db == r.readers {
				key = "ro:" + q
			}
			if r.stmts[key], err = db.PrepareContext(ctx, q); err != nil {
				r.Close()
				return nil, fmt.Errorf("bench: prepare %q: %w", q, err)
			}
		}
	}
	return r, nil
}

// Close closes the connections.
func (r *RawSQLite) Close() error {
	for _, s := range r.stmts {
		s.Close()
	}
	r.readers.Close()
	return r.writer.Close()
}

// Name returns "raw SQL".
func (r *RawSQLite) Name() string { return "raw SQL" }

// Update moves the customer of conversation to identifier in one
// transaction: the reads a correct implementation needs, then the same
// rows as the store (intervals, customer, event, run record).
func (r *RawSQLite) Update(ctx context.Context, _ int, conversation, identifier string) error {
	tx, err := r.writer.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	q := func(query string) *sql.Stmt { return tx.StmtContext(ctx, r.stmts[query]) }
	var deployment sql.NullString
	var status, customer, current string
	var since, newest int64
	if err := q(sqliteConversation).QueryRowContext(ctx, conversation, r.org).Scan(&deployment, &status, &customer); err != nil {
		return err
	}
	if err := q(sqliteCustomer).QueryRowContext(ctx, customer, r.org).Scan(&current, &since); err != nil {
		return err
	}
	var holder string
	var validTo sql.NullInt64
	err = q(sqliteLatest).QueryRowContext(ctx, r.org, identifier).Scan(&holder, &validTo)
	if err != nil && err != sql.ErrNoRows {
		return err
	}
	if err == nil && !validTo.Valid {
		return fmt.Errorf("%s is held by %s", identifier, holder)
	}
	if err := q(sqliteNewest).QueryRowContext(ctx, r.org, customer).Scan(&newest); err != nil {
		return err
	}
	at := max(time.Now().UnixMicro(), since, newest+1, validTo.Int64)
	event, run, err := rawRecords(r.org, customer, current, identifier, conversation)
	if err != nil {
		return err
	}
	for _, s := range []struct {
		query string
		args  []any
	}{
		{sqliteClose, []any{at, r.org, customer, current}},
		{sqliteOpen, []any{r.org, customer, identifier, at}},
		{sqliteSet, []any{identifier, at, customer, r.org}},
		{sqliteEvent, []any{r.org, domain.EventCustomerIdentifierChanged, customer, event, at}},
		{sqliteRun, append(run, at)},
	} {
		if _, err := q(s.query).ExecContext(ctx, s.args...); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Find lists the conversations of identifier's current holder, newest
// first, in one read transaction.
func (r *RawSQLite) Find(ctx context.Context, _ int, identifier string) ([]string, error) {
	tx, err := r.readers.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var customer string
	var validTo sql.NullInt64
	err = tx.StmtContext(ctx, r.stmts["ro:"+sqliteLatest]).QueryRowContext(ctx, r.org, identifier).Scan(&customer, &validTo)
	if err == sql.ErrNoRows || (err == nil && validTo.Valid) {
		return []string{}, tx.Commit()
	}
	if err != nil {
		return nil, err
	}
	rows, err := tx.StmtContext(ctx, r.stmts["ro:"+sqliteList]).QueryContext(ctx, r.org, customer)
	if err != nil {
		return nil, err
	}
	ids := []string{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return ids, tx.Commit()
}
