package bot

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Triggers: the events a definition names a first step for.
const (
	TriggerConversationStarted = "conversation_started"
	TriggerMessageReceived     = "message_received"
)

// Step kinds.
const (
	StepSay    = "say"
	StepAsk    = "ask"
	StepSet    = "set"
	StepBranch = "branch"
	StepDo     = "do"
	StepClose  = "close"
)

var stepKinds = []string{StepSay, StepAsk, StepSet, StepBranch, StepDo, StepClose}

// stepFields lists the fields each kind of step accepts.
var stepFields = map[string][]string{
	StepSay:    {"say", "next"},
	StepAsk:    {"ask", "saveAs", "valid", "retry", "retries", "onInvalid", "next"},
	StepSet:    {"set", "next"},
	StepBranch: {"branch", "else"},
	StepDo:     {"do", "kind", "with", "output", "onError", "next"},
	StepClose:  {"close"},
}

// DefaultRetries is how often an ask step asks again after an invalid
// answer when its definition does not say.
const DefaultRetries = 3

// maxRetries bounds an ask step's retries.
const maxRetries = 100

// MaxSteps bounds the number of steps of a definition.
const MaxSteps = 1000

// reservedVariable holds the channel data of a session; bots read it and
// never write it.
const reservedVariable = "channels"

