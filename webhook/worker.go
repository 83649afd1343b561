package webhook

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	mathrand "math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/service"
)

// Defaults of a Worker.
const (
	DefaultConcurrency  = 16
	DefaultPollInterval = 100 * time.Millisecond
	queueReportInterval = 5 * time.Second
	// maxFinishBatch bounds how many attempts one transaction records.
	maxFinishBatch = 256
	// queueFactor sizes the queue of claimed jobs: this many per sender.
	queueFactor = 4
)

// Config wires a Worker. Store, Service, Clock and Sender are required.
type Config struct {
	Store domain.Store
	// Service disables endpoints (410, failing for days).
	Service *service.Service
	Clock   domain.Clock
	Sender  *Sender
	Logger  *slog.Logger
	// Metrics receives the delivery metrics; nil registers nothing.
	Metrics prometheus.Registerer
	// Concurrency is how many requests are in flight at most (default 16).
	Concurrency int
	// Lease is how long a claimed delivery is reserved for its attempt;
	// it must outlast a wait in the queue (at most one request timeout),
	// the request timeout and the recording of the outcome. A process that
	// dies mid-attempt leaves the delivery to others once it expires.
	// Default: 3 × DefaultTimeout.
	Lease time.Duration
	// PollInterval is the pause between looks for due deliveries when
	// none was found (default 100 ms).
	PollInterval time.Duration
	// DisableAfter is how long an endpoint may fail every attempt before
	// it is disabled (default 5 days).
	DisableAfter time.Duration
	// Random returns numbers in [0, 1) for the retry jitter (default
	// math/rand).
	Random func() float64
}

// Worker claims due deliveries, POSTs them and records each attempt. Any
// number of workers, in any number of processes, may share one store: a
// claim leases its deliveries, so one success is sent once, and a
// delivery whose worker died is taken over when its lease expires.
type Worker struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics
	owner   string       // this worker's lease prefix
	claims  atomic.Int64 // numbers each claim's lease
}

// NewWorker returns a Worker.
func NewWorker(cfg Config) *Worker {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 3 * DefaultTimeout
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.DisableAfter <= 0 {
		cfg.DisableAfter = DefaultDisableAfter
	}
	if cfg.Random == nil {
		cfg.Random = mathrand.Float64
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Worker{cfg: cfg, log: logger, metrics: newMetrics(cfg.Metrics), owner: newOwner()}
}

// newOwner names a worker in the leases it takes.
func newOwner() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "wkr_" + hex.EncodeToString(b)
}

// job is a claimed delivery with its endpoint.
type job struct {
	delivery domain.WebhookDelivery
	endpoint domain.WebhookEndpoint
	lease    string
	// sendBy is the last moment its request may start: the lease's end
	// less the time a request and its recording may take.
	sendBy time.Time
}

// result is a job's attempt.
type result struct {
	job     job
	started time.Time
	outcome Outcome
}

// Run delivers until ctx is cancelled, then lets the requests in flight
// (and those already claimed) finish, each within the sender's timeout,
// records them and returns.
//
// Concurrency senders take jobs from a queue of queueFactor times as many
// places; the loop refills the queue with one claim whenever half of it is
// free, so claims stay large under load, and looks again after
// PollInterval when a claim found less than it had room for. A job that
// waited in the queue so long that its lease could expire during the
// request is not sent (its lease expires and it is claimed again).
func (w *Worker) Run(ctx context.Context) error {
	jobs := make(chan job, queueFactor*w.cfg.Concurrency)
	results := make(chan result, queueFactor*w.cfg.Concurrency)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		w.finishLoop(results)
	}()
	go w.reportQueue(ctx)
	detached := context.WithoutCancel(ctx)
	var senders sync.WaitGroup
	for range w.cfg.Concurrency {
		senders.Go(func() {
			for j := range jobs {
				if w.cfg.Clock.Now().After(j.sendBy) {
					continue // the lease could expire mid-request
				}
				results <- w.attempt(detached, j)
			}
		})
	}
	for ctx.Err() == nil {
		room := cap(jobs) - len(jobs)
		if room < (cap(jobs)+1)/2 {
			sleep(ctx, time.Millisecond)
			continue
		}
		claimed, err := w.claim(ctx, room)
		if err != nil && ctx.Err() == nil {
			w.log.Error("claiming webhook deliveries", "err", err)
		}
		for _, j := range claimed {
			jobs <- j
		}
		if len(claimed) < room {
			sleep(ctx, w.cfg.PollInterval)
		}
	}
	close(jobs)
	senders.Wait()
	close(results)
	<-finished
	return nil
}

