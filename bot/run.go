package bot

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/parleyhq/parley/domain"
)

// Host is what a turn needs from the store, inside the turn's transaction.
type Host interface {
	// Send writes an outbound message of the bot in the conversation.
	// A coded error (conversation_closed, ...) is a thrown failure of the
	// step; any other error fails the whole turn (Turn.Err).
	Send(ctx context.Context, text string) error
	// Run runs a data operation or action with evaluated inputs. A
	// business outcome is returned in Result.Outcome; a coded error is a
	// thrown failure (not_deployed, license_required, identifier_invalid,
	// invalid_argument); an internal or conflict error fails the whole
	// turn (Turn.Err). A thrown failure must leave nothing written.
	Run(ctx context.Context, call Call) (Result, error)
}

// Call is an operation a do step runs.
type Call struct {
	Kind   string
	Name   string
	Inputs map[string]any // JSON values: text and booleans
	// Variable is the session variable the output goes to ("" for none).
	Variable string
}

// Result is the result of a Call.
type Result struct {
	Value   any
	Outcome *domain.Error // a business outcome; Value is then false or empty
	RunID   string
	// Conversation and Customer are set when the operation may have
	// changed them, so later expressions see the new values.
	Conversation *Conversation
	Customer     *Customer
}

// Wait is the state of a conversation whose bot waits at an ask step.
type Wait struct {
	Step     string `json:"step"`
	Attempts int    `json:"attempts"` // invalid answers so far
}

// Event is what a turn handles.
type Event struct {
	Trigger      string // TriggerConversationStarted or TriggerMessageReceived
	Input        Input
	Conversation Conversation
	Customer     Customer
	// Variables are the session's variables; Run does not change them.
	Variables map[string]any
	// Wait is the ask step the bot waits at, nil when it does not wait.
	Wait *Wait
}

// Turn is what a turn did, for the host to persist.
type Turn struct {
	// Variables are the session's variables after the turn;
	// VariablesChanged reports whether any step wrote one.
	Variables        map[string]any
	VariablesChanged bool
	// Sent are the texts sent through Host.Send, in order.
	Sent []string
	// Wait is the wait state after the turn, nil when not waiting.
	Wait *Wait
	// Close asks the host to close the conversation.
	Close   bool
	Outcome string
	Failure *Failure
	Trace   Trace
	// Err is a failure of the host (its store), not of the bot: the turn's
	// transaction must be rolled back.
	Err error
}

// Run runs one turn: it resumes the ask step the bot waits at (for an
// inbound message) or starts the trigger's chain, and runs steps until a
// wait, a close, the end of the chain, a failure or the step limit. It
// never panics on a compiled definition.
func (b *Bot) Run(ctx context.Context, host Host, ev Event) *Turn {
	started := time.Now()
	r := &runner{
		bot: b, host: host, limits: b.engine.limits,
		vars: cloneMap(ev.Variables),
		act:  activation{input: ev.Input, conversation: ev.Conversation, customer: ev.Customer},
		turn: &Turn{Trace: Trace{Trigger: ev.Trigger, Steps: []StepTrace{}}},
	}
	r.turn.Variables = r.vars
	next := ""
	var resume *step
	if ev.Wait != nil && ev.Trigger == TriggerMessageReceived {
		if s, ok := b.steps[ev.Wait.Step]; ok && s.kind == StepAsk {
			resume = s
			r.turn.Trace.Resumed = s.name
		}
	}
	if resume != nil {
		next = r.runStep(ctx, resume, ev.Wait)
	} else if first, ok := b.triggers[ev.Trigger]; ok {
		next = first.name
	}
	for next != "" && r.turn.Outcome == "" {
		next = r.runStep(ctx, b.steps[next], nil)
	}
	switch {
	case r.turn.Outcome != "":
	case len(r.turn.Trace.Steps) == 0:
		r.turn.Outcome = OutcomeIdle
	default:
		r.turn.Outcome = OutcomeCompleted
	}
	r.turn.Trace.Outcome, r.turn.Trace.Error = r.turn.Outcome, r.turn.Failure
	r.turn.Trace.DurationUS = time.Since(started).Microseconds()
	return r.turn
}

type runner struct {
	bot    *Bot
	host   Host
	limits Limits
	vars   map[string]any
	act    activation
	fresh  bool // act.session reflects vars
	count  int
	turn   *Turn
}

