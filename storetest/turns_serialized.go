package storetest

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/service"
)

// countingBot answers every message with its turn number and the text.
const countingBot = `{"triggers": {"message_received": "count"}, "steps": {
	"count": {"set": {"count": "has(session.count) ? session.count + 1 : 1"}, "next": "reply"},
	"reply": {"say": "string(session.count) + ': ' + input.text"}}}`

// RunTurnsSerialized sends n inbound messages at once to one conversation,
// spread over the store handles open gives (several server processes),
// and checks that each is handled exactly once, one turn at a time, in
// sequence order, with gap-free numbers: every message is followed by its
// own reply, and the replies count 1, 2, 3...
func RunTurnsSerialized(t *testing.T, open Opener, n int) {
	stores := open(t, 3)
	w := NewWorld(t, stores[0])
	services := servicesOn(w, stores)
	d, _ := w.PublishBot([]byte(countingBot))
	st := w.StartOn(d.ID, "")
	var failed atomic.Int32
	RunConcurrently(n, func(i int) {
		rec, err := services[i%len(services)].ReceiveInConversation(context.Background(), w.Org, st.Conversation.ID, fmt.Sprintf("message %d", i), "")
		if err != nil || len(rec.Replies) != 1 || rec.Replies[0].Seq != rec.Message.Seq+1 {
			failed.Add(1)
			t.Errorf("message %d: %+v (%v)", i, rec, err)
		}
	})
	if failed.Load() > 0 {
		t.FailNow()
	}
	CheckSerializedConversation(t, w.Service, w.Org, st.Conversation.ID, n)
}

// CheckSerializedConversation checks a conversation with the counting bot
// after n customer messages: 2n messages numbered 1..2n, each customer
// message followed by the reply counting it, every message handled once.
func CheckSerializedConversation(t testing.TB, svc *service.Service, org domain.OrgID, conv domain.ConversationID, n int) {
	t.Helper()
	ctx := context.Background()
	var msgs []domain.Message
	for after := int64(0); ; {
		page, err := svc.ListMessages(ctx, org, conv, after, service.MaxPageSize)
		must(t, err)
		if len(page) == 0 {
			break
		}
		msgs = append(msgs, page...)
		after = page[len(page)-1].Seq
	}
	if len(msgs) != 2*n {
		t.Fatalf("%d messages, want %d", len(msgs), 2*n)
	}
	seen := map[string]bool{}
	for i := 0; i < len(msgs); i += 2 {
		in, out := msgs[i], msgs[i+1]
		if in.Seq != int64(i+1) || out.Seq != int64(i+2) {
			t.Fatalf("sequence numbers %d, %d at position %d", in.Seq, out.Seq, i)
		}
		want := strconv.Itoa(i/2+1) + ": " + in.Text
		if in.Author != domain.AuthorCustomer || out.Author != domain.AuthorBot || out.Text != want {
			t.Fatalf("messages %d-%d: %q then %q, want the reply %q", in.Seq, out.Seq, in.Text, out.Text, want)
		}
		if seen[in.Text] {
			t.Fatalf("%q handled twice", in.Text)
		}
		seen[in.Text] = true
	}
	turns, err := svc.ListTurns(ctx, org, conv, 0, service.MaxPageSize)
	must(t, err)
	// The first turn is conversation_started's, idle: the bot has no
	// chain for it.
	if n < service.MaxPageSize && len(turns) != n+1 {
		t.Fatalf("%d turns, want %d", len(turns), n+1)
	}
	if turns[0].Trigger != "conversation_started" || turns[0].Outcome != "idle" {
		t.Fatalf("first turn: %+v", turns[0])
	}
	for i, turn := range turns[1:] {
		if turn.Number != int64(i+2) || turn.Outcome != "completed" || !strings.HasPrefix(string(turn.MessageID), "msg") {
			t.Fatalf("turn %d: %+v", i+2, turn)
		}
	}
}