var (
	nameRE     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]{0,63}$`)
	nameRule   = "start with a letter or _ and hold at most 64 letters, digits, _ or -"
	topFields  = []string{"description", "steps", "triggers"}
	triggerSet = []string{TriggerConversationStarted, TriggerMessageReceived}
)

// Bot is a checked, compiled definition, ready to run turns. It is
// immutable and safe for concurrent use.
type Bot struct {
	engine   *Engine
	triggers map[string]*step
	steps    map[string]*step
}

// Empty reports whether the bot has no trigger: it never does anything.
func (b *Bot) Empty() bool { return len(b.triggers) == 0 }

// step is one compiled step.
type step struct {
	name string
	kind string
	path string // JSON pointer of the step
	next string

	text *expr // say: the message; ask: the prompt

	saveAs    string // ask
	valid     *expr
	retry     *expr
	retries   int
	onInvalid string

	assign []assignment // set, sorted by variable

	cases    []branchCase // branch
	elseNext string

	op      Operation // do
	inputs  []binding // sorted by input name
	output  string    // the variable the output goes to; "" for none
	onError string
}

type assignment struct {
	variable string
	value    *expr
}

type branchCase struct {
	cond *expr
	next string
}

type binding struct {
	input string
	value *expr
}

// Compile checks a definition (a JSON document) and compiles it. An empty
// document, null and {} give a bot that does nothing. A refused definition
// returns a *Problem with the JSON pointer of its first problem; problems
// are looked for in a fixed order (top-level fields, then steps by name,
// then triggers, then loops), so the same document always gives the same
// problem.
func (e *Engine) Compile(doc []byte) (*Bot, error) {
	b := &Bot{engine: e, triggers: map[string]*step{}, steps: map[string]*step{}}
	doc = bytes.TrimSpace(doc)
	if len(doc) == 0 || string(doc) == "null" {
		return b, nil
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var root any
	if err := dec.Decode(&root); err != nil {
		return nil, problem("", "the definition is not valid JSON: %s", err)
	}
	if dec.More() {
		return nil, problem("", "the definition holds more than one JSON value")
	}
	top, ok := root.(map[string]any)
	if !ok {
		return nil, problem("", "the definition must be a JSON object with triggers and steps")
	}
	if p := unknownFields(top, "", topFields, "the definition"); p != nil {
		return nil, p
	}
	if d, ok := top["description"]; ok {
		if _, isText := d.(string); !isText {
			return nil, problem("/description", "description must be text")
		}
	}
	if p := b.compileSteps(top["steps"]); p != nil {
		return nil, p
	}
	if p := b.compileTriggers(top["triggers"]); p != nil {
		return nil, p
	}
	if p := b.checkReferences(); p != nil {
		return nil, p
	}
	if p := b.checkLoops(); p != nil {
		return nil, p
	}
	return b, nil
}

func (b *Bot) compileSteps(raw any) *Problem {
	if raw == nil {
		return nil
	}
	steps, ok := raw.(map[string]any)
	if !ok {
		return problem("/steps", "steps must be an object of named steps")
	}
	if len(steps) > MaxSteps {
		return problem("/steps", "a definition holds at most %d steps, this one %d", MaxSteps, len(steps))
	}
	for _, name := range sortedKeys(steps) {
		path := "/steps/" + pointerToken(name)
		if !nameRE.MatchString(name) {
			return problem(path, "the step name %q must %s", truncate(name, 80), nameRule)
		}
		s, p := b.compileStep(name, path, steps[name])
		if p != nil {
			return p
		}
		b.steps[name] = s
	}
	return nil
}

func (b *Bot) compileTriggers(raw any) *Problem {
	if raw == nil {
		return nil
	}
	triggers, ok := raw.(map[string]any)
	if !ok {
		return problem("/triggers", "triggers must be an object naming the first step of each trigger, e.g. {\"conversation_started\": \"greet\"}")
	}
	if p := unknownFields(triggers, "/triggers", triggerSet, "triggers"); p != nil {
		return p
	}
	for _, name := range sortedKeys(triggers) {
		path := "/triggers/" + name
		first, ok := triggers[name].(string)
		if !ok {
			return problem(path, "a trigger names its first step, as text")
		}
		s, ok := b.steps[first]
		if !ok {
			return problem(path, "the trigger %s starts at step %q, which does not exist%s", name, truncate(first, 80), b.stepList())
		}
		b.triggers[name] = s
	}
	return nil
}

// compileStep checks one step.
func (b *Bot) compileStep(name, path string, raw any) (*step, *Problem) {
	fields, ok := raw.(map[string]any)
	if !ok {
		return nil, problem(path, "a step must be an object with one of %s", strings.Join(stepKinds, ", "))
	}
	var kinds []string
	for _, k := range stepKinds {
		if _, ok := fields[k]; ok {
			kinds = append(kinds, k)
		}
	}
	switch len(kinds) {
	case 0:
		for _, k := range sortedKeys(fields) {
			if _, known := stepFields[k]; !known && !isStepField(k) {
				return nil, problem(path+"/"+pointerToken(k), "unknown step kind %q: a step is one of %s", truncate(k, 80), strings.Join(stepKinds, ", "))
			}
		}
		return nil, problem(path, "the step says nothing to do: give it one of %s", strings.Join(stepKinds, ", "))
	case 1:
	default:
		return nil, problem(path+"/"+kinds[1], "a step does one thing: this one has both %s and %s; split it into two steps", kinds[0], kinds[1])
	}
	s := &step{name: name, kind: kinds[0], path: path}
	if p := unknownFields(fields, path, stepFields[s.kind], "a "+s.kind+" step"); p != nil {
		return nil, p
	}
	var p *Problem
	if s.next, p = optionalText(fields, path, "next"); p != nil {
		return nil, p
	}
	c := stepCompiler{b: b, s: s, fields: fields}
	switch s.kind {
	case StepSay:
		s.text, p = c.expression("say", stringType, true)
	case StepAsk:
		p = c.ask()
	case StepSet:
		p = c.set()
	case StepBranch:
		p = c.branch()
	case StepDo:
		p = c.do()
	case StepClose:
		if v, ok := fields["close"].(bool); !ok || !v {
			p = problem(path+"/close", "a close step is written close: true")
		}
	}
	return s, p
}

func isStepField(k string) bool {
	for _, fields := range stepFields {
		for _, f := range fields {
			if f == k {
				return true
			}
		}
	}
	return false
}

// stepCompiler reads the fields of one step.
type stepCompiler struct {
	b      *Bot
	s      *step
	fields map[string]any
}

func (c stepCompiler) path(field string) string { return c.s.path + "/" + field }

// expression compiles the field's CEL expression.
func (c stepCompiler) expression(field string, want slotType, required bool) (*expr, *Problem) {
	raw, ok := c.fields[field]
	if !ok {
		if required {
			return nil, problem(c.path(field), "%s is required in a %s step", field, c.s.kind)
		}
		return nil, nil
	}
	source, ok := raw.(string)
	if !ok {
		return nil, problem(c.path(field), "%s must be a CEL expression, written as text (a text literal is quoted inside: \"'Hello'\")", field)
	}
	return c.b.engine.compile(source, c.path(field), want)
}

func (c stepCompiler) ask() (p *Problem) {
	s := c.s
	if s.text, p = c.expression("ask", stringType, true); p != nil {
		return p
	}
	if s.saveAs, p = optionalText(c.fields, s.path, "saveAs"); p != nil {
		return p
	}
	if s.saveAs != "" {
		if p := checkVariable(c.path("saveAs"), s.saveAs); p != nil {
			return p
		}
	}
	if s.valid, p = c.expression("valid", boolType, false); p != nil {
		return p
	}
	if s.retry, p = c.expression("retry", stringType, false); p != nil {
		return p
	}
	s.retries = DefaultRetries
	if raw, ok := c.fields["retries"]; ok {
		n, ok := wholeNumber(raw)
		if !ok || n < 0 || n > maxRetries {
			return problem(c.path("retries"), "retries must be a whole number from 0 to %d", maxRetries)
		}
		s.retries = int(n)
	}
	s.onInvalid, p = optionalText(c.fields, s.path, "onInvalid")
	return p
}

func (c stepCompiler) set() *Problem {
	vars, ok := c.fields["set"].(map[string]any)
	if !ok || len(vars) == 0 {
		return problem(c.path("set"), "set must be an object of variables and the expressions of their values, e.g. {\"count\": \"1\"}")
	}
	for _, name := range sortedKeys(vars) {
		path := c.path("set") + "/" + pointerToken(name)
		if p := checkVariable(path, name); p != nil {
			return p
		}
		source, ok := vars[name].(string)
		if !ok {
			return problem(path, "the value of %s must be a CEL expression, written as text", name)
		}
		x, p := c.b.engine.compile(source, path, anyType)
		if p != nil {
			return p
		}
		c.s.assign = append(c.s.assign, assignment{variable: name, value: x})
	}
	return nil
}

func (c stepCompiler) branch() *Problem {
	cases, ok := c.fields["branch"].([]any)
	if !ok || len(cases) == 0 {
		return problem(c.path("branch"), "branch must be a list of conditions, e.g. [{\"if\": \"session.ok\", \"next\": \"done\"}]")
	}
	for i, raw := range cases {
		path := fmt.Sprintf("%s/%d", c.path("branch"), i)
		fields, ok := raw.(map[string]any)
		if !ok {
			return problem(path, "a branch case is an object with if and next")
		}
		if p := unknownFields(fields, path, []string{"if", "next"}, "a branch case"); p != nil {
			return p
		}
		source, ok := fields["if"].(string)
		if !ok {
			return problem(path+"/if", "if is required: a CEL condition, written as text")
		}
		cond, p := c.b.engine.compile(source, path+"/if", boolType)
		if p != nil {
			return p
		}
		next, ok := fields["next"].(string)
		if !ok || next == "" {
			return problem(path+"/next", "next is required: the step to go to when the condition is true")
		}
		c.s.cases = append(c.s.cases, branchCase{cond: cond, next: next})
	}
	var p *Problem
	c.s.elseNext, p = optionalText(c.fields, c.s.path, "else")
	return p
}

func (c stepCompiler) do() *Problem {
	s := c.s
	name, ok := c.fields["do"].(string)
	if !ok || name == "" {
		return problem(c.path("do"), "do names the data operation or action to run, as text")
	}
	kind := KindDataOperation
	if raw, ok := c.fields["kind"]; ok {
		kind, _ = raw.(string)
		if kind != KindDataOperation && kind != KindAction {
			return problem(c.path("kind"), "kind must be %s (the default) or %s", KindDataOperation, KindAction)
		}
	}
	op, ok := c.b.engine.ops[opKey{kind, name}]
	if !ok {
		return problem(c.path("do"), "unknown %s %q (%s)", strings.ReplaceAll(kind, "_", " "), truncate(name, 80), c.b.engine.operationList(kind))
	}
	s.op = op
	with := map[string]any{}
	if raw, ok := c.fields["with"]; ok {
		if with, ok = raw.(map[string]any); !ok {
			return problem(c.path("with"), "with must be an object of inputs and the expressions of their values")
		}
	}
	specs := make(map[string]OperationInput, len(op.Inputs))
	names := make([]string, len(op.Inputs))
	for i, in := range op.Inputs {
		specs[in.Name], names[i] = in, in.Name
	}
	for _, input := range sortedKeys(with) {
		path := c.path("with") + "/" + pointerToken(input)
		spec, ok := specs[input]
		if !ok {
			return problem(path, "%s has no input %q (inputs: %s)", name, truncate(input, 80), listOrNone(names))
		}
		source, ok := with[input].(string)
		if !ok {
			return problem(path, "the value of input %s must be a CEL expression, written as text", input)
		}
		want := stringType
		if spec.Boolean {
			want = boolType
		}
		x, p := c.b.engine.compile(source, path, want)
		if p != nil {
			return p
		}
		s.inputs = append(s.inputs, binding{input: input, value: x})
	}
	for _, in := range op.Inputs {
		if _, ok := with[in.Name]; in.Required && !ok {
			return problem(c.path("with"), "input %s of %s is required", in.Name, name)
		}
	}
	s.output = op.Variable
	output, p := optionalText(c.fields, s.path, "output")
	if p != nil {
		return p
	}
	if output != "" {
		if op.Variable == "" {
			return problem(c.path("output"), "the action %s writes no variable, so there is no output to rename", name)
		}
		if p := checkVariable(c.path("output"), output); p != nil {
			return p
		}
		s.output = output
	}
	s.onError, p = optionalText(c.fields, s.path, "onError")
	return p
}

// edges lists the steps a step may go to, with the field naming each.
func (s *step) edges() []edge {
	var out []edge
	add := func(field, to string) {
		if to != "" {
			out = append(out, edge{field: field, to: to})
		}
	}
	add("next", s.next)
	add("onInvalid", s.onInvalid)
	add("onError", s.onError)
	for i, c := range s.cases {
		add(fmt.Sprintf("branch/%d/next", i), c.next)
	}
	add("else", s.elseNext)
	return out
}

type edge struct{ field, to string }

// checkReferences makes sure every step named exists.
func (b *Bot) checkReferences() *Problem {
	for _, name := range sortedKeys(b.steps) {
		s := b.steps[name]
		for _, e := range s.edges() {
			if _, ok := b.steps[e.to]; !ok {
				return problem(s.path+"/"+e.field, "step %q does not exist%s", truncate(e.to, 80), b.stepList())
			}
		}
	}
	return nil
}

// checkLoops refuses a loop of steps that never waits for the customer:
// every cycle of the step graph must pass through an ask step.
func (b *Bot) checkLoops() *Problem {
	const (
		unseen = iota
		onPath
		done
	)
	state := make(map[string]int, len(b.steps))
	var path []string
	var visit func(name string) *Problem
	visit = func(name string) *Problem {
		state[name] = onPath
		path = append(path, name)
		for _, e := range b.steps[name].edges() {
			if b.steps[e.to].kind == StepAsk {
				continue // the chain stops to wait there
			}
			switch state[e.to] {
			case onPath:
				loop := path[indexOf(path, e.to):]
				loop = append(loop, e.to)
				first := b.steps[e.to]
				return problem(first.path, "the steps %s form a loop with no ask step: the bot would run without end; put an ask in the loop so it waits for the customer", strings.Join(loop, " → "))
			case unseen:
				if p := visit(e.to); p != nil {
					return p
				}
			}
		}
		path = path[:len(path)-1]
		state[name] = done
		return nil
	}
	for _, name := range sortedKeys(b.steps) {
		if state[name] == unseen && b.steps[name].kind != StepAsk {
			if p := visit(name); p != nil {
				return p
			}
		}
	}
	return nil
}

func indexOf(list []string, v string) int {
	for i, x := range list {
		if x == v {
			return i
		}
	}
	return 0
}

func (b *Bot) stepList() string {
	if len(b.steps) == 0 {
		return " (the definition has no steps)"
	}
	names := sortedKeys(b.steps)
	if len(names) > 10 {
		names = append(names[:10], "...")
	}
	return " (steps: " + strings.Join(names, ", ") + ")"
}

func (e *Engine) operationList(kind string) string {
	var names []string
	for k := range e.ops {
		if k.kind == kind {
			names = append(names, k.name)
		}
	}
	sort.Strings(names)
	noun := "data operations"
	if kind == KindAction {
		noun = "actions"
	}
	return noun + ": " + listOrNone(names)
}

func checkVariable(path, name string) *Problem {
	if !nameRE.MatchString(name) {
		return problem(path, "the variable name %q must %s", truncate(name, 80), nameRule)
	}
	if name == reservedVariable {
		return problem(path, "the variable %q holds the channel data and cannot be written by a bot", name)
	}
	return nil
}

// unknownFields refuses fields not in allowed.
func unknownFields(fields map[string]any, path string, allowed []string, what string) *Problem {
	for _, k := range sortedKeys(fields) {
		if indexOfExact(allowed, k) < 0 {
			return problem(path+"/"+pointerToken(k), "unknown field %q in %s (fields: %s)", truncate(k, 80), what, strings.Join(allowed, ", "))
		}
	}
	return nil
}

func indexOfExact(list []string, v string) int {
	for i, x := range list {
		if x == v {
			return i
		}
	}
	return -1
}

func optionalText(fields map[string]any, path, field string) (string, *Problem) {
	raw, ok := fields[field]
	if !ok {
		return "", nil
	}
	v, ok := raw.(string)
	if !ok || v == "" {
		return "", problem(path+"/"+field, "%s must be the name of a step, as text", field)
	}
	return v, nil
}

func wholeNumber(v any) (int64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	i, err := n.Int64()
	return i, err == nil
}

func listOrNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// pointerToken escapes a key for a JSON pointer (RFC 6901).
func pointerToken(k string) string {
	return strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1")
}