// runStep runs s (resuming it when wait is set) and returns the next step,
// "" when the chain stops.
func (r *runner) runStep(ctx context.Context, s *step, wait *Wait) string {
	if r.count >= r.limits.Steps {
		r.fail(s, nil, &Failure{Code: CodeStepLimit, Message: fmt.Sprintf("the turn ran %d steps, its limit; the chain stops at step %s", r.limits.Steps, s.name)})
		return ""
	}
	r.count++
	t := StepTrace{Step: s.name, Kind: s.kind}
	started := time.Now()
	next, err := r.do(ctx, s, wait, &t)
	t.DurationUS = time.Since(started).Microseconds()
	if err != nil {
		var f *Failure
		if !errors.As(err, &f) {
			code := domain.ErrorCode(err)
			if code == domain.CodeInternal || code == domain.CodeConflict || ctx.Err() != nil {
				r.turn.Err = err
			}
			f = &Failure{Code: code, Message: domain.ErrorMessage(err)}
		}
		f.Step = s.name
		if s.kind == StepDo && s.onError != "" && r.turn.Err == nil {
			t.Error, t.Next = f, s.onError
			r.turn.Trace.Steps = append(r.turn.Trace.Steps, t)
			return s.onError
		}
		r.fail(s, &t, f)
		return ""
	}
	t.Next = next
	r.turn.Trace.Steps = append(r.turn.Trace.Steps, t)
	return next
}

func (r *runner) fail(s *step, t *StepTrace, f *Failure) {
	f.Step = s.name
	if t != nil {
		t.Error = f
		r.turn.Trace.Steps = append(r.turn.Trace.Steps, *t)
	}
	r.turn.Outcome, r.turn.Failure, r.turn.Wait = OutcomeFailed, f, nil
}

func (r *runner) do(ctx context.Context, s *step, wait *Wait, t *StepTrace) (string, error) {
	switch s.kind {
	case StepSay:
		text, err := r.evalText(ctx, s.text, t)
		if err != nil {
			return "", err
		}
		return s.next, r.send(ctx, text, t)
	case StepAsk:
		if wait != nil {
			return r.answer(ctx, s, wait, t)
		}
		text, err := r.evalText(ctx, s.text, t)
		if err != nil {
			return "", err
		}
		if err := r.send(ctx, text, t); err != nil {
			return "", err
		}
		r.waitAt(s, 0)
		return "", nil
	case StepSet:
		return s.next, r.set(ctx, s, t)
	case StepBranch:
		return r.branch(ctx, s, t)
	case StepDo:
		return r.operation(ctx, s, t)
	case StepClose:
		r.turn.Close, r.turn.Outcome, r.turn.Wait = true, OutcomeClosed, nil
		return "", nil
	}
	return "", fmt.Errorf("bot: unknown step kind %q", s.kind)
}

func (r *runner) waitAt(s *step, attempts int) {
	r.turn.Wait = &Wait{Step: s.name, Attempts: attempts}
	r.turn.Outcome = OutcomeWaiting
}

// answer handles the customer's answer to the ask step s.
func (r *runner) answer(ctx context.Context, s *step, wait *Wait, t *StepTrace) (string, error) {
	valid := true
	if s.valid != nil {
		v, err := r.eval(ctx, s.valid, t)
		if err != nil {
			return "", err
		}
		valid = v.(bool)
	}
	if valid {
		t.Note = "valid answer"
		if s.saveAs != "" {
			r.setVar(s.saveAs, r.act.input.Text)
		}
		return s.next, nil
	}
	attempts := wait.Attempts + 1
	if attempts > s.retries {
		t.Note = fmt.Sprintf("invalid answer, no retries left (%d)", s.retries)
		return s.onInvalid, nil
	}
	prompt := s.retry
	if prompt == nil {
		prompt = s.text
	}
	text, err := r.evalText(ctx, prompt, t)
	if err != nil {
		return "", err
	}
	if err := r.send(ctx, text, t); err != nil {
		return "", err
	}
	t.Note = fmt.Sprintf("invalid answer, asked again (%d of %d)", attempts, s.retries)
	r.waitAt(s, attempts)
	return "", nil
}

