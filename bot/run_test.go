package bot_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/bot"
	"github.com/parleyhq/parley/domain"
)

// scriptHost answers operations from a table and records what it was
// asked. The real host, on a real store, is tested by storetest.RunBotTurns.
type scriptHost struct {
	sent    []string
	calls   []bot.Call
	results map[string]func(bot.Call) (bot.Result, error)
}

func (h *scriptHost) Send(_ context.Context, text string) error {
	h.sent = append(h.sent, text)
	return nil
}

func (h *scriptHost) Run(_ context.Context, c bot.Call) (bot.Result, error) {
	h.calls = append(h.calls, c)
	if f, ok := h.results[c.Name]; ok {
		return f(c)
	}
	return bot.Result{Value: true}, nil
}

func event(trigger, text string, vars map[string]any, wait *bot.Wait) bot.Event {
	return bot.Event{
		Trigger: trigger, Wait: wait, Variables: vars,
		Input:        bot.Input{Text: text, Channel: "webchat", Time: time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)},
		Conversation: bot.Conversation{ID: "conv_1", Status: "live", Channel: "webchat", Destination: "web-1"},
		Customer:     bot.Customer{ID: "cus_1", Identifier: "tel:+15550100000"},
	}
}

func compile(t testing.TB, e *bot.Engine, doc string) *bot.Bot {
	t.Helper()
	b, err := e.Compile([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestExampleBotConversation(t *testing.T) {
	b := compile(t, newEngine(t), string(exampleJSON(t)))
	ctx := context.Background()
	vars := map[string]any{"channels": map[string]any{"message": map[string]any{"conversationId": "conv_1", "identifier": "web-1"}}}
	h := &scriptHost{results: map[string]func(bot.Call) (bot.Result, error){
		"update_customer_identifier": func(c bot.Call) (bot.Result, error) {
			if c.Inputs["customerIdentifier"] == "tel:+1 555 010 0002" {
				return bot.Result{Value: false, Outcome: domain.Errorf(domain.CodeIdentifierTaken, "taken")}, nil
			}
			return bot.Result{Value: true, Customer: &bot.Customer{ID: "cus_1", Identifier: "tel:+15550100001"}}, nil
		},
	}}

	turn := b.Run(ctx, h, event(bot.TriggerConversationStarted, "", vars, nil))
	if turn.Outcome != bot.OutcomeWaiting || turn.Wait == nil || turn.Wait.Step != "ask" || len(h.sent) != 2 || !strings.HasPrefix(h.sent[0], "Hi!") {
		t.Fatalf("greeting: %+v sent %q", turn, h.sent)
	}

	h.sent = nil
	turn = b.Run(ctx, h, event(bot.TriggerMessageReceived, "my number?", turn.Variables, turn.Wait))
	if turn.Outcome != bot.OutcomeWaiting || turn.Wait.Attempts != 1 || len(h.sent) != 1 || !strings.HasPrefix(h.sent[0], "Sorry, that does not look") {
		t.Fatalf("invalid answer: %+v sent %q", turn, h.sent)
	}
	if turn.Trace.Resumed != "ask" || turn.Trace.Steps[0].Note != "invalid answer, asked again (1 of 3)" {
		t.Fatalf("trace of the invalid answer: %+v", turn.Trace)
	}

	h.sent = nil
	turn = b.Run(ctx, h, event(bot.TriggerMessageReceived, "+1 555 010 0002", turn.Variables, turn.Wait))
	if turn.Outcome != bot.OutcomeWaiting || turn.Wait.Attempts != 0 || len(h.sent) != 2 || !strings.HasPrefix(h.sent[0], "That number belongs to another account") {
		t.Fatalf("taken: %+v sent %q", turn, h.sent)
	}
	if turn.Variables["customer-identifier"] != false || turn.Variables["phone"] != "+1 555 010 0002" {
		t.Fatalf("taken variables: %v", turn.Variables)
	}
	op := turn.Trace.Steps[1].Operation
	if op == nil || op.Name != "update_customer_identifier" || op.Error == nil || op.Error.Code != domain.CodeIdentifierTaken || op.Value != "false" {
		t.Fatalf("operation trace: %+v", op)
	}

	h.sent = nil
	turn = b.Run(ctx, h, event(bot.TriggerMessageReceived, "+1 555 010 0001", turn.Variables, turn.Wait))
	if turn.Outcome != bot.OutcomeClosed || !turn.Close || turn.Wait != nil || len(h.sent) != 1 || h.sent[0] != "Done: we now know you by +15550100001. Goodbye!" {
		t.Fatalf("update: %+v sent %q", turn, h.sent)
	}
	last := h.calls[len(h.calls)-1]
	if !reflect.DeepEqual(last.Inputs, map[string]any{"conversationId": "conv_1", "customerIdentifier": "tel:+1 555 010 0001"}) || last.Variable != "customer-identifier" {
		t.Fatalf("operation call: %+v", last)
	}
	var kinds []string
	for _, s := range turn.Trace.Steps {
		kinds = append(kinds, s.Step)
	}
	if strings.Join(kinds, ",") != "ask,update,result,done,bye" {
		t.Fatalf("steps run: %v", kinds)
	}
}

func TestRetriesRunOut(t *testing.T) {
	b := compile(t, newEngine(t), `{"triggers": {"conversation_started": "a"}, "steps": {
		"a": {"ask": "'n?'", "saveAs": "n", "valid": "input.text == '1'", "retries": 1, "onInvalid": "bye"},
		"bye": {"say": "'giving up'"}}}`)
	h := &scriptHost{}
	ctx := context.Background()
	turn := b.Run(ctx, h, event(bot.TriggerConversationStarted, "", nil, nil))
	turn = b.Run(ctx, h, event(bot.TriggerMessageReceived, "x", turn.Variables, turn.Wait))
	if turn.Wait == nil || turn.Wait.Attempts != 1 {
		t.Fatalf("first invalid answer: %+v", turn)
	}
	turn = b.Run(ctx, h, event(bot.TriggerMessageReceived, "y", turn.Variables, turn.Wait))
	if turn.Wait != nil || turn.Outcome != bot.OutcomeCompleted || h.sent[len(h.sent)-1] != "giving up" {
		t.Fatalf("retries run out: %+v %q", turn, h.sent)
	}
	if _, saved := turn.Variables["n"]; saved {
		t.Fatal("an invalid answer was saved")
	}
}

func TestThrownErrorBreaksTheChain(t *testing.T) {
	b := compile(t, newEngine(t), `{"triggers": {"conversation_started": "a"}, "steps": {
		"a": {"say": "'one'", "next": "b"},
		"b": {"set": {"before": "true"}, "next": "c"},
		"c": {"do": "update_customer_identifier", "with": {"conversationId": "conversation.id", "customerIdentifier": "'tel:+1'"}, "output": "result", "next": "d"},
		"d": {"say": "'never'"}}}`)
	h := &scriptHost{results: map[string]func(bot.Call) (bot.Result, error){
		"update_customer_identifier": func(bot.Call) (bot.Result, error) {
			return bot.Result{RunID: "run_1"}, domain.Errorf(domain.CodeNotDeployed, "preview")
		},
	}}
	turn := b.Run(context.Background(), h, event(bot.TriggerConversationStarted, "", map[string]any{}, nil))
	if turn.Outcome != bot.OutcomeFailed || turn.Failure.Code != domain.CodeNotDeployed || turn.Failure.Step != "c" || turn.Err != nil {
		t.Fatalf("turn: %+v", turn)
	}
	if len(h.sent) != 1 || turn.Variables["before"] != true {
		t.Fatalf("steps before the failure must stand: sent %q vars %v", h.sent, turn.Variables)
	}
	if _, ok := turn.Variables["result"]; ok {
		t.Fatal("the failing step wrote its output")
	}
	st := turn.Trace.Steps[len(turn.Trace.Steps)-1]
	if st.Step != "c" || st.Error == nil || st.Operation.Error.Code != domain.CodeNotDeployed || st.Operation.RunID != "run_1" {
		t.Fatalf("trace: %+v", st)
	}
}

func TestOnErrorCatchesAThrownError(t *testing.T) {
	b := compile(t, newEngine(t), `{"triggers": {"conversation_started": "c"}, "steps": {
		"c": {"do": "close_conversation", "kind": "action", "onError": "d", "next": "e"},
		"d": {"say": "'could not: ' + error.code + ' in ' + error.operation"},
		"e": {"say": "'closed'"}}}`)
	h := &scriptHost{results: map[string]func(bot.Call) (bot.Result, error){
		"close_conversation": func(bot.Call) (bot.Result, error) {
			return bot.Result{}, domain.Errorf(domain.CodeNotDeployed, "preview")
		},
	}}
	turn := b.Run(context.Background(), h, event(bot.TriggerConversationStarted, "", nil, nil))
	if turn.Outcome != bot.OutcomeCompleted || len(h.sent) != 1 || h.sent[0] != "could not: not_deployed in close_conversation" {
		t.Fatalf("turn %+v sent %q", turn, h.sent)
	}
}

func TestHostFailureFailsTheTurn(t *testing.T) {
	b := compile(t, newEngine(t), `{"triggers": {"conversation_started": "c"}, "steps": {
		"c": {"do": "close_conversation", "kind": "action", "onError": "d"}, "d": {"say": "'x'"}}}`)
	broken := errors.New("disk on fire")
	h := &scriptHost{results: map[string]func(bot.Call) (bot.Result, error){
		"close_conversation": func(bot.Call) (bot.Result, error) { return bot.Result{}, broken },
	}}
	turn := b.Run(context.Background(), h, event(bot.TriggerConversationStarted, "", nil, nil))
	if !errors.Is(turn.Err, broken) || turn.Outcome != bot.OutcomeFailed || turn.Failure.Code != domain.CodeInternal || len(h.sent) != 0 {
		t.Fatalf("turn: %+v", turn)
	}
}

func TestStepLimit(t *testing.T) {
	var steps []string
	for i := range 150 {
		steps = append(steps, fmt.Sprintf(`"s%03d": {"set": {"n": "%d"}, "next": "s%03d"}`, i, i, i+1))
	}
	steps = append(steps, `"s150": {"say": "'done'"}`)
	doc := `{"triggers": {"conversation_started": "s000"}, "steps": {` + strings.Join(steps, ",") + `}}`
	b := compile(t, newEngine(t), doc)
	turn := b.Run(context.Background(), &scriptHost{}, event(bot.TriggerConversationStarted, "", nil, nil))
	if turn.Outcome != bot.OutcomeFailed || turn.Failure.Code != bot.CodeStepLimit || turn.Failure.Step != "s100" || len(turn.Trace.Steps) != 100 {
		t.Fatalf("turn: %+v (%d steps)", turn.Failure, len(turn.Trace.Steps))
	}
	if turn.Variables["n"] != float64(99) {
		t.Fatalf("steps before the limit must stand: %v", turn.Variables["n"])
	}
}

func TestExpressionFailures(t *testing.T) {
	e, err := bot.NewEngine(nil, bot.Limits{Cost: 70_000})
	if err != nil {
		t.Fatal(err)
	}
	b := compile(t, e, `{"triggers": {"conversation_started": "a", "message_received": "m"}, "steps": {
		"a": {"branch": [{"if": "session.items.exists(x, x == 'z')", "next": "b"}]},
		"b": {"say": "'found'"},
		"m": {"say": "'you said ' + session.missing"}}}`)
	items := make([]any, 100_000)
	for i := range items {
		items[i] = "a"
	}
	turn := b.Run(context.Background(), &scriptHost{}, event(bot.TriggerConversationStarted, "", map[string]any{"items": items}, nil))
	if turn.Outcome != bot.OutcomeFailed || turn.Failure.Code != bot.CodeCostLimit {
		t.Fatalf("cost limit: %+v", turn.Failure)
	}
	turn = b.Run(context.Background(), &scriptHost{}, event(bot.TriggerMessageReceived, "hi", nil, nil))
	if turn.Outcome != bot.OutcomeFailed || turn.Failure.Code != bot.CodeExpressionFailed || !strings.Contains(turn.Failure.Message, "no such key") {
		t.Fatalf("missing variable: %+v", turn.Failure)
	}
	if ex := turn.Trace.Steps[0].Expressions[0]; ex.Path != "/steps/m/say" || ex.Error == "" {
		t.Fatalf("expression trace: %+v", ex)
	}
}

func TestValuesRoundTrip(t *testing.T) {
	b := compile(t, newEngine(t), `{"triggers": {"message_received": "a"}, "steps": {
		"a": {"set": {"count": "has(session.count) ? session.count + 1 : 1", "list": "[1, 'two', {'three': 3.5}]", "at": "input.time", "long": "[input.text, input.text, input.text, input.text, input.text, input.text, input.text, input.text, input.text, input.text].join(\"\") + [input.text, input.text, input.text, input.text, input.text, input.text, input.text, input.text, input.text, input.text].join(\"\")"}}}}`)
	turn := b.Run(context.Background(), &scriptHost{}, event(bot.TriggerMessageReceived, "abcdefghij", map[string]any{"count": float64(41)}, nil))
	if turn.Failure != nil {
		t.Fatal(turn.Failure)
	}
	want := map[string]any{"count": float64(42), "list": []any{float64(1), "two", map[string]any{"three": 3.5}}, "at": "2026-01-01T09:00:00Z", "long": strings.Repeat("abcdefghij", 20)}
	if !reflect.DeepEqual(turn.Variables, want) || !turn.VariablesChanged {
		t.Fatalf("variables: %#v", turn.Variables)
	}
	for _, x := range turn.Trace.Steps[0].Expressions {
		if len([]rune(x.Result)) > 201 {
			t.Fatalf("trace value not truncated: %d characters", len(x.Result))
		}
	}
}
