package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/parleyhq/parley/bot"
	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/examples"
	"github.com/parleyhq/parley/service"
)

// RunBotTurns checks bot turns on a real store: the example bot's
// conversation (greeting, an invalid answer asked again, a valid one
// updating the identifier and closing), a taken number branching, a thrown
// error breaking the chain with the failing step's writes absent, the step
// limit stopping a runaway bot, version pinning across a republish, a
// preview answering not_deployed, and waits resuming on another server.
func RunBotTurns(t *testing.T, newStore Factory) {
	t.Run("the example bot", func(t *testing.T) { botExample(t, NewWorld(t, newStore(t))) })
	t.Run("a taken number branches", func(t *testing.T) { botTaken(t, NewWorld(t, newStore(t))) })
	t.Run("a thrown error breaks the chain", func(t *testing.T) { botThrown(t, NewWorld(t, newStore(t))) })
	t.Run("the step limit stops a runaway bot", func(t *testing.T) { botStepLimit(t, NewWorld(t, newStore(t))) })
	t.Run("conversations stay on their version", func(t *testing.T) { botPinned(t, NewWorld(t, newStore(t))) })
	t.Run("preview answers not_deployed", func(t *testing.T) { botPreview(t, NewWorld(t, newStore(t))) })
	t.Run("a wait resumes on another server", func(t *testing.T) { botResume(t, newStore(t)) })
	t.Run("a store failure in a turn keeps the message", func(t *testing.T) { botStoreFailure(t, newStore(t)) })
}

// PublishBot creates an app with a version of definition (YAML or JSON)
// and publishes it to production.
func (w *World) PublishBot(definition []byte) (domain.Deployment, domain.AppVersion) {
	w.T.Helper()
	ctx := context.Background()
	doc, err := bot.ToJSON(definition)
	must(w.T, err)
	app, err := w.Service.CreateApp(ctx, w.Org, "bot "+w.IDs.NewID("app"))
	must(w.T, err)
	v, err := w.Service.CreateVersion(ctx, w.Org, app.ID, doc)
	must(w.T, err)
	d, err := w.Service.Publish(ctx, w.Org, app.ID, v.ID, domain.EnvProduction)
	must(w.T, err)
	return d, v
}

// StartOn starts a conversation on deployment d for identifier.
func (w *World) StartOn(d domain.DeploymentID, ident string) service.Started {
	w.T.Helper()
	st, err := w.Service.StartConversation(context.Background(), w.Org, service.StartInput{
		DeploymentID: d, Party: w.Party(w.IDs.NewID("web"), ident),
	})
	must(w.T, err)
	return st
}

// Say sends the customer's message into a conversation and returns what
// became of it.
func (w *World) Say(conv domain.ConversationID, text string) service.Received {
	w.T.Helper()
	rec, err := w.Service.ReceiveInConversation(context.Background(), w.Org, conv, text, "")
	must(w.T, err)
	return rec
}

// Turns returns a conversation's turns.
func (w *World) Turns(conv domain.ConversationID) []domain.Turn {
	w.T.Helper()
	ts, err := w.Service.ListTurns(context.Background(), w.Org, conv, 0, service.MaxPageSize)
	must(w.T, err)
	return ts
}

// Trace decodes a turn's trace.
func Trace(t testing.TB, turn domain.Turn) bot.Trace {
	t.Helper()
	var tr bot.Trace
	must(t, json.Unmarshal(turn.Trace, &tr))
	return tr
}

func texts(ms []domain.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Text
	}
	return out
}

func wantReplies(t *testing.T, what string, got []domain.Message, prefixes ...string) {
	t.Helper()
	if len(got) != len(prefixes) {
		t.Fatalf("%s: replies %q, want %d starting %q", what, texts(got), len(prefixes), prefixes)
	}
	for i, p := range prefixes {
		if !strings.HasPrefix(got[i].Text, p) || got[i].Author != domain.AuthorBot || got[i].Direction != domain.Outbound {
			t.Fatalf("%s: reply %d %+v, want a bot message starting %q", what, i, got[i], p)
		}
	}
}

func (w *World) session(id domain.SessionID) map[string]any {
	w.T.Helper()
	s, err := w.Service.GetSession(context.Background(), w.Org, id)
	must(w.T, err)
	return s.Variables
}

