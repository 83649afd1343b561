package bench

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite" // the SQLite driver of SQLiteProbe

	"github.com/parleyhq/parley/client"
)

// BoundedTables are the tables whose rows Parley keeps only for a while:
// runs and events (--retention), idempotency records
// (--idempotency-retention), and the webhook deliveries and attempts made
// from events. Every other table is kept by design: conversations,
// messages, turns, customers and their identifiers are the customers'
// data; apps, deployments, resources and keys the org's configuration.
var BoundedTables = []string{"operation_runs", "events", "idempotency_keys", "webhook_deliveries", "webhook_attempts"}

// TableSize is one table's rows and bytes (its indexes included).
type TableSize struct{ Rows, Bytes int64 }

// DBSample is what a DBProbe read from the database.
type DBSample struct {
	// Bytes is the database on disk: SQLite's file and its WAL;
	// PostgreSQL's pg_database_size.
	Bytes int64
	// WAL is SQLite's WAL file (included in Bytes); 0 on PostgreSQL.
	WAL    int64
	Tables map[string]TableSize
}

// KeptBytes is the bytes of the tables kept by design (not BoundedTables).
func (s DBSample) KeptBytes() int64 {
	var n int64
	for name, t := range s.Tables {
		if !slices.Contains(BoundedTables, name) {
			n += t.Bytes
		}
	}
	return n
}

// BoundedBytes is Bytes less KeptBytes: the bounded tables, free space,
// the WAL and the catalogue, all of which retention must keep bounded.
func (s DBSample) BoundedBytes() int64 { return s.Bytes - s.KeptBytes() }

// DBProbe reads a Parley database's size and rows while a server uses it.
type DBProbe interface {
	Sample(ctx context.Context) (DBSample, error)
	Close() error
}

// SQLiteProbe reads a SQLite database file through a read-only connection:
// file sizes, the bytes of each table and its indexes (the dbstat virtual
// table) and row counts, in one read transaction (WAL mode: the server's
// writer is not blocked).
type SQLiteProbe struct {
	path string
	db   *sql.DB
}

// OpenSQLiteProbe opens the database file at path read-only.
func OpenSQLiteProbe(path string) (*SQLiteProbe, error) {
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?mode=ro&_pragma=busy_timeout(10000)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return &SQLiteProbe{path: path, db: db}, nil
}

// Close closes the connection.
func (p *SQLiteProbe) Close() error { return p.db.Close() }

// Sample reads the file sizes and every table's bytes and rows.
func (p *SQLiteProbe) Sample(ctx context.Context) (DBSample, error) {
	var s DBSample
	main, err := os.Stat(p.path)
	if err != nil {
		return s, err
	}
	s.Bytes = main.Size()
	if wal, err := os.Stat(p.path + "-wal"); err == nil {
		s.WAL = wal.Size()
		s.Bytes += s.WAL
	}
	tx, err := p.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return s, err
	}
	defer tx.Rollback()
	owners, tables, err := sqliteSchema(ctx, tx)
	if err != nil {
		return s, err
	}
	s.Tables = map[string]TableSize{}
	rows, err := tx.QueryContext(ctx, `SELECT name, pgsize FROM dbstat WHERE aggregate = TRUE`)
	if err != nil {
		return s, fmt.Errorf("sqlite dbstat: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var size int64
		if err := rows.Scan(&name, &size); err != nil {
			return s, err
		}
		t := s.Tables[owners[name]]
		t.Bytes += size
		s.Tables[owners[name]] = t
	}
	if err := rows.Err(); err != nil {
		return s, err
	}
	return s, countRows(ctx, tables, s.Tables, func(ctx context.Context, q string) *sql.Row { return tx.QueryRowContext(ctx, q) })
}

// sqliteSchema maps every table and index to its table, and lists the
// tables.
func sqliteSchema(ctx context.Context, tx *sql.Tx) (owners map[string]string, tables []string, err error) {
	rows, err := tx.QueryContext(ctx, `SELECT type, name, tbl_name FROM sqlite_schema WHERE type IN ('table', 'index')`)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	owners = map[string]string{"sqlite_schema": "sqlite_schema"}
	for rows.Next() {
		var kind, name, table string
		if err := rows.Scan(&kind, &name, &table); err != nil {
			return nil, nil, err
		}
		owners[name] = table
		if kind == "table" && !strings.HasPrefix(name, "sqlite_") {
			tables = append(tables, name)
		}
	}
	return owners, tables, rows.Err()
}

// countRows sets the row count of each of tables in sizes.
func countRows(ctx context.Context, tables []string, sizes map[string]TableSize, queryRow func(context.Context, string) *sql.Row) error {
	for _, name := range tables {
		t := sizes[name]
		if err := queryRow(ctx, `SELECT count(*) FROM "`+name+`"`).Scan(&t.Rows); err != nil {
			return fmt.Errorf("counting %s: %w", name, err)
		}
		sizes[name] = t
	}
	return nil
}

