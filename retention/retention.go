// Package retention deletes what Parley keeps only for a while: operation
// runs and events older than the retention period (30 days unless
// configured), webhook deliveries that are over (delivered or failed)
// whose event is older than the retention period, with their attempts,
// and idempotency records older than 24 hours. A Worker runs
// a pass every Interval; a pass deletes the expired rows in small batches,
// one short transaction each (on SQLite the single writer is never held
// for long; other writes queue between batches), until none is left.
//
// Several server processes may run workers on one database: on PostgreSQL
// each batch skips rows another process is deleting (FOR UPDATE SKIP
// LOCKED), so no two do the same work; on SQLite writers take turns and a
// second pass finds nothing left.
//
// Webhook deliveries carry their own copy of their event, so deleting an
// event never loses an undelivered webhook (domain.WebhookTx); a pending
// delivery is kept whatever its age.
package retention

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleyhq/parley/domain"
)

// Defaults of Config.
const (
	DefaultKeep            = 30 * 24 * time.Hour
	DefaultKeepIdempotency = 24 * time.Hour
	DefaultInterval        = time.Minute
	DefaultBatchSize       = 500
	DefaultPause           = 5 * time.Millisecond
)

// Config configures a Worker. Store and Clock are required.
type Config struct {
	Store domain.Store
	Clock domain.Clock
	// Keep is how long runs, events and finished webhook deliveries are
	// kept (DefaultKeep).
	Keep time.Duration
	// KeepIdempotency is how long idempotency records are kept
	// (DefaultKeepIdempotency).
	KeepIdempotency time.Duration
	// Interval is the pause between passes (DefaultInterval), with up to
	// 10 % of jitter so the workers of several processes drift apart.
	Interval time.Duration
	// BatchSize is the most rows one transaction deletes
	// (DefaultBatchSize).
	BatchSize int
	// Pause is the rest between two batches (DefaultPause), so other
	// writers get the database in between.
	Pause   time.Duration
	Metrics prometheus.Registerer
	Logger  *slog.Logger
}

// Worker deletes expired rows.
type Worker struct {
	cfg     Config
	deleted *prometheus.CounterVec
	log     *slog.Logger
}

// Stats counts the rows a pass deleted.
type Stats struct {
	Runs, Events, Idempotency int
	// WebhookDeliveries counts finished deliveries, WebhookAttempts the
	// attempts logged for them.
	WebhookDeliveries, WebhookAttempts int
}

// New returns a Worker; Run starts it.
func New(cfg Config) *Worker {
	cfg.Keep = orDefault(cfg.Keep, DefaultKeep)
	cfg.KeepIdempotency = orDefault(cfg.KeepIdempotency, DefaultKeepIdempotency)
	cfg.Interval = orDefault(cfg.Interval, DefaultInterval)
	cfg.Pause = orDefault(cfg.Pause, DefaultPause)
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	w := &Worker{cfg: cfg, log: cfg.Logger}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	w.deleted = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "parley_retention_deleted_total",
		Help: "Rows deleted by retention, by kind: runs, events, idempotency, webhook_deliveries, webhook_attempts.",
	}, []string{"kind"})
	if cfg.Metrics != nil {
		cfg.Metrics.MustRegister(w.deleted)
	}
	return w
}

func orDefault[T ~int64](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// Vacuumed is implemented by stores whose deleted rows' space is reused
// only after a background VACUUM (PostgreSQL): Autovacuum says whether the
// server runs it.
type Vacuumed interface {
	Autovacuum(ctx context.Context) (bool, error)
}

// Run runs a pass now and then every Interval until ctx ends. A failed pass
// is logged and the next one tries again. On a store whose autovacuum is
// off it first logs a warning: deleting rows then does not stop the
// database from growing.
func (w *Worker) Run(ctx context.Context) error {
	w.checkVacuum(ctx)
	for {
		if _, err := w.Pass(ctx); err != nil && ctx.Err() == nil {
			w.log.Error("retention pass failed", "err", err)
		}
		jitter := time.Duration(rand.Int64N(int64(w.cfg.Interval)/10 + 1))
		if err := sleep(ctx, w.cfg.Interval+jitter); err != nil {
			return nil
		}
	}
}

// checkVacuum warns when the store's autovacuum is off.
func (w *Worker) checkVacuum(ctx context.Context) {
	v, ok := w.cfg.Store.(Vacuumed)
	if !ok {
		return
	}
	on, err := v.Autovacuum(ctx)
	switch {
	case err != nil:
		w.log.Warn("retention: cannot read the autovacuum setting", "err", err)
	case !on:
		w.log.Warn("autovacuum is off: the space of rows retention deletes (and of updated rows) is reused only after VACUUM; " +
			"without autovacuum or a scheduled VACUUM the database keeps growing")
	}
}

// Pass deletes every expired run, event, idempotency record and finished
// webhook delivery (with its attempts), in batches, and returns how many
// it deleted.
func (w *Worker) Pass(ctx context.Context) (Stats, error) {
	now := w.cfg.Clock.Now()
	var s Stats
	kinds := []struct {
		name   string
		count  *int
		before time.Time
		delete func(tx domain.Tx, before time.Time, limit int) (int, error)
	}{
		{"runs", &s.Runs, now.Add(-w.cfg.Keep), func(tx domain.Tx, before time.Time, limit int) (int, error) {
			return tx.DeleteRunsBefore(ctx, before, limit)
		}},
		{"events", &s.Events, now.Add(-w.cfg.Keep), func(tx domain.Tx, before time.Time, limit int) (int, error) {
			return tx.DeleteEventsBefore(ctx, before, limit)
		}},
		{"idempotency", &s.Idempotency, now.Add(-w.cfg.KeepIdempotency), func(tx domain.Tx, before time.Time, limit int) (int, error) {
			return tx.DeleteIdempotencyBefore(ctx, before, limit)
		}},
		{"webhook_deliveries", &s.WebhookDeliveries, now.Add(-w.cfg.Keep), func(tx domain.Tx, before time.Time, limit int) (int, error) {
			deliveries, attempts, err := tx.DeleteWebhookDeliveriesBefore(ctx, before, limit)
			if err == nil {
				s.WebhookAttempts += attempts
				w.deleted.WithLabelValues("webhook_attempts").Add(float64(attempts))
			}
			return deliveries, err
		}},
	}
	for _, k := range kinds {
		for {
			var n int
			err := w.cfg.Store.Update(ctx, func(tx domain.Tx) (err error) {
				n, err = k.delete(tx, k.before, w.cfg.BatchSize)
				return err
			})
			if err != nil {
				return s, err
			}
			*k.count += n
			w.deleted.WithLabelValues(k.name).Add(float64(n))
			if n < w.cfg.BatchSize {
				break
			}
			if err := sleep(ctx, w.cfg.Pause); err != nil {
				return s, err
			}
		}
	}
	if s != (Stats{}) {
		w.log.Info("retention pass", "runs", s.Runs, "events", s.Events, "idempotency", s.Idempotency,
			"webhook_deliveries", s.WebhookDeliveries, "webhook_attempts", s.WebhookAttempts)
	}
	return s, nil
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