func botExample(t *testing.T, w *World) {
	ctx := context.Background()
	d, v := w.PublishBot(examples.ChangeNumber)
	st := w.StartOn(d.ID, "tel:+15550100000")
	wantReplies(t, "greeting", st.Replies, "Hi!", "What is your new phone number?")

	rec := w.Say(st.Conversation.ID, "my new number")
	wantReplies(t, "invalid answer", rec.Replies, "Sorry, that does not look like a phone number")
	if rec.Message.Seq != 3 || rec.Replies[0].Seq != 4 {
		t.Fatalf("sequence numbers: message %d reply %d", rec.Message.Seq, rec.Replies[0].Seq)
	}

	rec = w.Say(st.Conversation.ID, "+1 555 010 0001")
	wantReplies(t, "valid answer", rec.Replies, "Done: we now know you by +15550100001. Goodbye!")
	if rec.Conversation.Status != domain.StatusClosed {
		t.Fatalf("conversation after the update: %+v", rec.Conversation)
	}
	c, err := w.Service.GetCustomer(ctx, w.Org, st.Customer.ID)
	must(t, err)
	if c.Identifier != "tel:+15550100001" {
		t.Fatalf("customer identifier %q", c.Identifier)
	}
	vars := w.session(st.Session.ID)
	if vars["phone"] != "+1 555 010 0001" || vars["customer-identifier"] != true {
		t.Fatalf("session variables: %v", vars)
	}

	turns := w.Turns(st.Conversation.ID)
	if len(turns) != 3 {
		t.Fatalf("%d turns, want 3", len(turns))
	}
	for i, want := range []struct{ trigger, outcome, wait string }{
		{"conversation_started", "waiting", "ask"}, {"message_received", "waiting", "ask"}, {"message_received", "closed", ""},
	} {
		got := turns[i]
		if got.Number != int64(i+1) || got.Trigger != want.trigger || got.Outcome != want.outcome || got.WaitStep != want.wait || got.VersionID != v.ID {
			t.Fatalf("turn %d: %+v, want %+v", i+1, got, want)
		}
	}
	tr := Trace(t, turns[2])
	var steps []string
	for _, s := range tr.Steps {
		steps = append(steps, s.Step)
	}
	if tr.Resumed != "ask" || strings.Join(steps, ",") != "ask,update,result,done,bye" {
		t.Fatalf("trace steps %v (resumed %q)", steps, tr.Resumed)
	}
	op := tr.Steps[1].Operation
	if op == nil || op.Name != service.OpUpdateCustomerIdentifier || op.Value != "true" || op.RunID == "" {
		t.Fatalf("operation trace: %+v", op)
	}
	run, err := w.Service.GetRun(ctx, w.Org, domain.RunID(op.RunID))
	must(t, err)
	if run.SessionID != st.Session.ID || run.Output != true || run.ErrorCode != "" || run.Inputs["customerIdentifier"] != "tel:+1 555 010 0001" {
		t.Fatalf("run record: %+v", run)
	}
	if tr.Steps[0].Expressions[0].Path != "/steps/ask/valid" || tr.Steps[0].Expressions[0].Result != "true" {
		t.Fatalf("expression trace: %+v", tr.Steps[0].Expressions)
	}
}

func botTaken(t *testing.T, w *World) {
	ctx := context.Background()
	d, _ := w.PublishBot(examples.ChangeNumber)
	holder := w.Start("tel:+15550100002") // a seeded customer holding the number
	st := w.StartOn(d.ID, "tel:+15550100000")
	rec := w.Say(st.Conversation.ID, "+1 555 010 0002")
	wantReplies(t, "taken number", rec.Replies, "That number belongs to another account", "What is your new phone number?")
	if rec.Conversation.Status != domain.StatusLive {
		t.Fatalf("conversation: %+v", rec.Conversation)
	}
	if vars := w.session(st.Session.ID); vars["customer-identifier"] != false {
		t.Fatalf("output variable: %v", vars)
	}
	for _, c := range []struct {
		id    domain.CustomerID
		ident string
	}{{holder.Customer.ID, "tel:+15550100002"}, {st.Customer.ID, "tel:+15550100000"}} {
		got, err := w.Service.GetCustomer(ctx, w.Org, c.id)
		must(t, err)
		if got.Identifier != c.ident {
			t.Fatalf("customer %s holds %q, want %q", c.id, got.Identifier, c.ident)
		}
	}
	turns := w.Turns(st.Conversation.ID)
	last := turns[len(turns)-1]
	op := Trace(t, last).Steps[1].Operation
	if last.Outcome != bot.OutcomeWaiting || op.Error == nil || op.Error.Code != domain.CodeIdentifierTaken {
		t.Fatalf("turn %+v operation %+v", last, op)
	}
	run, err := w.Service.GetRun(ctx, w.Org, domain.RunID(op.RunID))
	must(t, err)
	if run.ErrorCode != domain.CodeIdentifierTaken || run.Output != false {
		t.Fatalf("run: %+v", run)
	}
	// The next answer is a free number: updated and closed.
	rec = w.Say(st.Conversation.ID, "+1 555 010 0003")
	wantReplies(t, "free number", rec.Replies, "Done: we now know you by +15550100003")
}