// DeliverDue makes every attempt due now (by the worker's clock) and
// returns how many it made; attempts that fail are rescheduled. It is
// Run's work without the waiting, for tests and tools driving a clock.
func (w *Worker) DeliverDue(ctx context.Context) (int, error) {
	total := 0
	for {
		jobs, err := w.claim(ctx, w.cfg.Concurrency)
		if err != nil || len(jobs) == 0 {
			return total, err
		}
		results := make([]result, len(jobs))
		var wg sync.WaitGroup
		for i, j := range jobs {
			wg.Go(func() { results[i] = w.attempt(ctx, j) })
		}
		wg.Wait()
		if err := w.finish(ctx, results); err != nil {
			return total, err
		}
		total += len(jobs)
	}
}

// claim leases up to n due deliveries and reads their endpoints.
func (w *Worker) claim(ctx context.Context, n int) ([]job, error) {
	now := w.cfg.Clock.Now().UTC()
	lease := fmt.Sprintf("%s-%d", w.owner, w.claims.Add(1))
	var jobs []job
	sendBy := now.Add(w.cfg.Lease / 3)
	err := w.cfg.Store.Update(ctx, func(tx domain.Tx) error {
		jobs = jobs[:0]
		ds, err := tx.ClaimWebhookDeliveries(ctx, now, now.Add(w.cfg.Lease), lease, n)
		if err != nil {
			return err
		}
		endpoints := map[domain.WebhookEndpointID]domain.WebhookEndpoint{}
		for _, d := range ds {
			e, ok := endpoints[d.EndpointID]
			if !ok {
				if e, err = tx.GetWebhookEndpoint(ctx, d.OrgID, d.EndpointID); err != nil {
					return err
				}
				endpoints[d.EndpointID] = e
			}
			jobs = append(jobs, job{delivery: d, endpoint: e, lease: lease, sendBy: sendBy})
		}
		return nil
	})
	return jobs, err
}

// attempt makes one request of j.
func (w *Worker) attempt(ctx context.Context, j job) result {
	d, e := j.delivery, j.endpoint
	started := w.cfg.Clock.Now().UTC()
	if d.FirstAttemptAt == nil && d.Attempts == 0 {
		w.metrics.lag.Observe(started.Sub(d.EventCreatedAt).Seconds())
	}
	if !e.Enabled {
		return result{job: j, started: started, outcome: Outcome{Err: fmt.Errorf("endpoint disabled: %s", e.DisabledReason)}}
	}
	body, err := Body(d)
	if err != nil {
		return result{job: j, started: started, outcome: Outcome{Err: err}}
	}
	secrets := []string{e.Secret}
	if e.PreviousSecret != "" && e.PreviousSecretUntil != nil && started.Before(*e.PreviousSecretUntil) {
		secrets = append(secrets, e.PreviousSecret)
	}
	outcome := w.cfg.Sender.Send(ctx, Message{URL: e.URL, ID: d.EventID(), Timestamp: started, Body: body, Secrets: secrets})
	w.metrics.latency.Observe(outcome.Latency.Seconds())
	return result{job: j, started: started, outcome: outcome}
}

// finishLoop records results as they come, many per transaction.
func (w *Worker) finishLoop(results <-chan result) {
	for r := range results {
		batch := []result{r}
	more:
		for len(batch) < maxFinishBatch {
			select {
			case r, ok := <-results:
				if !ok {
					break more
				}
				batch = append(batch, r)
			default:
				break more
			}
		}
		if err := w.finish(context.Background(), batch); err != nil {
			// The leases expire and the deliveries are attempted again.
			w.log.Error("recording webhook attempts", "count", len(batch), "err", err)
		}
	}
}

// disabling is an endpoint to disable after a batch is recorded.
type disabling struct {
	org    domain.OrgID
	id     domain.WebhookEndpointID
	reason string
}

