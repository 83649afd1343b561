// Package runlog writes operation run records off the request path. The
// service hands it the records of read-only runs (find and transcript
// outside a session) and of failed runs (service.RunLog); a writer
// goroutine stores them in batches, one transaction per batch, at most
// FlushInterval after the first record of a batch arrived.
//
// The buffer is bounded: when it is full (the database is slower than the
// traffic, or unreachable for long) new records are dropped and counted
// (parley_runlog_records_total{outcome="dropped"}). A batch that fails
// because the database is unavailable is tried again until it is back, so
// a run that failed because the database was down is recorded once it
// returns. What a crash loses: the records still in the buffer (at most
// FlushInterval's worth plus any backlog of an outage); docs/ARCHITECTURE.md
// says so.
package runlog

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleyhq/parley/domain"
)

// Defaults of Config.
const (
	DefaultCapacity      = 10000
	DefaultMaxBatch      = 500
	DefaultFlushInterval = 100 * time.Millisecond
	// maxRetryPause caps the pause between attempts at a batch the
	// database could not take.
	maxRetryPause = 5 * time.Second
)

// Config configures a Log. Store is required.
type Config struct {
	Store domain.Store
	// Capacity is how many records wait at most (DefaultCapacity).
	Capacity int
	// MaxBatch is the most records written in one transaction
	// (DefaultMaxBatch).
	MaxBatch int
	// FlushInterval is the longest a record waits for its batch
	// (DefaultFlushInterval).
	FlushInterval time.Duration
	// Metrics, when set, receives the log's collectors.
	Metrics prometheus.Registerer
	Logger  *slog.Logger
}

// entry is one run with the events written with it.
type entry struct {
	run    domain.OperationRun
	events []domain.Event
}

// Log is a batching run log; it implements service.RunLog. Create it with
// New and stop it with Close.
type Log struct {
	store    domain.Store
	maxBatch int
	interval time.Duration
	log      *slog.Logger
	metrics  metrics

	queue   chan entry
	flushes chan chan struct{}
	quit    chan struct{}
	closed  chan struct{} // closed by Close before quit
	done    chan struct{}
	// closeCtx bounds the last writes after quit (set before quit closes).
	closeCtx context.Context
	drops    dropReport
}

// dropReport aggregates dropped records into at most one log line a
// second (the metric counts each): under overload every read would
// otherwise log a line of its own.
type dropReport struct {
	mu      sync.Mutex
	pending int
	reason  string
	last    time.Time
}

// dropReportInterval is the least time between two "dropped" log lines.
const dropReportInterval = time.Second

