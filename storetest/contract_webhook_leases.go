package storetest

import (
	"context"
	"testing"

	"github.com/parleyhq/parley/domain"
)

// testWebhookLeases: ExtendWebhookLeases extends only the leases still
// held (right lease, still pending), never shortens one, and an extended
// lease keeps other claimers away.
func testWebhookLeases(t *testing.T, newStore Factory) {
	s := newStore(t)
	a, _ := seed(t, s)
	ep := endpoint(a, "whe_1")
	createEndpoints(t, s, ep)
	appendEvents(t, s, a, domain.EventConversationStarted, domain.EventConversationClosed)
	held := claim(t, s, minute(20), minute(30), "l1", 10)
	if len(held) != 2 {
		t.Fatalf("claimed %d deliveries, want 2", len(held))
	}
	extend := func(until int, ls ...domain.WebhookLease) []bool {
		var renewed []bool
		update(t, s, func(ctx context.Context, tx domain.Tx) (err error) {
			renewed, err = tx.ExtendWebhookLeases(ctx, ls, minute(until))
			return err
		})
		return renewed
	}
	lease := func(d domain.WebhookDelivery, l string) domain.WebhookLease {
		return domain.WebhookLease{EndpointID: d.EndpointID, EventSeq: d.EventSeq, Lease: l}
	}
	equal(t, "ExtendWebhookLeases (held, another lease, unknown delivery)",
		extend(45, lease(held[0], "l1"), lease(held[1], "other"), domain.WebhookLease{EndpointID: ep.ID, EventSeq: -1, Lease: "l1"}),
		[]bool{true, false, false})
	equal(t, "claim after the first lease's end, before the extended one's", seqsOf(claim(t, s, minute(35), minute(60), "l2", 10)),
		map[int64]bool{held[1].EventSeq: true})
	equal(t, "extending to an earlier end", extend(40, lease(held[0], "l1")), []bool{true})
	got := read(t, s, func(ctx context.Context, tx domain.Tx) (domain.WebhookDelivery, error) {
		return tx.GetWebhookDelivery(ctx, a.Org.ID, ep.ID, held[0].EventSeq)
	})
	equal(t, "lease end after extending to an earlier end", got.NextAttemptAt, minute(45))
	equal(t, "the taken-over delivery under its old lease", extend(90, lease(held[1], "l1")), []bool{false})
	equal(t, "ExtendWebhookLeases of nothing", len(extend(90)), 0)
}
