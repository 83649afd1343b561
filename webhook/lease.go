package webhook

import (
	"context"
	"sync"
	"time"

	"github.com/parleyhq/parley/domain"
)

// Leases. A claim leases its deliveries for Config.Lease; while the
// worker still holds a delivery (queued, in flight, or its attempt not yet
// recorded) it extends the lease every Lease/4, so a live worker's lease
// does not expire under load, and another worker sends a delivery again
// only when its holder died (or could not reach the database for a whole
// lease).

// holding is a delivery the worker holds, and until when its lease runs.
type holding struct {
	lease domain.WebhookLease
	until time.Time // guarded by holdings.mu
}

// holdings are the deliveries a worker holds.
type holdings struct {
	mu   sync.Mutex
	held map[*holding]struct{}
}

func newHoldings() *holdings { return &holdings{held: map[*holding]struct{}{}} }

// addJobs records the deliveries of a claim, leased until until, and
// sets each job's holding.
func (h *holdings) addJobs(jobs []*job, until time.Time) {
	hds := make([]holding, len(jobs)) // one allocation for the claim
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, j := range jobs {
		d := &j.delivery
		hds[i] = holding{lease: domain.WebhookLease{EndpointID: d.EndpointID, EventSeq: d.EventSeq, Lease: j.lease}, until: until}
		j.hold = &hds[i]
		h.held[j.hold] = struct{}{}
	}
}

// release forgets hd: its lease is no longer extended.
func (h *holdings) release(hd *holding) {
	h.mu.Lock()
	delete(h.held, hd)
	h.mu.Unlock()
}

// releaseResults forgets the holdings of a batch's jobs.
func (h *holdings) releaseResults(batch []result) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range batch {
		delete(h.held, r.job.hold)
	}
}

// sendable reports whether hd's lease outlasts a request started at now
// and the recording of its answer (margin each).
func (h *holdings) sendable(hd *holding, now time.Time, margin time.Duration) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return !now.Add(2 * margin).After(hd.until)
}

// list returns the deliveries held now.
func (h *holdings) list() []*holding {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]*holding, 0, len(h.held))
	for hd := range h.held {
		out = append(out, hd)
	}
	return out
}

// extended records that hds' leases now run until until, where renewed.
func (h *holdings) extended(hds []*holding, renewed []bool, until time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, hd := range hds {
		if renewed[i] && until.After(hd.until) {
			hd.until = until
		}
	}
}

// renewLoop extends the leases held every Lease/4 until stop is closed.
// A lease that could not be extended (lost, or its row busy being
// recorded) keeps its end.
func (w *Worker) renewLoop(stop <-chan struct{}) {
	t := time.NewTicker(w.cfg.Lease / 4)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		if err := w.renew(context.Background()); err != nil {
			w.log.Warn("extending webhook leases", "err", err)
		}
	}
}

// renew extends every lease held, in batches of maxFinishBatch.
func (w *Worker) renew(ctx context.Context) error {
	all := w.held.list()
	for len(all) > 0 {
		hds := all[:min(len(all), maxFinishBatch)]
		all = all[len(hds):]
		ls := make([]domain.WebhookLease, len(hds))
		for i, hd := range hds {
			ls[i] = hd.lease
		}
		until := w.cfg.Clock.Now().UTC().Add(w.cfg.Lease)
		var renewed []bool
		err := w.cfg.Store.Update(ctx, func(tx domain.Tx) (err error) {
			renewed, err = tx.ExtendWebhookLeases(ctx, ls, until)
			return err
		})
		if err != nil {
			return err
		}
		w.held.extended(hds, renewed, until)
	}
	return nil
}
