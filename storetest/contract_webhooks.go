package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/domain"
)

// RunWebhookContract checks the domain.WebhookTx methods of the stores
// newStore makes: endpoint round trips and org isolation, the fan-out of
// AppendEvent into deliveries (subscribed types, enabled endpoints, same
// transaction), leases that no two claimers share (also under concurrent
// claimers) and their extension, attempts applied only under their lease, replays, failing
// pending deliveries, endpoint health and the queue figures.
func RunWebhookContract(t *testing.T, newStore Factory) {
	t.Run("Endpoints", func(t *testing.T) { testWebhookEndpoints(t, newStore) })
	t.Run("FanOut", func(t *testing.T) { testWebhookFanOut(t, newStore) })
	t.Run("ClaimAndFinish", func(t *testing.T) { testWebhookClaims(t, newStore) })
	t.Run("Reschedule", func(t *testing.T) { testWebhookReschedule(t, newStore) })
	t.Run("Health", func(t *testing.T) { testWebhookHealth(t, newStore) })
	t.Run("ConcurrentClaims", func(t *testing.T) { testWebhookConcurrentClaims(t, newStore) })
	t.Run("Leases", func(t *testing.T) { testWebhookLeases(t, newStore) })
}

func endpoint(tn tenant, id string, types ...string) domain.WebhookEndpoint {
	return domain.WebhookEndpoint{
		ID: domain.WebhookEndpointID(id), OrgID: tn.Org.ID, URL: "https://hooks.example.com/" + id,
		Description: "endpoint " + id, EventTypes: types, Enabled: true,
		Secret: "whsec_c2VjcmV0LW9mLQ==" + id, CreatedAt: minute(5), UpdatedAt: minute(5),
	}
}

func createEndpoints(t testing.TB, s domain.Store, es ...domain.WebhookEndpoint) {
	t.Helper()
	update(t, s, func(ctx context.Context, tx domain.Tx) error {
		for _, e := range es {
			if err := tx.CreateWebhookEndpoint(ctx, e); err != nil {
				return err
			}
		}
		return nil
	})
}

func getEndpoint(t testing.TB, s domain.Store, org domain.OrgID, id domain.WebhookEndpointID) domain.WebhookEndpoint {
	return read(t, s, func(ctx context.Context, tx domain.Tx) (domain.WebhookEndpoint, error) {
		return tx.GetWebhookEndpoint(ctx, org, id)
	})
}

func testWebhookEndpoints(t *testing.T, newStore Factory) {
	s := newStore(t)
	a, b := seed(t, s)
	e1 := endpoint(a, "whe_a1", domain.EventConversationStarted, domain.EventRunFailed)
	e2 := endpoint(a, "whe_a2")
	e2.CreatedAt = minute(6)
	eb := endpoint(b, "whe_b1")
	createEndpoints(t, s, e2, e1, eb)
	equal(t, "GetWebhookEndpoint", getEndpoint(t, s, a.Org.ID, e1.ID), e1)
	equal(t, "GetWebhookEndpoint with every type", getEndpoint(t, s, a.Org.ID, e2.ID), e2)
	equal(t, "ListWebhookEndpoints", read(t, s, func(ctx context.Context, tx domain.Tx) ([]domain.WebhookEndpoint, error) {
		return tx.ListWebhookEndpoints(ctx, a.Org.ID)
	}), []domain.WebhookEndpoint{e1, e2})

	changed := e1
	changed.URL, changed.Description, changed.EventTypes = "https://other.example.com/x", "", []string{domain.EventConversationClosed}
	changed.Enabled, changed.DisabledReason = false, "disabled by an API call"
	changed.Secret, changed.PreviousSecret, changed.PreviousSecretUntil = "whsec_bmV3", e1.Secret, ptr(minute(90))
	changed.UpdatedAt = minute(60)
	update(t, s, func(ctx context.Context, tx domain.Tx) error { return tx.UpdateWebhookEndpoint(ctx, changed) })
	equal(t, "endpoint after UpdateWebhookEndpoint", getEndpoint(t, s, a.Org.ID, e1.ID), changed)

	wrongOrg := eb
	wrongOrg.OrgID = a.Org.ID
	wantNotFound(t, s, []notFoundCase{
		{"GetWebhookEndpoint of another org", func(ctx context.Context, tx domain.Tx) error {
			_, err := tx.GetWebhookEndpoint(ctx, a.Org.ID, eb.ID)
			return err
		}},
		{"UpdateWebhookEndpoint of another org", func(ctx context.Context, tx domain.Tx) error {
			return tx.UpdateWebhookEndpoint(ctx, wrongOrg)
		}},
		{"DeleteWebhookEndpoint of another org", func(ctx context.Context, tx domain.Tx) error {
			return tx.DeleteWebhookEndpoint(ctx, a.Org.ID, eb.ID)
		}},
		{"DeleteWebhookEndpoint missing", func(ctx context.Context, tx domain.Tx) error {
			return tx.DeleteWebhookEndpoint(ctx, a.Org.ID, "whe_x")
		}},
	})
	equal(t, "org b's endpoint untouched", getEndpoint(t, s, b.Org.ID, eb.ID), eb)
	if err := tryUpdate(s, func(ctx context.Context, tx domain.Tx) error { return tx.CreateWebhookEndpoint(ctx, e2) }); err == nil {
		t.Error("CreateWebhookEndpoint with a duplicate id succeeded")
	}
	update(t, s, func(ctx context.Context, tx domain.Tx) error { return tx.DeleteWebhookEndpoint(ctx, a.Org.ID, e2.ID) })
	wantCode(t, "GetWebhookEndpoint after delete", readErr(t, s, func(ctx context.Context, tx domain.Tx) error {
		_, err := tx.GetWebhookEndpoint(ctx, a.Org.ID, e2.ID)
		return err
	}), domain.CodeNotFound)
}