// finish records a batch of attempts in one transaction, then disables
// the endpoints that answered 410 or have failed for too long.
func (w *Worker) finish(ctx context.Context, batch []result) error {
	now := w.cfg.Clock.Now().UTC()
	var h *health
	var outcomes []string
	err := w.cfg.Store.Update(ctx, func(tx domain.Tx) error {
		h = &health{failingSince: map[domain.WebhookEndpointID]time.Time{}, healthy: map[domain.WebhookEndpointID]bool{}}
		fs := make([]domain.WebhookFinish, len(batch))
		outcomes = make([]string, len(batch))
		for i, r := range batch {
			d, a, outcome := w.next(r, now)
			fs[i], outcomes[i] = domain.WebhookFinish{Lease: r.job.lease, Delivery: d, Attempt: a}, outcome
		}
		applied, err := tx.FinishWebhookAttempts(ctx, fs)
		if err != nil {
			return err
		}
		for i, r := range batch {
			if !applied[i] {
				outcomes[i] = outcomeLostLease
			}
			if err := h.track(ctx, tx, r, outcomes[i], now, w.cfg.DisableAfter); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, o := range outcomes {
		w.metrics.deliveries.WithLabelValues(o).Inc()
	}
	w.disable(ctx, h.disable)
	return nil
}

// health follows the endpoints of a batch: which succeeded, since when
// the others fail, and which to disable.
type health struct {
	failingSince map[domain.WebhookEndpointID]time.Time
	healthy      map[domain.WebhookEndpointID]bool
	disable      []disabling
}

// track records what r says about its endpoint's health in tx.
func (h *health) track(ctx context.Context, tx domain.Tx, r result, outcome string, now time.Time, disableAfter time.Duration) error {
	e := r.job.endpoint
	switch {
	case outcome == outcomeGone:
		h.disable = append(h.disable, disabling{e.OrgID, e.ID, fmt.Sprintf("the endpoint answered 410 Gone at %s", r.started.Format(time.RFC3339))})
	case r.outcome.OK():
		if !h.healthy[e.ID] {
			h.healthy[e.ID] = true
			return tx.MarkWebhookEndpointHealthy(ctx, e.OrgID, e.ID)
		}
	case e.Enabled:
		since, seen := h.failingSince[e.ID]
		if !seen {
			var err error
			if since, err = tx.MarkWebhookEndpointFailing(ctx, e.OrgID, e.ID, r.started); err != nil && !domain.IsNotFound(err) {
				return err
			}
			h.failingSince[e.ID] = since
		}
		if !since.IsZero() && now.Sub(since) >= disableAfter && !h.healthy[e.ID] {
			h.disable = append(h.disable, disabling{e.OrgID, e.ID, fmt.Sprintf(
				"every attempt failed since %s (%s); last: %s", since.Format(time.RFC3339),
				now.Sub(since).Round(time.Minute), r.outcome.Describe())})
		}
	}
	return nil
}

// disable disables each endpoint of list once, through the service.
func (w *Worker) disable(ctx context.Context, list []disabling) {
	done := map[domain.WebhookEndpointID]bool{}
	for _, dis := range list {
		if done[dis.id] {
			continue
		}
		done[dis.id] = true
		if _, err := w.cfg.Service.DisableWebhookEndpoint(ctx, dis.org, dis.id, dis.reason); err != nil && !domain.IsNotFound(err) {
			w.log.Error("disabling a webhook endpoint", "org", dis.org, "endpoint", dis.id, "err", err)
			continue
		}
		w.log.Warn("webhook endpoint disabled", "org", dis.org, "endpoint", dis.id, "reason", dis.reason)
	}
}

// next returns the delivery after r's attempt, the attempt's log entry
// and its outcome label.
func (w *Worker) next(r result, now time.Time) (domain.WebhookDelivery, domain.WebhookAttempt, string) {
	d, o := r.job.delivery, r.outcome
	d.Attempts++
	d.LastStatus, d.LastError = o.Status, ""
	a := domain.WebhookAttempt{
		OrgID: d.OrgID, EndpointID: d.EndpointID, EventSeq: d.EventSeq, Attempt: d.Attempts,
		StartedAt: r.started, Latency: o.Latency, Status: o.Status, ResponseExcerpt: o.Excerpt,
	}
	if o.OK() {
		d.State, d.DeliveredAt = domain.DeliveryDelivered, &now
		return d, a, outcomeDelivered
	}
	a.Error = clean(o.Describe())
	d.LastError = a.Error
	if o.Status == 410 {
		d.State, d.LastError = domain.DeliveryFailed, "endpoint answered 410 Gone: endpoint disabled"
		return d, a, outcomeGone
	}
	if delay, ok := retryDelay(d.Attempts, w.cfg.Random); ok && r.job.endpoint.Enabled {
		d.NextAttemptAt = now.Add(delay)
		return d, a, outcomeRetrying
	}
	d.State = domain.DeliveryFailed
	if r.job.endpoint.Enabled {
		d.LastError = fmt.Sprintf("gave up after %d attempts; last: %s", d.Attempts, a.Error)
	}
	return d, a, outcomeFailed
}

// clean makes an error text safe to store: valid UTF-8, no NUL, bounded.
func clean(s string) string {
	s = excerpt([]byte(s))
	if len(s) > 500 {
		s = s[:500]
	}
	return excerpt([]byte(s))
}

// reportQueue refreshes the queue gauges until ctx is cancelled.
func (w *Worker) reportQueue(ctx context.Context) {
	for {
		var q domain.WebhookQueueStats
		err := w.cfg.Store.View(ctx, func(tx domain.Tx) (err error) {
			q, err = tx.WebhookQueue(ctx, w.cfg.Clock.Now().UTC())
			return err
		})
		if err == nil {
			w.metrics.pending.Set(float64(q.Pending))
			w.metrics.due.Set(float64(q.Due))
		} else if ctx.Err() == nil {
			w.log.Warn("reading the webhook queue", "err", err)
		}
		if !sleep(ctx, queueReportInterval) {
			return
		}
	}
}

// sleep waits for d or ctx; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