// New starts a Log.
func New(cfg Config) *Log {
	l := &Log{
		store:    cfg.Store,
		maxBatch: orDefault(cfg.MaxBatch, DefaultMaxBatch),
		interval: cfg.FlushInterval,
		log:      cfg.Logger,
		queue:    make(chan entry, orDefault(cfg.Capacity, DefaultCapacity)),
		flushes:  make(chan chan struct{}),
		quit:     make(chan struct{}),
		closed:   make(chan struct{}),
		done:     make(chan struct{}),
	}
	if l.interval <= 0 {
		l.interval = DefaultFlushInterval
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	l.metrics = newMetrics(cfg.Metrics, func() float64 { return float64(len(l.queue)) })
	go l.run()
	return l
}

func orDefault(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

// Record queues r and its events without waiting; when the buffer is full
// or the log closed, they are dropped and counted.
func (l *Log) Record(_ context.Context, r domain.OperationRun, events []domain.Event) {
	select {
	case <-l.closed:
		l.drop(1, "the run log is closed")
		return
	default:
	}
	select {
	case l.queue <- entry{run: r, events: events}:
	default:
		l.drop(1, "the run log's buffer is full")
	}
}

// Flush returns once every record queued before the call is written (or
// given up), or when ctx ends.
func (l *Log) Flush(ctx context.Context) error {
	ack := make(chan struct{})
	select {
	case l.flushes <- ack:
	case <-l.done:
		return errors.New("runlog: closed")
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-ack:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops taking records and writes those buffered, until ctx ends;
// what is left then is dropped and counted. It returns ctx's error when
// records were dropped for lack of time.
func (l *Log) Close(ctx context.Context) error {
	select {
	case <-l.closed:
		<-l.done
		return nil
	default:
	}
	l.closeCtx = ctx
	close(l.closed)
	close(l.quit)
	<-l.done
	if n := len(l.queue); n > 0 { // queued while the writer was stopping
		l.drop(n, "queued as the run log closed")
	}
	l.reportDrops(true)
	return ctx.Err()
}

// run is the writer goroutine.
func (l *Log) run() {
	defer close(l.done)
	var batch []entry
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case e := <-l.queue:
			if len(batch) == 0 {
				timer.Reset(l.interval)
			}
			if batch = append(batch, e); len(batch) < l.maxBatch {
				continue
			}
		case <-timer.C:
		case ack := <-l.flushes:
			batch = l.drain(batch)
			l.writeAll(context.Background(), batch)
			batch = batch[:0]
			close(ack)
			continue
		case <-l.quit:
			batch = l.drain(batch)
			l.writeAll(l.closeCtx, batch)
			return
		}
		timer.Stop()
		l.write(context.Background(), batch)
		batch = batch[:0]
		l.reportDrops(false)
	}
}

// drain moves every queued entry into batch.
func (l *Log) drain(batch []entry) []entry {
	for {
		select {
		case e := <-l.queue:
			batch = append(batch, e)
		default:
			return batch
		}
	}
}

// writeAll writes batch in chunks of maxBatch.
func (l *Log) writeAll(ctx context.Context, batch []entry) {
	for len(batch) > 0 {
		n := min(len(batch), l.maxBatch)
		l.write(ctx, batch[:n])
		batch = batch[n:]
	}
}

// write stores batch in one transaction. While the database is
// unavailable it tries again, pausing longer each time, until it answers
// or the log is closing and ctx ends; a batch refused for another reason
// is written entry by entry, and the entries that still fail are dropped.
func (l *Log) write(ctx context.Context, batch []entry) {
	if len(batch) == 0 {
		return
	}
	pause := l.interval
	for {
		err := l.store.Update(ctx, func(tx domain.Tx) error { return writeEntries(ctx, tx, batch) })
		switch {
		case err == nil:
			l.metrics.written.Add(float64(len(batch)))
			return
		case domain.ErrorCode(err) != domain.CodeUnavailable || ctx.Err() != nil:
			l.writeOneByOne(ctx, batch, err)
			return
		}
		l.metrics.retries.Inc()
		l.log.Warn("run log: the database is unavailable; trying the batch again", "runs", len(batch), "err", err)
		if !l.pause(ctx, pause) {
			l.drop(len(batch), "the run log closed while the database was unavailable")
			return
		}
		pause = min(2*pause, maxRetryPause)
	}
}

// pause waits d, or until the log is closing and ctx ends; it reports
// whether to go on trying.
func (l *Log) pause(ctx context.Context, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-l.quit:
		// Closing: keep trying within the close deadline.
		select {
		case <-timer.C:
			return true
		case <-ctx.Done():
			return false
		}
	}
}

func (l *Log) writeOneByOne(ctx context.Context, batch []entry, batchErr error) {
	l.log.Warn("run log: a batch failed; writing its runs one by one", "runs", len(batch), "err", batchErr)
	for i := range batch {
		one := batch[i : i+1]
		err := l.store.Update(ctx, func(tx domain.Tx) error { return writeEntries(ctx, tx, one) })
		if err != nil {
			l.drop(1, err.Error())
			continue
		}
		l.metrics.written.Inc()
	}
}

func writeEntries(ctx context.Context, tx domain.Tx, batch []entry) error {
	runs := make([]domain.OperationRun, len(batch))
	for i, e := range batch {
		runs[i] = e.run
	}
	if err := tx.RecordRuns(ctx, runs); err != nil {
		return err
	}
	for _, e := range batch {
		for _, ev := range e.events {
			if err := tx.AppendEvent(ctx, ev); err != nil {
				return err
			}
		}
	}
	return nil
}

func (l *Log) drop(n int, why string) {
	l.metrics.dropped.Add(float64(n))
	l.drops.mu.Lock()
	l.drops.pending += n
	l.drops.reason = why
	l.drops.mu.Unlock()
	l.reportDrops(false)
}

// reportDrops logs the records dropped since the last report, if any, when
// dropReportInterval has passed since it (or at once when now is true).
func (l *Log) reportDrops(now bool) {
	d := &l.drops
	d.mu.Lock()
	if d.pending == 0 || (!now && time.Since(d.last) < dropReportInterval) {
		d.mu.Unlock()
		return
	}
	n, why := d.pending, d.reason
	d.pending, d.last = 0, time.Now()
	d.mu.Unlock()
	l.log.Error("run log: run records dropped", "runs", n, "reason", why,
		"hint", "the database is slower than the traffic or unreachable; parley_runlog_records_total{outcome=\"dropped\"} counts every one")
}
