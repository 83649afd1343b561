package postgres

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/parleyhq/parley/notify"
)

// Limits of the publisher.
const (
	// maxNotesPerStatement bounds the notifications sent by one statement.
	maxNotesPerStatement = 1000
	// maxPendingNotes bounds the notifications waiting to be sent (the
	// database is slow or unreachable); more are dropped and logged.
	maxPendingNotes = 100_000
	// publishTimeout bounds one publishing statement.
	publishTimeout = 5 * time.Second
	// publishRetryPause separates a failed publishing statement from its
	// one retry (on another connection if that one broke).
	publishRetryPause = 100 * time.Millisecond
)

// publisher sends the notifications of committed transactions (tx.Notify)
// from one goroutine per process, in the order the commits returned, all
// that are waiting in one statement.
//
// Why not NOTIFY inside the writing transaction: PostgreSQL serializes
// the commits of notifying transactions. From its NOTIFY queue insert to
// the end of its commit, WAL flush included, such a transaction holds one
// lock of the whole cluster (an AccessExclusiveLock on "object 0 of
// pg_database"), so every turn that writes a message would commit after
// the previous one of every server process. The publisher holds that lock
// for a commit with synchronous_commit off (a notification is not durable
// anyway), and no request waits for it.
//
// What it costs: a notification is no longer atomic with its commit. A
// process that stops between the commit and the publishing statement, or a
// statement that fails (logged), loses notifications: listeners catch up at
// the next one of the same conversation or topic, or when they read the
// store again. A failed statement is tried once more.
type publisher struct {
	mu      sync.Mutex
	pending []notify.Note
	dropped int
	started bool
	closed  bool
	wake    chan struct{} // capacity 1: there is something to send
	done    chan struct{} // closed when the goroutine has ended
}

// add queues the notifications of a committed transaction.
func (p *publisher) add(db *DB, notes []notify.Note) {
	if len(notes) == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	if len(p.pending)+len(notes) > maxPendingNotes {
		p.dropped += len(notes)
		return
	}
	p.pending = append(p.pending, notes...)
	if !p.started {
		p.started = true
		p.wake, p.done = make(chan struct{}, 1), make(chan struct{})
		go p.run(db)
	}
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// close sends what is waiting and stops the goroutine.
func (p *publisher) close() {
	p.mu.Lock()
	started, already := p.started, p.closed
	p.closed = true
	if started && !already {
		close(p.wake)
	}
	p.mu.Unlock()
	if started {
		<-p.done
	}
}

func (p *publisher) run(db *DB) {
	defer close(p.done)
	for range p.wake {
		for p.sendPending(db) {
		}
	}
	p.sendPending(db) // what came with close
}

// sendPending sends up to maxNotesPerStatement waiting notifications and
// reports whether more are waiting.
func (p *publisher) sendPending(db *DB) (more bool) {
	p.mu.Lock()
	n := min(len(p.pending), maxNotesPerStatement)
	notes := p.pending[:n:n]
	p.pending = p.pending[n:]
	if len(p.pending) == 0 {
		p.pending = nil
	}
	dropped := p.dropped
	p.dropped = 0
	more = len(p.pending) > 0
	p.mu.Unlock()
	if dropped > 0 {
		slog.Warn("postgres: notifications dropped: too many waiting to be sent", "dropped", dropped)
	}
	if len(notes) == 0 {
		return more
	}
	err := db.sendNotes(notes)
	if err != nil {
		time.Sleep(publishRetryPause)
		err = db.sendNotes(notes)
	}
	if err != nil {
		slog.Warn("postgres: notifications of committed transactions were not sent", "notes", len(notes), "err", err)
	}
	return more
}

// sendNotes issues notes, in order, in one statement and its own
// transaction, committed without waiting for the WAL flush.
func (db *DB) sendNotes(notes []notify.Note) error {
	topics, payloads := make([]string, len(notes)), make([]string, len(notes))
	for i, n := range notes {
		topics[i], payloads[i] = n.Topic, n.Payload
	}
	ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
	defer cancel()
	_, err := db.pool.Exec(ctx, `SELECT set_config('synchronous_commit', 'off', true), pg_notify(n.topic, n.payload)
		FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS n(topic, payload, i) ORDER BY n.i`, topics, payloads)
	return err
}