// appendEvents appends events of the given types for tn, at minute(10+i),
// and returns them with their Seq.
func appendEvents(t testing.TB, s domain.Store, tn tenant, types ...string) []domain.Event {
	t.Helper()
	var after int64
	if last := read(t, s, func(ctx context.Context, tx domain.Tx) ([]domain.Event, error) {
		return tx.ListEvents(ctx, tn.Org.ID, 0, 0)
	}); len(last) > 0 {
		after = last[len(last)-1].Seq
	}
	update(t, s, func(ctx context.Context, tx domain.Tx) error {
		for i, typ := range types {
			e := domain.Event{OrgID: tn.Org.ID, Type: typ, Subject: fmt.Sprintf("conv_%d", i),
				Payload: map[string]any{"n": float64(i), "customerId": string(tn.Customer.ID)}, CreatedAt: minute(10 + i)}
			if err := tx.AppendEvent(ctx, e); err != nil {
				return err
			}
		}
		return nil
	})
	return read(t, s, func(ctx context.Context, tx domain.Tx) ([]domain.Event, error) {
		return tx.ListEvents(ctx, tn.Org.ID, after, 0)
	})
}

func deliveries(t testing.TB, s domain.Store, org domain.OrgID, id domain.WebhookEndpointID, f domain.DeliveryFilter) []domain.WebhookDelivery {
	return read(t, s, func(ctx context.Context, tx domain.Tx) ([]domain.WebhookDelivery, error) {
		return tx.ListWebhookDeliveries(ctx, org, id, f)
	})
}

// wantDelivery is the fresh delivery of e to endpoint.
func wantDelivery(e domain.Event, endpoint domain.WebhookEndpointID) domain.WebhookDelivery {
	payload, err := json.Marshal(e.Payload)
	if err != nil {
		panic(err)
	}
	return domain.WebhookDelivery{
		OrgID: e.OrgID, EndpointID: endpoint, EventSeq: e.Seq, EventType: e.Type, Subject: e.Subject,
		Payload: payload, EventCreatedAt: e.CreatedAt, State: domain.DeliveryPending, NextAttemptAt: e.CreatedAt,
	}
}