const thrownBot = `{"triggers": {"conversation_started": "hello", "message_received": "hello"}, "steps": {
	"hello": {"say": "'one moment'", "next": "remember"},
	"remember": {"set": {"asked": "input.text"}, "next": "update"},
	"update": {"do": "update_customer_identifier", "with": {"conversationId": "conversation.id", "customerIdentifier": "'tel:' + input.text"}, "output": "updated", "next": "after"},
	"after": {"say": "'never said'"}}}`

func botThrown(t *testing.T, w *World) {
	ctx := context.Background()
	d, _ := w.PublishBot([]byte(thrownBot))
	st := w.StartOn(d.ID, "tel:+15550100000")
	mark := w.lastEventSeq()
	rec, err := w.Service.ReceiveInConversation(ctx, w.Org, st.Conversation.ID, "not a number", "")
	if err != nil {
		t.Fatalf("a failing turn failed the inbound message: %v", err)
	}
	wantReplies(t, "thrown", rec.Replies, "one moment")
	if rec.Conversation.Status != domain.StatusLive {
		t.Fatalf("conversation: %+v", rec.Conversation)
	}
	vars := w.session(st.Session.ID)
	if vars["asked"] != "not a number" {
		t.Fatalf("the step before the failure did not stand: %v", vars)
	}
	if _, ok := vars["updated"]; ok {
		t.Fatalf("the failing step wrote its output: %v", vars)
	}
	c, err := w.Service.GetCustomer(ctx, w.Org, st.Customer.ID)
	must(t, err)
	if c.Identifier != "tel:+15550100000" {
		t.Fatalf("customer changed: %+v", c)
	}
	turns := w.Turns(st.Conversation.ID)
	last := turns[len(turns)-1]
	tr := Trace(t, last)
	if last.Outcome != bot.OutcomeFailed || last.ErrorCode != domain.CodeIdentifierInvalid || last.WaitStep != "" ||
		tr.Error == nil || tr.Error.Step != "update" || len(tr.Steps) != 3 {
		t.Fatalf("turn %+v trace %+v", last, tr)
	}
	run, err := w.Service.GetRun(ctx, w.Org, domain.RunID(tr.Steps[2].Operation.RunID))
	must(t, err)
	if run.ErrorCode != domain.CodeIdentifierInvalid || run.SessionID != st.Session.ID {
		t.Fatalf("run log: %+v", run)
	}
	var types []string
	for _, e := range w.eventsAfter(mark) {
		types = append(types, e.Type)
	}
	if got := strings.Join(types, ","); got != "message.received,message.sent,run.failed,turn.failed" {
		t.Fatalf("events %s", got)
	}
}

// lastEventSeq returns the seq of the org's newest event.
func (w *World) lastEventSeq() int64 {
	var seq int64
	for {
		es := w.eventsAfter(seq)
		if len(es) == 0 {
			return seq
		}
		seq = es[len(es)-1].Seq
	}
}

// eventsAfter returns the org's events after seq.
func (w *World) eventsAfter(seq int64) []domain.Event {
	w.T.Helper()
	es, err := w.Service.ListEvents(context.Background(), w.Org, seq, service.MaxPageSize)
	must(w.T, err)
	return es
}

func botStepLimit(t *testing.T, w *World) {
	var steps []string
	for i := range 150 {
		steps = append(steps, fmt.Sprintf(`"s%03d": {"set": {"n": "%d"}, "next": "s%03d"}`, i, i, i+1))
	}
	steps = append(steps, `"s150": {"say": "'never reached'"}`)
	d, _ := w.PublishBot([]byte(`{"triggers": {"conversation_started": "s000"}, "steps": {` + strings.Join(steps, ",") + `}}`))
	st := w.StartOn(d.ID, "")
	if len(st.Replies) != 0 || st.Conversation.Status != domain.StatusLive {
		t.Fatalf("start: %+v", st)
	}
	turns := w.Turns(st.Conversation.ID)
	if len(turns) != 1 || turns[0].ErrorCode != bot.CodeStepLimit || turns[0].Outcome != bot.OutcomeFailed {
		t.Fatalf("turns: %+v", turns)
	}
	if n := w.session(st.Session.ID)["n"]; n != float64(bot.DefaultLimits.Steps-1) {
		t.Fatalf("the steps before the limit did not stand: n = %v", n)
	}
}

