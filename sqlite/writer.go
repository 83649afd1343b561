package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/notify"
)

// Group commit. All writes of a process go through one connection, so
// concurrent Updates queue up for it. Instead of a transaction each, the
// writer goroutine takes every request waiting (up to maxBatch, in arrival
// order) and runs them one after the other in ONE transaction, each inside
// its own SAVEPOINT: a request that fails is rolled back to its savepoint
// alone, and the others commit together. The commit, which writes every
// changed page to the WAL, is then paid once per batch instead of once per
// request. A request that finds the writer idle runs at once, alone.
//
// Requests see the effects of the requests before them in the batch, as
// they would after those committed; if the commit fails, every request of
// the batch gets the error, so no caller is told it committed when it did
// not.

// maxBatch bounds how many requests share a transaction.
const maxBatch = 64

// errClosed answers requests made after Close.
var errClosed = errors.New("sqlite: store is closed")

// errBatchLost answers a request that did not commit through no fault of
// its own: another request of its batch aborted the shared transaction, or
// the commit failed after this request had failed on the batch's
// uncommitted state. Update runs such a request again.
var errBatchLost = errors.New("sqlite: the shared write transaction was lost")

// errGoexit answers the requests of a batch whose function ended the
// writer goroutine with runtime.Goexit (t.FailNow in a test, say).
var errGoexit = errors.New("sqlite: a transaction function called runtime.Goexit")

// writeRequest is one Update waiting for the writer.
type writeRequest struct {
	ctx  context.Context
	fn   func(domain.Tx) error
	done chan error // receives exactly one result
}

// panicked carries a panic of fn back to the caller's goroutine.
type panicked struct{ value any }

func (p panicked) Error() string { return fmt.Sprintf("panic in transaction: %v", p.value) }

// writer owns the write connection's goroutine.
type writer struct {
	requests chan *writeRequest
	quit     chan struct{}
	stopOnce sync.Once
	stopped  chan struct{}
}

func (db *DB) startWriter() {
	db.writes = &writer{
		requests: make(chan *writeRequest),
		quit:     make(chan struct{}),
		stopped:  make(chan struct{}),
	}
	go db.writeLoop()
}

// stopWriter stops the goroutine after the batch in progress; it may be
// called several times, from several goroutines.
func (db *DB) stopWriter() {
	db.writes.stopOnce.Do(func() { close(db.writes.quit) })
	<-db.writes.stopped
}

// submit runs fn in the next batch and returns its result.
func (db *DB) submit(ctx context.Context, fn func(domain.Tx) error) error {
	req := &writeRequest{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case db.writes.requests <- req:
	case <-db.writes.quit:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once queued, the writer always answers: wait for it even if ctx is
	// cancelled, since fn may be running.
	err := <-req.done
	var p panicked
	if errors.As(err, &p) {
		panic(p.value)
	}
	return err
}

func (db *DB) writeLoop() {
	stopping := false
	defer func() {
		if stopping {
			close(db.writes.stopped)
			return
		}
		// A function ended this goroutine with runtime.Goexit (its batch
		// was answered by runBatch): keep serving.
		go db.writeLoop()
	}()
	batch := make([]*writeRequest, 0, maxBatch)
	for {
		select {
		case req := <-db.writes.requests:
			batch = append(batch[:0], req)
		case <-db.writes.quit:
			stopping = true
			return
		}
	gather:
		for len(batch) < maxBatch {
			select {
			case req := <-db.writes.requests:
				batch = append(batch, req)
			default:
				break gather
			}
		}
		db.runBatch(batch)
	}
}

// runBatch runs the requests in one transaction and answers each once the
// batch's fate is known: after the commit, or after the transaction was
// lost (then every request but the one that lost it gets errBatchLost and
// is run again).
func (db *DB) runBatch(batch []*writeRequest) {
	results := make([]error, len(batch))
	answered := false
	answer := func() {
		answered = true
		for i, req := range batch {
			req.done <- results[i]
		}
	}
	defer func() {
		if !answered {
			fill(results, errGoexit)
			answer()
		}
	}()
	sqlTx, err := db.writer.begin(context.Background(), nil)
	if err != nil {
		fill(results, fmt.Errorf("sqlite: begin: %w", err))
		answer()
		return
	}
	defer sqlTx.Rollback() //nolint:errcheck // a no-op after Commit
	notes := make([][]notify.Note, len(batch))
	for i, req := range batch {
		err, intact := db.runOne(sqlTx, req, &notes[i])
		if !intact {
			// SQLite rolled the whole transaction back (an interrupted
			// statement, an I/O error, a full disk): nothing is applied.
			fill(results, errBatchLost)
			results[i] = fmt.Errorf("sqlite: transaction aborted: %w", err)
			answer()
			return
		}
		results[i] = err
	}
	if err := sqlTx.Commit(); err != nil {
		for i := range results {
			if results[i] == nil {
				results[i] = fmt.Errorf("sqlite: commit: %w", err)
			} else {
				// It failed on a state that was never committed.
				results[i] = errBatchLost
			}
		}
		answer()
		return
	}
	for i := range batch {
		if results[i] == nil {
			for _, n := range notes[i] {
				db.notes.Publish(n.Topic, n.Payload)
			}
		}
	}
	answer()
}

func fill(results []error, err error) {
	for i := range results {
		results[i] = err
	}
}

// runOne runs one request inside a savepoint. intact is false when the
// transaction itself is gone and the batch must stop.
func (db *DB) runOne(sqlTx *sql.Tx, req *writeRequest, notes *[]notify.Note) (err error, intact bool) {
	if err := req.ctx.Err(); err != nil {
		return err, true
	}
	if err := db.execPrepared(sqlTx, "SAVEPOINT parley_write"); err != nil {
		return err, false
	}
	err = callFn(req.fn, &tx{sql: sqlTx, stmts: db.writer, notes: notes})
	if err != nil {
		if rbErr := db.execPrepared(sqlTx, "ROLLBACK TO parley_write"); rbErr != nil {
			return errors.Join(err, rbErr), false
		}
	}
	if relErr := db.execPrepared(sqlTx, "RELEASE parley_write"); relErr != nil {
		return errors.Join(err, relErr), false
	}
	return err, true
}

// execPrepared runs a statement through the writer's statement cache.
func (db *DB) execPrepared(sqlTx *sql.Tx, query string) error {
	ctx := context.Background()
	stmt, err := db.writer.stmt(ctx, sqlTx, query)
	if err != nil {
		return err
	}
	_, err = stmt.ExecContext(ctx)
	return err
}

// callFn runs fn, turning a panic into a panicked error for the caller.
func callFn(fn func(domain.Tx) error, t domain.Tx) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = panicked{value: v}
		}
	}()
	return fn(t)
}