func (r *runner) set(ctx context.Context, s *step, t *StepTrace) error {
	values := make([]any, len(s.assign))
	for i, a := range s.assign {
		v, err := r.eval(ctx, a.value, t)
		if err != nil {
			return err // nothing of the step is applied
		}
		values[i] = v
	}
	for i, a := range s.assign {
		r.setVar(a.variable, values[i])
	}
	return nil
}

func (r *runner) branch(ctx context.Context, s *step, t *StepTrace) (string, error) {
	for i, c := range s.cases {
		v, err := r.eval(ctx, c.cond, t)
		if err != nil {
			return "", err
		}
		if v.(bool) {
			t.Note = fmt.Sprintf("condition %d true", i+1)
			return c.next, nil
		}
	}
	t.Note = "no condition true"
	return s.elseNext, nil
}

func (r *runner) operation(ctx context.Context, s *step, t *StepTrace) (string, error) {
	inputs := make(map[string]any, len(s.inputs))
	for _, b := range s.inputs {
		v, err := r.eval(ctx, b.value, t)
		if err != nil {
			return "", err
		}
		inputs[b.input] = v
	}
	ot := &OperationTrace{Kind: s.op.Kind, Name: s.op.Name, Inputs: r.traceInputs(inputs), Variable: s.output}
	t.Operation = ot
	started := time.Now()
	res, err := r.host.Run(ctx, Call{Kind: s.op.Kind, Name: s.op.Name, Inputs: inputs, Variable: s.output})
	ot.DurationUS, ot.RunID = time.Since(started).Microseconds(), res.RunID
	if err != nil {
		ot.Error = &Failure{Code: domain.ErrorCode(err), Message: domain.ErrorMessage(err)}
		r.act.err = LastError{Code: ot.Error.Code, Message: ot.Error.Message, Operation: s.op.Name}
		return "", err
	}
	r.act.err = LastError{}
	if res.Conversation != nil {
		r.act.conversation = *res.Conversation
	}
	if res.Customer != nil {
		r.act.customer = *res.Customer
	}
	ot.Value = show(res.Value, r.limits.TraceValue)
	if s.output != "" {
		r.setVar(s.output, res.Value)
	}
	if res.Outcome != nil {
		ot.Error = &Failure{Code: res.Outcome.Code, Message: res.Outcome.Message}
		r.act.err = LastError{Code: res.Outcome.Code, Message: res.Outcome.Message, Operation: s.op.Name}
		if s.onError != "" {
			t.Note = "business outcome " + res.Outcome.Code + ": onError"
			return s.onError, nil
		}
	}
	return s.next, nil
}

func (r *runner) traceInputs(in map[string]any) map[string]any {
	out := make(map[string]any, len(in))
	for k, v := range in {
		if s, ok := v.(string); ok {
			v = truncate(s, r.limits.TraceValue)
		}
		out[k] = v
	}
	return out
}

func (r *runner) send(ctx context.Context, text string, t *StepTrace) error {
	if text == "" {
		return &Failure{Code: CodeExpressionFailed, Message: "the message to send is empty"}
	}
	if err := r.host.Send(ctx, text); err != nil {
		return err
	}
	r.turn.Sent = append(r.turn.Sent, text)
	t.Sent = truncate(text, r.limits.TraceValue)
	return nil
}

func (r *runner) evalText(ctx context.Context, x *expr, t *StepTrace) (string, error) {
	v, err := r.eval(ctx, x, t)
	if err != nil {
		return "", err
	}
	return v.(string), nil
}

// eval evaluates x and records it in the step's trace.
func (r *runner) eval(ctx context.Context, x *expr, t *StepTrace) (any, error) {
	if !r.fresh {
		r.act.session = celValues(r.vars).(map[string]any)
		r.fresh = true
	}
	v, used, err := x.eval(ctx, &r.act)
	et := ExprTrace{Path: x.path, Cost: used}
	if err != nil {
		et.Error = truncate(err.Error(), 2*r.limits.TraceValue)
	} else {
		et.Result = show(v, r.limits.TraceValue)
	}
	t.Expressions = append(t.Expressions, et)
	return v, err
}

func (r *runner) setVar(name string, v any) {
	r.vars[name] = v
	r.fresh = false
	r.turn.VariablesChanged = true
}

func cloneMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m)+2)
	for k, v := range m {
		out[k] = v
	}
	return out
}
