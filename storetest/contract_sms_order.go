package storetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/parleyhq/parley/domain"
)

// inConversation is message seq of conversation conv, due at minute 1.
func (tn tenant) inConversation(conv string, seq int64) domain.SMSOutbound {
	m := tn.outbound(fmt.Sprintf("msg_%s_%02d", conv, seq), minute(1))
	m.ConversationID, m.Seq, m.Body = domain.ConversationID(conv), seq, fmt.Sprintf("%s #%d", conv, seq)
	return m
}

// claimIDs claims at minute 2 and returns the message ids claimed.
func claimIDs(t testing.TB, s domain.Store, claim string, limit int) []domain.MessageID {
	t.Helper()
	var got []domain.SMSOutbound
	update(t, s, func(ctx context.Context, tx domain.Tx) error {
		var err error
		got, err = tx.ClaimSMS(ctx, minute(2), minute(3), claim, limit)
		return err
	})
	ids := make([]domain.MessageID, len(got))
	for i, m := range got {
		ids[i] = m.MessageID
	}
	slices.Sort(ids)
	return ids
}

// settle records the claimed message m in state with its claim released.
func settle(t testing.TB, s domain.Store, m domain.SMSOutbound, state domain.SMSState, next int) {
	t.Helper()
	update(t, s, func(ctx context.Context, tx domain.Tx) error {
		cur, err := tx.GetSMS(ctx, m.OrgID, m.MessageID)
		if err != nil {
			return err
		}
		cur.State, cur.Claim, cur.LeaseUntil, cur.NextAttemptAt = state, "", nil, minute(next)
		return tx.SaveSMS(ctx, cur)
	})
}

// testSMSOrder checks that a conversation's messages are claimed one at a
// time, in their order: an earlier message waiting (even for a later
// retry) or being sent holds the later ones back; a settled one (sent,
// failed, unknown, opted out) lets the next go.
func testSMSOrder(t *testing.T, newStore Factory) {
	s := newStore(t)
	a, _ := seed(t, s)
	x1, x2, x3, y1 := a.inConversation("conv_x", 1), a.inConversation("conv_x", 2), a.inConversation("conv_x", 3), a.inConversation("conv_y", 4)
	update(t, s, func(ctx context.Context, tx domain.Tx) error {
		for _, m := range []domain.SMSOutbound{x3, y1, x2, x1} {
			if err := tx.EnqueueSMS(ctx, m); err != nil {
				return err
			}
		}
		return nil
	})
	equal(t, "Seq round trip", read(t, s, func(ctx context.Context, tx domain.Tx) (int64, error) {
		m, err := tx.GetSMS(ctx, a.Org.ID, x2.MessageID)
		return m.Seq, err
	}), int64(2))
	equal(t, "first claim: each conversation's first message", claimIDs(t, s, "w1", 10), []domain.MessageID{x1.MessageID, y1.MessageID})
	equal(t, "while x's first is being sent", claimIDs(t, s, "w2", 10), []domain.MessageID{})
	settle(t, s, x1, domain.SMSPending, 30) // a retry later
	equal(t, "while x's first waits for its retry", claimIDs(t, s, "w2", 10), []domain.MessageID{})
	settle(t, s, x1, domain.SMSPending, 1)
	equal(t, "x's first due again", claimIDs(t, s, "w2", 10), []domain.MessageID{x1.MessageID})
	settle(t, s, x1, domain.SMSAccepted, 1)
	equal(t, "x's first sent", claimIDs(t, s, "w3", 10), []domain.MessageID{x2.MessageID})
	settle(t, s, x2, domain.SMSUnknown, 1)
	equal(t, "x's second settled as unknown", claimIDs(t, s, "w4", 10), []domain.MessageID{x3.MessageID})
}

// testSMSOrderRace has workers on several stores claim and settle the
// messages of a few conversations at once: one conversation never has two
// messages in flight, and each is sent in its order.
func testSMSOrderRace(t *testing.T, stores []domain.Store) {
	a, _ := seed(t, stores[0])
	const conversations, perConversation = 4, 8
	update(t, stores[0], func(ctx context.Context, tx domain.Tx) error {
		for c := range conversations {
			for seq := range int64(perConversation) {
				if err := tx.EnqueueSMS(ctx, a.inConversation(fmt.Sprint("conv_", c), seq+1)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	var mu sync.Mutex
	inFlight := map[domain.ConversationID]domain.MessageID{}
	sent := map[domain.ConversationID][]int64{}
	total := 0
	finished := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return total == conversations*perConversation
	}
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			s := stores[w%len(stores)]
			claim := fmt.Sprint("worker-", w)
			for i := 0; i < 2000 && !finished(); i++ {
				var got []domain.SMSOutbound
				if err := tryUpdate(s, func(ctx context.Context, tx domain.Tx) error {
					var err error
					got, err = tx.ClaimSMS(ctx, minute(2), minute(3), claim, 2)
					return err
				}); err != nil {
					t.Errorf("ClaimSMS: %v", err)
					return
				}
				for _, m := range got {
					mu.Lock()
					if other, busy := inFlight[m.ConversationID]; busy {
						t.Errorf("%s claimed while %s of the same conversation was in flight", m.MessageID, other)
					}
					inFlight[m.ConversationID] = m.MessageID
					sent[m.ConversationID] = append(sent[m.ConversationID], m.Seq)
					total++
					mu.Unlock()
				}
				for _, m := range got {
					// The in-flight mark goes first: the settling commit
					// lets another worker claim the next message at once.
					mu.Lock()
					delete(inFlight, m.ConversationID)
					mu.Unlock()
					settle(t, s, m, domain.SMSAccepted, 1)
				}
			}
		})
	}
	wg.Wait()
	want := make([]int64, perConversation)
	for i := range want {
		want[i] = int64(i + 1)
	}
	for c := range conversations {
		conv := domain.ConversationID(fmt.Sprint("conv_", c))
		equal(t, "send order of "+string(conv), sent[conv], want)
	}
}
