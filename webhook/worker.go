package webhook

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	mathrand "math/rand/v2"
	"strconv"
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
	// notifiedPollInterval is the default PollInterval with a Notifier.
	notifiedPollInterval = time.Second
	queueReportInterval  = 5 * time.Second
	// maxFinishBatch bounds how many attempts one transaction records.
	maxFinishBatch = 1024
	// maxClaim bounds how many deliveries one claim leases.
	maxClaim = 1024
	// queueFactor sizes the queue of claimed jobs when it is slow: this
	// many per sender.
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
	// Notifier, when set, wakes the worker as soon as a commit made
	// deliveries due (domain.TopicWebhooks), in this process or, on
	// PostgreSQL, in any other.
	Notifier domain.Notifier
	// PollInterval is the pause between looks for due deliveries when
	// none was found: retries come due without a notification, and
	// notifications may be missed (default 100 ms, 1 s with a Notifier).
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
	held    *holdings    // deliveries claimed and not yet recorded
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
		if cfg.Notifier != nil {
			cfg.PollInterval = notifiedPollInterval
		}
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
	return &Worker{cfg: cfg, log: logger, metrics: newMetrics(cfg.Metrics), owner: newOwner(),
		held: newHoldings()}
}

// newOwner names a worker in the leases it takes.
func newOwner() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "wkr_" + hex.EncodeToString(b)
}

// job is a claimed delivery with its endpoint (shared by the jobs of a
// claim).
type job struct {
	delivery domain.WebhookDelivery
	endpoint *domain.WebhookEndpoint
	lease    string
	hold     *holding
}

// result is a job's attempt.
type result struct {
	job     *job
	started time.Time
	outcome Outcome
}

// Run delivers until ctx is cancelled, then lets the requests in flight
// (and those already claimed) finish, each within the sender's timeout,
// records them and returns.
//
// Concurrency senders take jobs from a queue that one loop refills with a
// claim (of at most maxClaim) whenever a quarter of its target is free.
// The target is what the senders complete in queueWindow at their recent
// pace, between queueFactor × Concurrency and 2 × maxClaim, so claims
// (and their transactions) are few and large under load and a slow
// endpoint does not hold many deliveries. When a claim found less than it
// had room for, the loop waits for the Notifier (a commit made deliveries
// due) or PollInterval, whichever comes first. The leases of the
// deliveries held are extended meanwhile (lease.go); a job whose lease
// could still expire during its request (it could not be extended) is
// not sent: its lease expires and it is claimed again.
func (w *Worker) Run(ctx context.Context) error {
	capacity := max(2*maxClaim, queueFactor*w.cfg.Concurrency)
	jobs := make(chan *job, capacity)
	results := make(chan result, 2*maxFinishBatch)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		w.finishLoop(results)
	}()
	go w.reportQueue(ctx)
	wake, space := make(chan struct{}, 1), make(chan struct{}, 1)
	if w.cfg.Notifier != nil {
		cancel := w.cfg.Notifier.Subscribe(domain.TopicWebhooks, func(string) { signal(wake) })
		defer cancel()
	}
	stopRenewing := make(chan struct{})
	defer close(stopRenewing)
	go w.renewLoop(stopRenewing)
	p := newPace(queueFactor*w.cfg.Concurrency, capacity, w.cfg.Clock.Now())
	detached := context.WithoutCancel(ctx)
	// refill is the queue's length at which the claiming loop wants to
	// claim again: senders wake it then, not at every job.
	var refill atomic.Int64
	var senders sync.WaitGroup
	for range w.cfg.Concurrency {
		senders.Go(func() {
			for j := range jobs {
				if int64(len(jobs)) <= refill.Load() {
					signal(space)
				}
				if !w.held.sendable(j.hold, w.cfg.Clock.Now(), w.cfg.Lease/3) {
					w.held.release(j.hold) // the lease could expire mid-request
					continue
				}
				results <- w.attempt(detached, j)
				p.done.Add(1)
			}
		})
	}
	for ctx.Err() == nil {
		target := p.target(w.cfg.Clock.Now())
		if threshold := target * 3 / 4; len(jobs) > threshold {
			refill.Store(int64(threshold))
			if len(jobs) > threshold { // a sender that took a job since sees the threshold
				waitFor(ctx, space, w.cfg.PollInterval)
			}
			continue
		}
		room := min(maxClaim, target-len(jobs))
		claimed, err := w.claim(ctx, room)
		if err != nil && ctx.Err() == nil {
			w.log.Error("claiming webhook deliveries", "err", err)
		}
		for _, j := range claimed {
			jobs <- j
		}
		if len(claimed) < room {
			waitFor(ctx, wake, w.cfg.PollInterval)
		}
	}
	close(jobs)
	senders.Wait()
	close(results)
	<-finished
	return nil
}