func testWebhookFanOut(t *testing.T, newStore Factory) {
	s := newStore(t)
	a, b := seed(t, s)
	all := endpoint(a, "whe_all")
	started := endpoint(a, "whe_started", domain.EventConversationStarted)
	disabled := endpoint(a, "whe_off")
	disabled.Enabled = false
	other := endpoint(b, "whe_b")
	createEndpoints(t, s, all, started, disabled, other)

	events := appendEvents(t, s, a, domain.EventConversationStarted, domain.EventConversationClosed)
	equal(t, "deliveries to the endpoint of every type", deliveries(t, s, a.Org.ID, all.ID, domain.DeliveryFilter{}),
		[]domain.WebhookDelivery{wantDelivery(events[0], all.ID), wantDelivery(events[1], all.ID)})
	equal(t, "deliveries to the subscribed endpoint", deliveries(t, s, a.Org.ID, started.ID, domain.DeliveryFilter{}),
		[]domain.WebhookDelivery{wantDelivery(events[0], started.ID)})
	equal(t, "deliveries to the disabled endpoint", len(deliveries(t, s, a.Org.ID, disabled.ID, domain.DeliveryFilter{})), 0)
	equal(t, "deliveries to another org's endpoint", len(deliveries(t, s, b.Org.ID, other.ID, domain.DeliveryFilter{})), 0)
	equal(t, "deliveries after a seq", deliveries(t, s, a.Org.ID, all.ID, domain.DeliveryFilter{AfterSeq: events[0].Seq}),
		[]domain.WebhookDelivery{wantDelivery(events[1], all.ID)})
	equal(t, "deliveries with a limit", len(deliveries(t, s, a.Org.ID, all.ID, domain.DeliveryFilter{Limit: 1})), 1)
	equal(t, "GetWebhookDelivery", read(t, s, func(ctx context.Context, tx domain.Tx) (domain.WebhookDelivery, error) {
		return tx.GetWebhookDelivery(ctx, a.Org.ID, all.ID, events[1].Seq)
	}), wantDelivery(events[1], all.ID))

	// A rolled-back event makes no delivery.
	rollback := fmt.Errorf("roll back")
	err := tryUpdate(s, func(ctx context.Context, tx domain.Tx) error {
		if err := tx.AppendEvent(ctx, domain.Event{OrgID: a.Org.ID, Type: domain.EventRunFailed, Subject: "run_1",
			Payload: map[string]any{}, CreatedAt: minute(20)}); err != nil {
			return err
		}
		return rollback
	})
	if err != rollback {
		t.Fatalf("Update = %v, want the function's error", err)
	}
	equal(t, "deliveries after a rolled-back event", len(deliveries(t, s, a.Org.ID, all.ID, domain.DeliveryFilter{})), 2)

	// Deleting an endpoint deletes its deliveries only.
	update(t, s, func(ctx context.Context, tx domain.Tx) error {
		return tx.DeleteWebhookEndpoint(ctx, a.Org.ID, started.ID)
	})
	equal(t, "the other endpoint's deliveries after a delete", len(deliveries(t, s, a.Org.ID, all.ID, domain.DeliveryFilter{})), 2)
	wantCode(t, "GetWebhookDelivery of a deleted endpoint", readErr(t, s, func(ctx context.Context, tx domain.Tx) error {
		_, err := tx.GetWebhookDelivery(ctx, a.Org.ID, started.ID, events[0].Seq)
		return err
	}), domain.CodeNotFound)
}

func claim(t testing.TB, s domain.Store, now, until time.Time, lease string, limit int) []domain.WebhookDelivery {
	t.Helper()
	var got []domain.WebhookDelivery
	update(t, s, func(ctx context.Context, tx domain.Tx) error {
		var err error
		got, err = tx.ClaimWebhookDeliveries(ctx, now, until, lease, limit)
		return err
	})
	return got
}

func seqsOf(ds []domain.WebhookDelivery) map[int64]bool {
	out := map[int64]bool{}
	for _, d := range ds {
		out[d.EventSeq] = true
	}
	return out
}

