package postgres

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/notify"
)

var _ domain.Notifier = (*DB)(nil)

// Subscribe implements domain.Notifier with LISTEN on a connection of its
// own, outside the pool, started with the first subscription. LISTEN takes
// effect a moment after Subscribe returns (a connection to open, a
// statement to run), and again after that connection is lost: each time
// the topic's LISTEN is in effect, its subscribers are called with "", so
// that they read again what was committed before (nothing committed
// after is missed).
func (db *DB) Subscribe(topic string, fn func(payload string)) (cancel func()) {
	cancel = db.notes.hub.Subscribe(topic, fn)
	db.notes.want(db, topic)
	return cancel
}

// listener owns the LISTEN connection.
type listener struct {
	hub notify.Hub

	mu        sync.Mutex
	started   bool
	listening map[string]bool
	wake      context.CancelFunc // interrupts the wait to LISTEN new topics
	stop      context.CancelFunc
	done      chan struct{}
}

// want makes sure topic is listened to.
func (l *listener) want(db *DB, topic string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.listening[topic] {
		return
	}
	if !l.started {
		l.started = true
		ctx, stop := context.WithCancel(context.Background())
		l.stop, l.done = stop, make(chan struct{})
		go l.run(ctx, db)
	}
	if l.wake != nil {
		l.wake()
	}
}

// close stops the listener and waits for it.
func (l *listener) close() {
	l.mu.Lock()
	stop, done := l.stop, l.done
	l.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
}

func (l *listener) run(ctx context.Context, db *DB) {
	defer close(l.done)
	for attempt := 0; ctx.Err() == nil; attempt++ {
		if attempt > 0 {
			// listenNew tells the subscribers to read again once LISTEN
			// is back in effect.
			_ = sleep(ctx, min(time.Duration(attempt)*100*time.Millisecond, 2*time.Second))
		}
		err := l.session(ctx, db)
		if err != nil && ctx.Err() == nil {
			slog.Warn("postgres: notification listener lost its connection; reconnecting", "err", err)
		}
	}
}

// session listens on one connection until it fails or ctx ends.
func (l *listener) session(ctx context.Context, db *DB) error {
	conn, err := pgx.ConnectConfig(ctx, db.pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	l.mu.Lock()
	l.listening = map[string]bool{}
	l.mu.Unlock()
	for {
		if err := l.listenNew(ctx, conn); err != nil {
			return err
		}
		waitCtx, wake := context.WithCancel(ctx)
		l.mu.Lock()
		l.wake = wake
		pending := len(l.hub.Topics()) != len(l.listening)
		l.mu.Unlock()
		if pending {
			wake()
		}
		n, err := conn.WaitForNotification(waitCtx)
		wake()
		switch {
		case err == nil:
			l.hub.Publish(n.Channel, n.Payload)
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, context.Canceled) && waitCtx.Err() != nil && !conn.IsClosed():
			// Woken to LISTEN a new topic.
		default:
			return err
		}
	}
}

// listenNew issues LISTEN for the subscribed topics not listened to yet,
// then calls each one's subscribers with "": what was committed before
// the LISTEN took effect was not notified to them.
func (l *listener) listenNew(ctx context.Context, conn *pgx.Conn) error {
	for _, topic := range l.hub.Topics() {
		l.mu.Lock()
		done := l.listening[topic]
		l.mu.Unlock()
		if done {
			continue
		}
		if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{topic}.Sanitize()); err != nil {
			return err
		}
		l.mu.Lock()
		l.listening[topic] = true
		l.mu.Unlock()
		l.hub.Publish(topic, "")
	}
	return nil
}
