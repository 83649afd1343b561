package bot_test

import (
	"os"
	"strings"
	"testing"

	"github.com/parleyhq/parley/bot"
	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/service"
)

func newEngine(t testing.TB) *bot.Engine {
	t.Helper()
	e, err := bot.NewEngine(service.BotCatalogue(), bot.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// exampleJSON is examples/change-number/bot.yaml as JSON.
func exampleJSON(t testing.TB) []byte {
	t.Helper()
	doc, err := os.ReadFile("../examples/change-number/bot.yaml")
	if err != nil {
		t.Fatal(err)
	}
	js, err := bot.ToJSON(doc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func TestDefinitionValidation(t *testing.T) {
	e := newEngine(t)
	good := []struct{ name, doc string }{
		{"empty", ``},
		{"null", `null`},
		{"empty object", `{}`},
		{"description only", `{"description": "nothing yet"}`},
		{"steps without triggers", `{"steps": {"a": {"say": "'hi'"}}}`},
		{"say chain", `{"triggers": {"conversation_started": "a"}, "steps": {"a": {"say": "'hi ' + customer.identifier", "next": "b"}, "b": {"close": true}}}`},
		{"loop through an ask", `{"triggers": {"message_received": "a"}, "steps": {
			"a": {"ask": "'number?'", "saveAs": "n", "valid": "input.text.matches('^[0-9]+$')", "retry": "'digits please'", "retries": 2, "onInvalid": "c", "next": "b"},
			"b": {"branch": [{"if": "int(session.n) > 10", "next": "a"}], "else": "c"},
			"c": {"set": {"count": "has(session.count) ? session.count + 1 : 1", "seen": "[input.text, conversation.id]"}, "next": "a"}}}`},
		{"do with renamed output and onError", `{"triggers": {"conversation_started": "f"}, "steps": {
			"f": {"do": "find_conversations_by_customer_identifier", "with": {"customerIdentifier": "customer.identifier"}, "output": "history", "onError": "g", "next": "g"},
			"g": {"say": "'you had ' + string(size(session.history)) + ' conversations; last error: ' + error.code"}}}`},
		{"action", `{"triggers": {"conversation_started": "c"}, "steps": {"c": {"do": "close_conversation", "kind": "action"}}}`},
		{"boolean input", `{"steps": {"s": {"do": "send_message_to_conversation", "with": {"message": "'hi'", "createIfNeeded": "false", "conversation": "conversation.id"}}}}`},
		{"dyn values in text slots", `{"steps": {"s": {"say": "session.greeting"}}}`},
		{"the example", string(exampleJSON(t))},
	}
	for _, c := range good {
		t.Run("good/"+c.name, func(t *testing.T) {
			if _, err := e.Compile([]byte(c.doc)); err != nil {
				t.Fatalf("refused: %v", err)
			}
		})
	}

	bad := []struct{ name, doc, path, message string }{
		{"syntax", `{"steps": `, "", "not valid JSON"},
		{"not an object", `[1, 2]`, "", "must be a JSON object"},
		{"unknown top-level field", `{"step": {}}`, "/step", `unknown field "step"`},
		{"steps not an object", `{"steps": []}`, "/steps", "steps must be an object"},
		{"bad step name", `{"steps": {"a b": {"close": true}}}`, "/steps/a b", "step name"},
		{"unknown step kind", `{"steps": {"a": {"shout": "'hi'"}}}`, "/steps/a/shout", `unknown step kind "shout"`},
		{"no kind", `{"steps": {"a": {"next": "a"}}}`, "/steps/a", "says nothing to do"},
		{"two kinds", `{"steps": {"a": {"say": "'hi'", "close": true}}}`, "/steps/a/close", "does one thing"},
		{"unknown field of a kind", `{"steps": {"a": {"say": "'hi'", "saveAs": "x"}}}`, "/steps/a/saveAs", `unknown field "saveAs" in a say step`},
		{"expression syntax", `{"steps": {"a": {"say": "'hi"}}}`, "/steps/a/say", "does not compile"},
		{"expression not text", `{"steps": {"a": {"say": 42}}}`, "/steps/a/say", "written as text"},
		{"say gives a number", `{"steps": {"a": {"say": "1 + 2"}}}`, "/steps/a/say", "gives a value of type int, but this place needs text"},
		{"condition gives text", `{"steps": {"a": {"branch": [{"if": "'yes'", "next": "a"}]}}}`, "/steps/a/branch/0/if", "needs a boolean"},
		{"valid gives text", `{"steps": {"a": {"ask": "'n?'", "valid": "input.text"}}}`, "/steps/a/valid", "needs a boolean"},
		{"undeclared variable", `{"steps": {"a": {"say": "user.name"}}}`, "/steps/a/say", "undeclared reference to 'user'"},
		{"unknown field of input", `{"steps": {"a": {"say": "input.txt"}}}`, "/steps/a/say", "undefined field 'txt'"},
		{"unknown operation", `{"steps": {"a": {"do": "delete_everything"}}}`, "/steps/a/do", `unknown data operation "delete_everything"`},
		{"unknown action", `{"steps": {"a": {"do": "find_conversations_by_customer_identifier", "kind": "action"}}}`, "/steps/a/do", "unknown action"},
		{"bad kind", `{"steps": {"a": {"do": "close_conversation", "kind": "macro"}}}`, "/steps/a/kind", "kind must be"},
		{"unknown input", `{"steps": {"a": {"do": "close_conversation", "with": {"conversation": "conversation.id", "reason": "'x'"}}}}`, "/steps/a/with/reason", `no input "reason"`},
		{"missing input", `{"steps": {"a": {"do": "update_customer_identifier", "with": {"conversationId": "conversation.id"}}}}`, "/steps/a/with", "input customerIdentifier of update_customer_identifier is required"},
		{"input of the wrong type", `{"steps": {"a": {"do": "send_message_to_conversation", "with": {"message": "'hi'", "createIfNeeded": "'yes'"}}}}`, "/steps/a/with/createIfNeeded", "needs a boolean"},
		{"action output renamed", `{"steps": {"a": {"do": "close_conversation", "kind": "action", "output": "x"}}}`, "/steps/a/output", "writes no variable"},
		{"bad variable", `{"steps": {"a": {"set": {"1x": "1"}}}}`, "/steps/a/set/1x", "variable name"},
		{"reserved variable", `{"steps": {"a": {"ask": "'n?'", "saveAs": "channels"}}}`, "/steps/a/saveAs", "channel data"},
		{"dangling next", `{"steps": {"a": {"say": "'hi'", "next": "b"}}}`, "/steps/a/next", `step "b" does not exist`},
		{"dangling else", `{"steps": {"a": {"branch": [{"if": "true", "next": "a"}], "else": "zz"}, "b": {"ask": "'x'", "next": "a"}}}`, "/steps/a/else", `step "zz" does not exist`},
		{"dangling trigger", `{"triggers": {"conversation_started": "nope"}, "steps": {}}`, "/triggers/conversation_started", `step "nope", which does not exist`},
		{"unknown trigger", `{"triggers": {"on_boot": "a"}, "steps": {"a": {"close": true}}}`, "/triggers/on_boot", "unknown field"},
		{"loop without ask", `{"steps": {"a": {"say": "'a'", "next": "b"}, "b": {"set": {"x": "1"}, "next": "a"}}}`, "/steps/a", "a → b → a form a loop with no ask"},
		{"self loop", `{"steps": {"a": {"say": "'a'", "next": "a"}}}`, "/steps/a", "loop with no ask"},
		{"loop through onError", `{"steps": {"a": {"do": "close_conversation", "kind": "action", "onError": "a"}}}`, "/steps/a", "loop with no ask"},
		{"close not true", `{"steps": {"a": {"close": "yes"}}}`, "/steps/a/close", "close: true"},
		{"retries out of range", `{"steps": {"a": {"ask": "'x'", "retries": -1}}}`, "/steps/a/retries", "whole number"},
		{"over the cost limit", `{"steps": {"a": {"branch": [{"if": "session.items.all(a, session.items.all(b, session.items.all(c, a == b && b == c)))", "next": "b"}]}, "b": {"ask": "'x'"}}}`, "/steps/a/branch/0/if", "over the limit"},
		{"pointer escaping", `{"steps": {"a": {"say": "'x'", "a/b~c": 1}}}`, "/steps/a/a~1b~0c", "unknown field"},
	}
	for _, c := range bad {
		t.Run("bad/"+c.name, func(t *testing.T) {
			_, err := e.Compile([]byte(c.doc))
			p, ok := err.(*bot.Problem)
			if !ok {
				t.Fatalf("accepted or wrong error: %v", err)
			}
			if p.Path != c.path || !strings.Contains(p.Message, c.message) {
				t.Fatalf("got %s %q, want %s containing %q", p.Path, p.Message, c.path, c.message)
			}
			de := p.AsError()
			if de.Code != domain.CodeInvalidDefinition || de.Details["path"] != c.path {
				t.Fatalf("as error: %+v", de)
			}
		})
	}
}

func TestToJSONReadsYAMLAndJSON(t *testing.T) {
	yaml := "triggers: {conversation_started: a}\nsteps:\n  a: {say: \"'hi'\", next: b}\n  b: {close: true}\n"
	js, err := bot.ToJSON([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newEngine(t).Compile(js); err != nil {
		t.Fatalf("YAML definition refused: %v (%s)", err, js)
	}
	if got, _ := bot.ToJSON([]byte(` {"a": 1} `)); string(got) != `{"a": 1}` {
		t.Fatalf("JSON changed: %s", got)
	}
	if _, err := bot.ToJSON([]byte("a: [")); err == nil {
		t.Fatal("broken YAML accepted")
	}
}