func testWebhookClaims(t *testing.T, newStore Factory) {
	s := newStore(t)
	a, _ := seed(t, s)
	ep := endpoint(a, "whe_1")
	createEndpoints(t, s, ep)
	events := appendEvents(t, s, a, domain.EventConversationStarted, domain.EventConversationClosed, domain.EventRunFailed)

	equal(t, "claim before anything is due", len(claim(t, s, minute(9), minute(30), "l0", 10)), 0)
	first := claim(t, s, minute(11), minute(30), "l1", 10)
	if len(first) != 2 {
		t.Fatalf("claim at minute 11 took %d deliveries, want the 2 due", len(first))
	}
	for _, d := range first {
		want := wantDelivery(events[d.EventSeq-events[0].Seq], ep.ID)
		want.Lease, want.NextAttemptAt = "l1", minute(30)
		equal(t, "claimed delivery", d, want)
	}
	rest := claim(t, s, minute(20), minute(40), "l2", 10)
	equal(t, "a second claim takes only the unleased delivery", seqsOf(rest), map[int64]bool{events[2].Seq: true})
	equal(t, "a claim with limit 1 after the lease expired", len(claim(t, s, minute(31), minute(50), "l3", 1)), 1)

	queue := read(t, s, func(ctx context.Context, tx domain.Tx) (domain.WebhookQueueStats, error) {
		return tx.WebhookQueue(ctx, minute(35))
	})
	equal(t, "WebhookQueue", queue, domain.WebhookQueueStats{Pending: 3, Due: 1, NextDue: minute(30)})

	// Finishing under a lost lease logs the attempt but changes nothing.
	d := rest[0]
	delivered := d
	delivered.State, delivered.Attempts, delivered.LastStatus, delivered.DeliveredAt = domain.DeliveryDelivered, 1, 204, ptr(minute(21))
	attempt := domain.WebhookAttempt{OrgID: a.Org.ID, EndpointID: ep.ID, EventSeq: d.EventSeq, Attempt: 1,
		StartedAt: minute(20), Latency: 1500 * time.Microsecond, Status: 204, ResponseExcerpt: "ok"}
	finish := func(lease string, d domain.WebhookDelivery, a domain.WebhookAttempt) bool {
		var applied bool
		update(t, s, func(ctx context.Context, tx domain.Tx) error {
			var err error
			got, err := tx.FinishWebhookAttempts(ctx, []domain.WebhookFinish{{Lease: lease, Delivery: d, Attempt: a}})
			if err == nil {
				applied = got[0]
			}
			return err
		})
		return applied
	}
	equal(t, "FinishWebhookAttempt under another lease applied", finish("l9", delivered, attempt), false)
	equal(t, "FinishWebhookAttempt under its lease applied", finish("l2", delivered, attempt), true)
	want := delivered
	want.Lease, want.FirstAttemptAt = "", ptr(minute(20))
	got := read(t, s, func(ctx context.Context, tx domain.Tx) (domain.WebhookDelivery, error) {
		return tx.GetWebhookDelivery(ctx, a.Org.ID, ep.ID, d.EventSeq)
	})
	equal(t, "delivery after its attempt", got, want)
	equal(t, "FinishWebhookAttempt twice applied", finish("l2", delivered, attempt), false)

	// A failed attempt keeps the first attempt's time and schedules the next.
	var retry domain.WebhookDelivery
	for _, d := range deliveries(t, s, a.Org.ID, ep.ID, domain.DeliveryFilter{}) {
		if d.Lease == "l1" {
			retry = d
		}
	}
	failed := retry
	failed.Attempts, failed.NextAttemptAt, failed.LastStatus, failed.LastError = 1, minute(45), 503, "HTTP 503"
	failedAttempt := domain.WebhookAttempt{OrgID: a.Org.ID, EndpointID: ep.ID, EventSeq: retry.EventSeq, Attempt: 1,
		StartedAt: minute(12), Latency: time.Second, Status: 503, Error: "HTTP 503", ResponseExcerpt: "down"}
	equal(t, "failed attempt applied", finish("l1", failed, failedAttempt), true)
	got = read(t, s, func(ctx context.Context, tx domain.Tx) (domain.WebhookDelivery, error) {
		return tx.GetWebhookDelivery(ctx, a.Org.ID, ep.ID, retry.EventSeq)
	})
	want = failed
	want.Lease, want.FirstAttemptAt = "", ptr(minute(12))
	equal(t, "delivery after a failed attempt", got, want)

	// A batch: one under its lease, one not; both logged, in order.
	leased := claim(t, s, minute(60), minute(70), "l4", 1)
	if len(leased) != 1 {
		t.Fatalf("claim at minute 60 took %d deliveries, want 1", len(leased))
	}
	ok := leased[0]
	ok.State, ok.Attempts, ok.LastStatus, ok.DeliveredAt = domain.DeliveryDelivered, 1, 200, ptr(minute(61))
	okAttempt := domain.WebhookAttempt{OrgID: a.Org.ID, EndpointID: ep.ID, EventSeq: ok.EventSeq, Attempt: 1,
		StartedAt: minute(60), Status: 200}
	var applied []bool
	update(t, s, func(ctx context.Context, tx domain.Tx) error {
		var err error
		applied, err = tx.FinishWebhookAttempts(ctx, []domain.WebhookFinish{
			{Lease: "stale", Delivery: delivered, Attempt: attempt},
			{Lease: "l4", Delivery: ok, Attempt: okAttempt},
		})
		return err
	})
	equal(t, "FinishWebhookAttempts applied", applied, []bool{false, true})
	attempts := func(f domain.AttemptFilter) []domain.WebhookAttempt {
		return read(t, s, func(ctx context.Context, tx domain.Tx) ([]domain.WebhookAttempt, error) {
			return tx.ListWebhookAttempts(ctx, a.Org.ID, ep.ID, f)
		})
	}
	all := attempts(domain.AttemptFilter{})
	if len(all) != 6 {
		t.Fatalf("ListWebhookAttempts returned %d attempts, want 6 (lost leases are logged too): %+v", len(all), all)
	}
	equal(t, "batch attempts logged in order", []int64{all[1].EventSeq, all[0].EventSeq}, []int64{d.EventSeq, ok.EventSeq})
	for i := range all {
		if i > 0 && all[i].Seq >= all[i-1].Seq {
			t.Errorf("attempts not newest first: %d after %d", all[i].Seq, all[i-1].Seq)
		}
	}
	wantAttempt := failedAttempt
	wantAttempt.Seq = all[2].Seq
	equal(t, "the attempt before the batch", all[2], wantAttempt)
	equal(t, "attempts of one event", len(attempts(domain.AttemptFilter{EventSeq: d.EventSeq})), 4)
	equal(t, "attempts before a seq", attempts(domain.AttemptFilter{BeforeSeq: all[1].Seq}), all[2:])
	equal(t, "attempts with a limit", attempts(domain.AttemptFilter{Limit: 2}), all[:2])
	equal(t, "attempts of another org", len(read(t, s, func(ctx context.Context, tx domain.Tx) ([]domain.WebhookAttempt, error) {
		return tx.ListWebhookAttempts(ctx, "org_b", ep.ID, domain.AttemptFilter{})
	})), 0)

	update(t, s, func(ctx context.Context, tx domain.Tx) error { return tx.DeleteWebhookEndpoint(ctx, a.Org.ID, ep.ID) })
	equal(t, "attempts after the endpoint is deleted", len(attempts(domain.AttemptFilter{})), 0)
	equal(t, "finishing an attempt of a deleted endpoint applied", finish("l3", failed, failedAttempt), false)
	equal(t, "attempts logged for a deleted endpoint", len(attempts(domain.AttemptFilter{})), 0)
}

