// Package transcript runs transcript tests of bots: a bot author writes the
// conversation they expect (the customer's messages, the bot's answers as
// exact text or a pattern, variables, runs, the conversation's status) and
// the runner plays it against the real service and runtime on a store of
// its own, so deployed-only and identifier rules are the real ones.
//
// A test file (YAML or JSON):
//
//	bot: bot.yaml                 # the definition, relative to this file
//	tests:
//	  - name: a valid number updates the identifier
//	    identifier: tel:+15550100000   # the customer's, optional
//	    seed: [tel:+15550100002]       # customers holding these, optional
//	    preview: false                 # run as a preview of the version
//	    start: api                     # or "message": the first customer line starts it
//	    transcript:
//	      - bot: Hi! I can change the phone number we know you by.
//	      - bot: {match: "^What is your new phone number"}
//	      - customer: +1 555 010 0001
//	      - bot: {match: "^Done"}
//	      - variables: {phone: +1 555 010 0001}
//	      - runs: [{operation: update_customer_identifier, value: true}]
//	      - status: closed
package transcript

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/parleyhq/parley/bot"
)

// File is a parsed test file.
type File struct {
	Path string
	// Definition is the bot's definition as JSON.
	Definition []byte
	Tests      []Test
}

// Test is one conversation.
type Test struct {
	Name       string
	Identifier string   // the customer's identifier when it starts
	Seed       []string // identifiers held by other customers
	Preview    bool
	// ByMessage starts the conversation with the first customer line, as
	// a channel does, instead of through the API.
	ByMessage bool
	Lines     []Line
}

// Line is one line of a transcript: a customer message, an expected bot
// message, or an expectation on the state at that point.
type Line struct {
	Customer  *string
	Bot       *Expect
	Variables map[string]any
	Runs      []RunExpect
	Status    string
	// CustomerIdentifier is the identifier the customer holds ("" means
	// no expectation).
	CustomerIdentifier *string
	Turn               *TurnExpect
}

// Expect is an expected text: exact, or a regular expression.
type Expect struct {
	Text  string
	Match *regexp.Regexp
}

func (e Expect) String() string {
	if e.Match != nil {
		return "/" + e.Match.String() + "/"
	}
	return fmt.Sprintf("%q", e.Text)
}

func (e Expect) matches(s string) bool {
	if e.Match != nil {
		return e.Match.MatchString(s)
	}
	return e.Text == s
}

// RunExpect is an operation the bot ran since the previous customer line:
// its name, and optionally its error code ("" for none; "-" means any)
// and output value.
type RunExpect struct {
	Operation string  `json:"operation"`
	Error     *string `json:"error"`
	Value     any     `json:"value"`
	HasValue  bool    `json:"-"`
}

// TurnExpect is the outcome of the last turn and its error code.
type TurnExpect struct {
	Outcome string `json:"outcome"`
	Error   string `json:"error"`
}

// Load reads and parses a test file and the bot it names.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	doc, err := bot.ToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var raw struct {
		Bot   string            `json:"bot"`
		Tests []json.RawMessage `json:"tests"`
	}
	if err := strictJSON(doc, &raw); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if raw.Bot == "" {
		return nil, fmt.Errorf("%s: bot (the definition file, relative to the test file) is required", path)
	}
	definition, err := os.ReadFile(filepath.Join(filepath.Dir(path), raw.Bot))
	if err != nil {
		return nil, fmt.Errorf("%s: bot: %w", path, err)
	}
	f := &File{Path: path}
	if f.Definition, err = bot.ToJSON(definition); err != nil {
		return nil, fmt.Errorf("%s: %w", raw.Bot, err)
	}
	if len(raw.Tests) == 0 {
		return nil, fmt.Errorf("%s: no tests", path)
	}
	for i, rt := range raw.Tests {
		t, err := parseTest(rt)
		if err != nil {
			return nil, fmt.Errorf("%s: test %d: %w", path, i+1, err)
		}
		f.Tests = append(f.Tests, t)
	}
	return f, nil
}