// queueWindow is how long the claimed jobs should last at the senders'
// recent pace.
const queueWindow = 500 * time.Millisecond

// pace sizes the queue of claimed jobs from the senders' recent pace.
type pace struct {
	done     atomic.Int64 // attempts made
	min, max int
	rate     float64 // attempts per second, smoothed
	counted  int64   // done at the last measure
	at       time.Time
}

func newPace(lo, hi int, now time.Time) *pace { return &pace{min: lo, max: hi, at: now} }

// target returns how many jobs the queue should hold; only the claiming
// loop calls it.
func (p *pace) target(now time.Time) int {
	if elapsed := now.Sub(p.at); elapsed >= 50*time.Millisecond {
		done := p.done.Load()
		p.rate = 0.5*p.rate + 0.5*float64(done-p.counted)/elapsed.Seconds()
		p.counted, p.at = done, now
	}
	return min(p.max, max(p.min, int(p.rate*queueWindow.Seconds())))
}

// signal makes a pending wake-up on ch, unless one is pending already.
func signal(ch chan<- struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// waitFor waits for a signal on ch, d or ctx.
func waitFor(ctx context.Context, ch <-chan struct{}, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	case <-ctx.Done():
	}
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
func (w *Worker) claim(ctx context.Context, n int) ([]*job, error) {
	now := w.cfg.Clock.Now().UTC()
	lease := w.owner + "-" + strconv.FormatInt(w.claims.Add(1), 10)
	var jobs []*job
	until := now.Add(w.cfg.Lease)
	err := w.cfg.Store.Update(ctx, func(tx domain.Tx) error {
		ds, err := tx.ClaimWebhookDeliveries(ctx, now, until, lease, n)
		if err != nil {
			return err
		}
		endpoints := map[domain.WebhookEndpointID]*domain.WebhookEndpoint{}
		all := make([]job, len(ds)) // one allocation for the claim's jobs
		jobs = make([]*job, len(ds))
		for i, d := range ds {
			e := endpoints[d.EndpointID]
			if e == nil {
				got, err := tx.GetWebhookEndpoint(ctx, d.OrgID, d.EndpointID)
				if err != nil {
					return err
				}
				e = &got
				endpoints[d.EndpointID] = e
			}
			all[i] = job{delivery: d, endpoint: e, lease: lease}
			jobs[i] = &all[i]
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	w.held.addJobs(jobs, until)
	return jobs, nil
}

// attempt makes one request of j.
func (w *Worker) attempt(ctx context.Context, j *job) result {
	d, e := &j.delivery, j.endpoint
	started := w.cfg.Clock.Now().UTC()
	if d.FirstAttemptAt == nil && d.Attempts == 0 {
		w.metrics.lag.Observe(started.Sub(d.EventCreatedAt).Seconds())
	}
	if !e.Enabled {
		return result{job: j, started: started, outcome: Outcome{Err: fmt.Errorf("endpoint disabled: %s", e.DisabledReason)}}
	}
	body, err := Body(*d)
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