// PostgresProbe reads a PostgreSQL database on a connection of its own:
// pg_database_size, pg_total_relation_size of each table of the current
// schema, and row counts.
type PostgresProbe struct{ conn *pgx.Conn }

// OpenPostgresProbe connects to the database at url.
func OpenPostgresProbe(ctx context.Context, url string) (*PostgresProbe, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, err
	}
	return &PostgresProbe{conn: conn}, nil
}

// Close closes the connection.
func (p *PostgresProbe) Close() error { return p.conn.Close(context.Background()) }

// Sample reads the database size and every table's bytes and rows.
func (p *PostgresProbe) Sample(ctx context.Context) (DBSample, error) {
	s := DBSample{Tables: map[string]TableSize{}}
	if err := p.conn.QueryRow(ctx, `SELECT pg_database_size(current_database())`).Scan(&s.Bytes); err != nil {
		return s, err
	}
	rows, err := p.conn.Query(ctx, `SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') AND n.nspname = current_schema()`)
	if err != nil {
		return s, err
	}
	var tables []string
	for rows.Next() {
		var name string
		var size int64
		if err := rows.Scan(&name, &size); err != nil {
			rows.Close()
			return s, err
		}
		tables = append(tables, name)
		s.Tables[name] = TableSize{Bytes: size}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return s, err
	}
	for _, name := range tables {
		t := s.Tables[name]
		if err := p.conn.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{name}.Sanitize()).Scan(&t.Rows); err != nil {
			return s, fmt.Errorf("counting %s: %w", name, err)
		}
		s.Tables[name] = t
	}
	return s, nil
}

// ServerSample is what the server's /metrics says about its process and
// its background work.
type ServerSample struct {
	RSS, HeapInuse, Goroutines, OpenFDs float64
	// RetentionDeleted is the rows retention deleted so far, all kinds;
	// RunLogDropped the run records the run log dropped.
	RetentionDeleted, RunLogDropped float64
}

// readServerSample reads the server's /metrics.
func readServerSample(ctx context.Context, c *client.Client) (ServerSample, error) {
	text, err := c.Metrics(ctx)
	if err != nil {
		return ServerSample{}, err
	}
	var m ServerSample
	fields := map[string]*float64{
		"process_resident_memory_bytes": &m.RSS, "go_memstats_heap_inuse_bytes": &m.HeapInuse,
		"go_goroutines": &m.Goroutines, "process_open_fds": &m.OpenFDs,
		`parley_runlog_records_total{outcome="dropped"}`: &m.RunLogDropped,
	}
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		v, _ := strconv.ParseFloat(value, 64)
		if p := fields[name]; p != nil {
			*p = v
		} else if strings.HasPrefix(name, "parley_retention_deleted_total{") {
			m.RetentionDeleted += v
		}
	}
	if m.RSS == 0 {
		return m, fmt.Errorf("the server's /metrics has no process_resident_memory_bytes (is it parley serve?)")
	}
	return m, sc.Err()
}

// SoakSample is one sample of a soak.
type SoakSample struct {
	// At is the time since the load started.
	At time.Duration
	// Calls and Failed count the calls since the previous sample.
	Calls, Failed int64
	DB            DBSample
	Server        ServerSample
	// Err is why the sample is incomplete, if it is.
	Err error
}

// sample reads the database and the server (ctx should outlive the load,
// so that the last sample is read in full).
func (r *soakRun) sample(ctx context.Context, start time.Time) SoakSample {
	s := SoakSample{At: time.Since(start), Calls: r.window.Swap(0), Failed: r.failures.Swap(0)}
	var dbErr, serverErr error
	s.DB, dbErr = r.target.Probe.Sample(ctx)
	s.Server, serverErr = readServerSample(ctx, r.target.Client)
	if dbErr != nil {
		s.Err = fmt.Errorf("database: %w", dbErr)
	} else if serverErr != nil {
		s.Err = fmt.Errorf("server metrics: %w", serverErr)
	}
	note(r.cfg.Progress, "%s", s.line())
	return s
}

// line is the sample's progress line.
func (s SoakSample) line() string {
	if s.Err != nil {
		return fmt.Sprintf("t=%s sample failed: %v", s.At.Round(time.Second), s.Err)
	}
	return fmt.Sprintf("t=%s calls %d (%d failed) db %s (bounded %s) RSS %s goroutines %.0f runs %d events %d idempotency %d",
		s.At.Round(time.Second), s.Calls, s.Failed, mib(s.DB.Bytes), mib(s.DB.BoundedBytes()), mib(int64(s.Server.RSS)),
		s.Server.Goroutines, s.DB.Tables["operation_runs"].Rows, s.DB.Tables["events"].Rows, s.DB.Tables["idempotency_keys"].Rows)
}

func mib(b int64) string { return fmt.Sprintf("%.1fM", float64(b)/(1<<20)) }