func parseTest(doc []byte) (Test, error) {
	var raw struct {
		Name       string            `json:"name"`
		Identifier string            `json:"identifier"`
		Seed       []string          `json:"seed"`
		Preview    bool              `json:"preview"`
		Start      string            `json:"start"`
		Transcript []json.RawMessage `json:"transcript"`
	}
	if err := strictJSON(doc, &raw); err != nil {
		return Test{}, err
	}
	t := Test{Name: raw.Name, Identifier: raw.Identifier, Seed: raw.Seed, Preview: raw.Preview}
	if t.Name == "" {
		return t, fmt.Errorf("name is required")
	}
	switch raw.Start {
	case "", "api":
	case "message":
		t.ByMessage = true
		if t.Preview {
			return t, fmt.Errorf("a preview starts through the API, not by a message")
		}
	default:
		return t, fmt.Errorf("start must be api or message")
	}
	for i, rl := range raw.Transcript {
		l, err := parseLine(rl)
		if err != nil {
			return t, fmt.Errorf("%q, transcript line %d: %w", t.Name, i+1, err)
		}
		t.Lines = append(t.Lines, l)
	}
	if t.ByMessage && (len(t.Lines) == 0 || t.Lines[0].Customer == nil) {
		return t, fmt.Errorf("%q starts by a message: its transcript must begin with a customer line", t.Name)
	}
	return t, nil
}

func parseLine(doc []byte) (Line, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(doc, &raw); err != nil || len(raw) != 1 {
		return Line{}, fmt.Errorf("a line is an object with one of customer, bot, variables, runs, status, customerIdentifier, turn")
	}
	var l Line
	for key, v := range raw {
		var err error
		switch key {
		case "customer":
			err = json.Unmarshal(v, &l.Customer)
		case "bot":
			l.Bot, err = parseExpect(v)
		case "variables":
			err = json.Unmarshal(v, &l.Variables)
		case "runs":
			l.Runs, err = parseRuns(v)
		case "status":
			err = json.Unmarshal(v, &l.Status)
		case "customerIdentifier":
			err = json.Unmarshal(v, &l.CustomerIdentifier)
		case "turn":
			err = strictJSON(v, &l.Turn)
		default:
			return l, fmt.Errorf("unknown line %q (customer, bot, variables, runs, status, customerIdentifier, turn)", key)
		}
		if err != nil {
			return l, fmt.Errorf("%s: %w", key, err)
		}
	}
	return l, nil
}

func parseExpect(v json.RawMessage) (*Expect, error) {
	var text string
	if json.Unmarshal(v, &text) == nil {
		return &Expect{Text: text}, nil
	}
	var m struct {
		Match string `json:"match"`
	}
	if err := strictJSON(v, &m); err != nil || m.Match == "" {
		return nil, fmt.Errorf("a bot line is the exact text, or {match: a regular expression}")
	}
	re, err := regexp.Compile(m.Match)
	if err != nil {
		return nil, err
	}
	return &Expect{Match: re}, nil
}

func parseRuns(v json.RawMessage) ([]RunExpect, error) {
	var raws []map[string]json.RawMessage
	if err := json.Unmarshal(v, &raws); err != nil {
		return nil, fmt.Errorf("runs is a list of {operation, error, value}")
	}
	out := make([]RunExpect, len(raws))
	for i, r := range raws {
		for k := range r {
			if k != "operation" && k != "error" && k != "value" {
				return nil, fmt.Errorf("run %d: unknown field %q (operation, error, value)", i+1, k)
			}
		}
		if err := json.Unmarshal(r["operation"], &out[i].Operation); err != nil || out[i].Operation == "" {
			return nil, fmt.Errorf("run %d: operation is required", i+1)
		}
		if e, ok := r["error"]; ok {
			var code *string
			if err := json.Unmarshal(e, &code); err != nil {
				return nil, fmt.Errorf("run %d: error is a code or null", i+1)
			}
			if code == nil {
				code = new(string)
			}
			out[i].Error = code
		}
		if val, ok := r["value"]; ok {
			out[i].HasValue = true
			if err := json.Unmarshal(val, &out[i].Value); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

func strictJSON(doc []byte, dst any) error {
	dec := json.NewDecoder(strings.NewReader(string(doc)))
	dec.DisallowUnknownFields()
	return dec.Decode(dst)
}
