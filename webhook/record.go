package webhook

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/parleyhq/parley/domain"
)

// Recording attempts: many per transaction, then the endpoints' health.

// finishGather is how long the recording loop lets a batch of fewer than
// gatherBatch results fill: fewer, larger transactions (each pays a
// commit, on SQLite an fsync on the single writer) cost less per attempt,
// and lag is measured up to the request, not to its recording.
const (
	finishGather = 2 * time.Millisecond
	gatherBatch  = 128
)

// finishLoop records results as they come, many per transaction.
func (w *Worker) finishLoop(results <-chan result) {
	var batch []result // reused: finish is done with it when it returns
	for r := range results {
		var open bool
		batch, open = drain(results, append(batch[:0], r))
		if open && len(batch) < gatherBatch {
			time.Sleep(finishGather)
			batch, _ = drain(results, batch)
		}
		if err := w.finish(context.Background(), batch); err != nil {
			// The leases expire and the deliveries are attempted again.
			w.log.Error("recording webhook attempts", "count", len(batch), "err", err)
		}
	}
}

// drain appends the results waiting in results to batch, up to
// maxFinishBatch; open is false once results is closed.
func drain(results <-chan result, batch []result) (_ []result, open bool) {
	for len(batch) < maxFinishBatch {
		select {
		case r, ok := <-results:
			if !ok {
				return batch, false
			}
			batch = append(batch, r)
		default:
			return batch, true
		}
	}
	return batch, true
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
	defer w.held.releaseResults(batch)
	now := w.cfg.Clock.Now().UTC()
	var h *health
	var outcomes []string
	err := w.cfg.Store.Update(ctx, func(tx domain.Tx) error {
		h = &health{endpoints: map[domain.WebhookEndpointID]*endpointHealth{}}
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
			h.note(r, outcomes[i])
		}
		return h.record(ctx, tx, now, w.cfg.DisableAfter)
	})
	if err != nil {
		return err
	}
	w.metrics.countOutcomes(outcomes)
	w.disable(ctx, h.disable)
	return nil
}

// health is what a batch says about its endpoints, and which of them to
// disable.
type health struct {
	endpoints map[domain.WebhookEndpointID]*endpointHealth
	disable   []disabling
}

// endpointHealth is one endpoint's attempts in a batch.
type endpointHealth struct {
	endpoint  *domain.WebhookEndpoint
	succeeded bool
	lastOK    time.Time // start of the latest successful attempt
	failures  []result  // failed attempts while it was enabled (410 aside)
}

// note takes r (whose outcome is outcome) into account.
func (h *health) note(r result, outcome string) {
	e := r.job.endpoint
	s := h.endpoints[e.ID]
	if s == nil {
		s = &endpointHealth{endpoint: e}
		h.endpoints[e.ID] = s
	}
	switch {
	case outcome == outcomeGone:
		h.disable = append(h.disable, disabling{e.OrgID, e.ID, fmt.Sprintf("the endpoint answered 410 Gone at %s", r.started.Format(time.RFC3339))})
	case r.outcome.OK():
		s.succeeded = true
		if r.started.After(s.lastOK) {
			s.lastOK = r.started
		}
	case e.Enabled:
		s.failures = append(s.failures, r)
	}
}

// record stores the batch's health changes in tx, endpoint by endpoint in
// the order of their ids: concurrent batches lock the health rows in one
// order, so they wait for each other but never deadlock. An endpoint that
// succeeded is healthy; one that failed after its latest success is
// failing since that failure (or earlier), and is disabled once it has
// failed for disableAfter.
func (h *health) record(ctx context.Context, tx domain.Tx, now time.Time, disableAfter time.Duration) error {
	ids := slices.Sorted(maps.Keys(h.endpoints))
	for _, id := range ids {
		s := h.endpoints[id]
		e := s.endpoint
		if s.succeeded {
			if err := tx.MarkWebhookEndpointHealthy(ctx, e.OrgID, e.ID); err != nil {
				return err
			}
		}
		var first, last *result // failures after the latest success
		for i := range s.failures {
			r := &s.failures[i]
			if !r.started.After(s.lastOK) && s.succeeded {
				continue
			}
			if first == nil || r.started.Before(first.started) {
				first = r
			}
			if last == nil || !r.started.Before(last.started) {
				last = r
			}
		}
		if first == nil {
			continue
		}
		since, err := tx.MarkWebhookEndpointFailing(ctx, e.OrgID, e.ID, first.started)
		if err != nil && !domain.IsNotFound(err) {
			return err
		}
		if !since.IsZero() && now.Sub(since) >= disableAfter {
			h.disable = append(h.disable, disabling{e.OrgID, e.ID, fmt.Sprintf(
				"every attempt failed since %s (%s); last: %s", since.Format(time.RFC3339),
				now.Sub(since).Round(time.Minute), last.outcome.Describe())})
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
	d, o := r.job.delivery, r.outcome // d is a copy
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