func testWebhookReschedule(t *testing.T, newStore Factory) {
	s := newStore(t)
	a, _ := seed(t, s)
	ep := endpoint(a, "whe_1")
	createEndpoints(t, s, ep)
	events := appendEvents(t, s, a, domain.EventConversationStarted, domain.EventConversationClosed, domain.EventRunFailed)
	count := func(fn func(ctx context.Context, tx domain.Tx) (int, error)) int {
		var n int
		update(t, s, func(ctx context.Context, tx domain.Tx) error {
			var err error
			n, err = fn(ctx, tx)
			return err
		})
		return n
	}
	claimed := claim(t, s, minute(10), minute(90), "lease", 1)
	equal(t, "claimed", seqsOf(claimed), map[int64]bool{events[0].Seq: true})
	equal(t, "FailPendingWebhookDeliveries", count(func(ctx context.Context, tx domain.Tx) (int, error) {
		return tx.FailPendingWebhookDeliveries(ctx, a.Org.ID, ep.ID, "endpoint disabled")
	}), 3)
	failed := deliveries(t, s, a.Org.ID, ep.ID, domain.DeliveryFilter{State: domain.DeliveryFailed})
	if len(failed) != 3 || failed[0].Lease != "" || failed[0].LastError != "endpoint disabled" {
		t.Fatalf("failed deliveries = %+v, want 3 without lease, saying why", failed)
	}
	reschedule := func(seq int64, since time.Time) int {
		return count(func(ctx context.Context, tx domain.Tx) (int, error) {
			return tx.RescheduleWebhookDeliveries(ctx, a.Org.ID, ep.ID, seq, since, minute(100))
		})
	}
	equal(t, "reschedule failed since the second event", reschedule(0, events[1].CreatedAt), 2)
	pending := deliveries(t, s, a.Org.ID, ep.ID, domain.DeliveryFilter{State: domain.DeliveryPending})
	equal(t, "pending after the replay", seqsOf(pending), map[int64]bool{events[1].Seq: true, events[2].Seq: true})
	for _, d := range pending {
		if d.NextAttemptAt != minute(100) || d.Attempts != 0 || d.Lease != "" {
			t.Errorf("rescheduled delivery %+v, want due at minute 100 with no attempt and no lease", d)
		}
	}
	equal(t, "reschedule one failed event", reschedule(events[0].Seq, time.Time{}), 1)
	equal(t, "reschedule of another org", count(func(ctx context.Context, tx domain.Tx) (int, error) {
		return tx.RescheduleWebhookDeliveries(ctx, "org_b", ep.ID, events[0].Seq, time.Time{}, minute(100))
	}), 0)
	equal(t, "claim the replayed", len(claim(t, s, minute(100), minute(110), "again", 1)), 1)
	leased := deliveries(t, s, a.Org.ID, ep.ID, domain.DeliveryFilter{State: domain.DeliveryPending})
	var held int64
	for _, d := range leased {
		if d.Lease == "again" {
			held = d.EventSeq
		}
	}
	equal(t, "reschedule a delivery under an attempt", reschedule(held, time.Time{}), 0)

	// A replay of an event without a delivery creates one.
	created := wantDelivery(events[0], "whe_2")
	createEndpoints(t, s, endpoint(a, "whe_2"))
	update(t, s, func(ctx context.Context, tx domain.Tx) error { return tx.CreateWebhookDelivery(ctx, created) })
	equal(t, "created delivery", deliveries(t, s, a.Org.ID, "whe_2", domain.DeliveryFilter{}), []domain.WebhookDelivery{created})
}

