package storetest

import (
	"context"
	"testing"

	"github.com/parleyhq/parley/domain"
)

// testTurnStart: TurnStart reads a conversation's newest turn (none at
// first), its session and its customer, also inside the transaction that
// wrote them.
func testTurnStart(t *testing.T, newStore Factory) {
	s := newStore(t)
	a, _ := seed(t, s)
	conv := a.conversation("conv_turns", minute(5))
	session := domain.Session{ID: conv.SessionID, OrgID: a.Org.ID, ConversationID: conv.ID,
		Variables: map[string]any{"step": "ask"}, UpdatedAt: minute(5)}
	turn := func(n int64) domain.Turn {
		return domain.Turn{ID: domain.TurnID("turn_" + string(rune('0'+n))), OrgID: a.Org.ID, ConversationID: conv.ID,
			Number: n, Trigger: "message_received", Outcome: "waiting", WaitStep: "ask", WaitAttempts: int(n),
			StartedAt: minute(5 + int(n)), Trace: []byte(`{}`)}
	}
	update(t, s, func(ctx context.Context, tx domain.Tx) error {
		if err := tx.CreateConversation(ctx, conv); err != nil {
			return err
		}
		if err := tx.CreateSession(ctx, session); err != nil {
			return err
		}
		got, err := tx.TurnStart(ctx, conv)
		if err != nil {
			return err
		}
		equal(t, "TurnStart before any turn", got, domain.TurnStart{Session: session, Customer: a.Customer})
		return tx.SaveTurn(ctx, turn(1))
	})
	update(t, s, func(ctx context.Context, tx domain.Tx) error {
		if err := tx.SaveTurn(ctx, turn(2)); err != nil {
			return err
		}
		got, err := tx.TurnStart(ctx, conv)
		if err != nil {
			return err
		}
		want := turn(2)
		want.Trace = nil
		equal(t, "TurnStart after two turns", got, domain.TurnStart{Last: want, HasTurns: true, Session: session, Customer: a.Customer})
		return nil
	})
}