func botPinned(t *testing.T, w *World) {
	ctx := context.Background()
	say := func(text string) []byte {
		return []byte(`{"triggers": {"conversation_started": "a", "message_received": "a"}, "steps": {"a": {"say": "'` + text + `'"}}}`)
	}
	d1, _ := w.PublishBot(say("version one"))
	old := w.StartOn(d1.ID, "")
	wantReplies(t, "v1 start", old.Replies, "version one")
	v2, err := w.Service.CreateVersion(ctx, w.Org, d1.AppID, say("version two"))
	must(t, err)
	d2, err := w.Service.Publish(ctx, w.Org, d1.AppID, v2.ID, domain.EnvProduction)
	must(t, err)
	wantReplies(t, "old conversation after the republish", w.Say(old.Conversation.ID, "hi").Replies, "version one")
	wantReplies(t, "new conversation", w.StartOn(d2.ID, "").Replies, "version two")
}

func botPreview(t *testing.T, w *World) {
	ctx := context.Background()
	app, err := w.Service.CreateApp(ctx, w.Org, "draft bot")
	must(t, err)
	doc, err := bot.ToJSON(examples.ChangeNumber)
	must(t, err)
	v, err := w.Service.CreateVersion(ctx, w.Org, app.ID, doc)
	must(t, err)
	st, err := w.Service.StartPreview(ctx, w.Org, service.PreviewInput{VersionID: v.ID, Party: w.Party("preview-1", "tel:+15550100000")})
	must(t, err)
	wantReplies(t, "preview greeting", st.Replies, "Hi!", "What is your new phone number?")
	rec := w.Say(st.Conversation.ID, "+1 555 010 0001")
	wantReplies(t, "preview update", rec.Replies, "Sorry, I cannot use +1 555 010 0001", "What is your new phone number?")
	turns := w.Turns(st.Conversation.ID)
	op := Trace(t, turns[len(turns)-1]).Steps[1].Operation
	if op == nil || op.Error == nil || op.Error.Code != domain.CodeNotDeployed {
		t.Fatalf("preview operation: %+v", op)
	}
}

func botResume(t *testing.T, store domain.Store) {
	w := NewWorld(t, store)
	d, _ := w.PublishBot(examples.ChangeNumber)
	st := w.StartOn(d.ID, "tel:+15550100000")
	// Another server process (a new service on the same database) gets the
	// answer: the wait is in the store.
	other := *w
	other.Service = w.ServiceOn(store)
	rec := other.Say(st.Conversation.ID, "+1 555 010 0009")
	wantReplies(t, "answer on another server", rec.Replies, "Done: we now know you by +15550100009")
}

// turnFailingStore is a real store whose next SaveTurn fails as a broken
// database would: it stands for a store failure in the middle of a turn.
type turnFailingStore struct {
	domain.Store
	fail *atomic.Bool
}

func (s turnFailingStore) UpdateOrg(ctx context.Context, org domain.OrgID, fn func(domain.Tx) error) error {
	return s.Store.UpdateOrg(ctx, org, func(tx domain.Tx) error { return fn(turnFailingTx{tx, s.fail}) })
}

type turnFailingTx struct {
	domain.Tx
	fail *atomic.Bool
}

func (t turnFailingTx) SaveTurn(ctx context.Context, turn domain.Turn) error {
	if t.fail.CompareAndSwap(true, false) {
		return errors.New("disk I/O error")
	}
	return t.Tx.SaveTurn(ctx, turn)
}

func botStoreFailure(t *testing.T, store domain.Store) {
	fail := &atomic.Bool{}
	w := NewWorld(t, turnFailingStore{store, fail})
	d, _ := w.PublishBot(examples.ChangeNumber)
	st := w.StartOn(d.ID, "tel:+15550100000")
	fail.Store(true)
	rec, err := w.Service.ReceiveInConversation(context.Background(), w.Org, st.Conversation.ID, "+1 555 010 0001", "client-1")
	if err != nil {
		t.Fatalf("a turn failing in the store failed the inbound message: %v", err)
	}
	if rec.Message.Text != "+1 555 010 0001" || rec.Message.Seq != 3 || len(rec.Replies) != 0 {
		t.Fatalf("received: %+v", rec)
	}
	turns := w.Turns(st.Conversation.ID)
	last := turns[len(turns)-1]
	if last.Outcome != "failed" || last.ErrorCode != domain.CodeInternal || last.MessageID != rec.Message.ID || last.WaitStep != "ask" {
		t.Fatalf("turn: %+v", last)
	}
	if vars := w.session(st.Session.ID); vars["phone"] != nil {
		t.Fatalf("the rolled back turn left variables: %v", vars)
	}
	// The bot still waits at its question: the next answer is handled.
	wantReplies(t, "next answer", w.Say(st.Conversation.ID, "+1 555 010 0001").Replies, "Done:")
}