func testWebhookHealth(t *testing.T, newStore Factory) {
	s := newStore(t)
	a, b := seed(t, s)
	ep := endpoint(a, "whe_1")
	createEndpoints(t, s, ep)
	mark := func(org domain.OrgID, at time.Time) (since time.Time, err error) {
		err = tryUpdate(s, func(ctx context.Context, tx domain.Tx) error {
			since, err = tx.MarkWebhookEndpointFailing(ctx, org, ep.ID, at)
			return err
		})
		return since, err
	}
	healthy := func(org domain.OrgID) {
		update(t, s, func(ctx context.Context, tx domain.Tx) error { return tx.MarkWebhookEndpointHealthy(ctx, org, ep.ID) })
	}
	since, err := mark(a.Org.ID, minute(10))
	equal(t, "failing since", since, minute(10))
	equal(t, "error", err, nil)
	since, _ = mark(a.Org.ID, minute(20))
	equal(t, "still failing since the first failure", since, minute(10))
	healthy(b.Org.ID)
	since, _ = mark(a.Org.ID, minute(25))
	equal(t, "another org cannot end the streak", since, minute(10))
	healthy(a.Org.ID)
	since, _ = mark(a.Org.ID, minute(30))
	equal(t, "failing again after a success", since, minute(30))
	_, err = mark(b.Org.ID, minute(40))
	wantCode(t, "MarkWebhookEndpointFailing of another org", err, domain.CodeNotFound)
}

// testWebhookConcurrentClaims races claimers over many due deliveries:
// each delivery is leased by exactly one of them.
func testWebhookConcurrentClaims(t *testing.T, newStore Factory) {
	s := newStore(t)
	a, _ := seed(t, s)
	createEndpoints(t, s, endpoint(a, "whe_1"), endpoint(a, "whe_2"))
	types := make([]string, 60)
	for i := range types {
		types[i] = domain.EventConversationStarted
	}
	appendEvents(t, s, a, types...)
	const claimers = 4
	var mu sync.Mutex
	owner := map[string]string{}
	var wg sync.WaitGroup
	errs := make(chan error, claimers)
	for c := range claimers {
		wg.Go(func() {
			for round := 0; ; round++ {
				lease := fmt.Sprintf("c%d-%d", c, round)
				var got []domain.WebhookDelivery
				err := s.Update(context.Background(), func(tx domain.Tx) error {
					var err error
					got, err = tx.ClaimWebhookDeliveries(context.Background(), minute(200), minute(300), lease, 7)
					return err
				})
				if err != nil {
					errs <- err
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, d := range got {
					key := fmt.Sprintf("%s/%d", d.EndpointID, d.EventSeq)
					if prev, dup := owner[key]; dup {
						errs <- fmt.Errorf("delivery %s claimed by %s and %s", key, prev, lease)
					}
					owner[key] = lease
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	equal(t, "deliveries claimed", len(owner), 2*len(types))
}
