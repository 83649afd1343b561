package bot_test

import (
	"context"
	"testing"

	"github.com/parleyhq/parley/bot"
	"github.com/parleyhq/parley/domain"
)

// FuzzDefinition: random documents never panic the checker, and accepted
// ones never panic the runtime, whatever the operations answer.
func FuzzDefinition(f *testing.F) {
	for _, seed := range []string{
		``, `{}`, `null`, `[]`, `{"steps": {"a": {"say": "'hi'"}}}`,
		`{"triggers": {"conversation_started": "a", "message_received": "b"}, "steps": {"a": {"ask": "'n?'", "saveAs": "n", "valid": "input.text.size() > 2", "next": "b"}, "b": {"set": {"x": "session.n + '!'"}, "next": "c"}, "c": {"branch": [{"if": "session.x == 'abc!'", "next": "d"}], "else": "a"}, "d": {"close": true}}}`,
		`{"triggers": {"conversation_started": "u"}, "steps": {"u": {"do": "update_customer_identifier", "with": {"conversationId": "conversation.id", "customerIdentifier": "input.text"}, "onError": "s", "next": "s"}, "s": {"say": "string(session['customer-identifier']) + error.code"}}}`,
		`{"triggers": {"message_received": "x"}, "steps": {"x": {"say": "session.channels.message.identifier"}}}`,
	} {
		f.Add([]byte(seed), "hello")
	}
	f.Add(exampleJSON(f), "+1 555 010 0001")
	e := newEngine(f)
	f.Fuzz(func(t *testing.T, doc []byte, text string) {
		b, err := e.Compile(doc)
		if err != nil {
			if _, ok := err.(*bot.Problem); !ok {
				t.Fatalf("refused without a Problem: %v", err)
			}
			return
		}
		h := &fuzzHost{}
		vars := map[string]any{"channels": map[string]any{"message": map[string]any{"conversationId": "conv_1", "identifier": text}}}
		var wait *bot.Wait
		for i, trigger := range []string{bot.TriggerConversationStarted, bot.TriggerMessageReceived, bot.TriggerMessageReceived, bot.TriggerMessageReceived} {
			h.n = i
			turn := b.Run(context.Background(), h, event(trigger, text, vars, wait))
			if len(turn.Trace.Steps) > e.Limits().Steps {
				t.Fatalf("%d steps in one turn", len(turn.Trace.Steps))
			}
			if turn.Outcome == "" || (turn.Outcome == bot.OutcomeFailed) != (turn.Failure != nil) {
				t.Fatalf("outcome %q failure %v", turn.Outcome, turn.Failure)
			}
			vars, wait = turn.Variables, turn.Wait
		}
	})
}

// fuzzHost answers each call differently: a value, a business outcome or
// a thrown error.
type fuzzHost struct{ n int }

func (h *fuzzHost) Send(context.Context, string) error { return nil }

func (h *fuzzHost) Run(_ context.Context, c bot.Call) (bot.Result, error) {
	h.n++
	switch h.n % 3 {
	case 0:
		return bot.Result{Value: []any{"conv_1"}}, nil
	case 1:
		return bot.Result{Value: false, Outcome: domain.Errorf(domain.CodeIdentifierTaken, "taken")}, nil
	}
	return bot.Result{}, domain.Errorf(domain.CodeNotDeployed, "preview")
}
