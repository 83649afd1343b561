package bot

import (
	"encoding/json"
	"fmt"
)

// Outcomes of a turn.
const (
	// OutcomeIdle: no step ran (no trigger for the event).
	OutcomeIdle = "idle"
	// OutcomeCompleted: the chain ran to its end.
	OutcomeCompleted = "completed"
	// OutcomeWaiting: the chain stopped at an ask step, waiting for the
	// customer's answer.
	OutcomeWaiting = "waiting"
	// OutcomeClosed: a close step closed the conversation.
	OutcomeClosed = "closed"
	// OutcomeFailed: a step failed and broke the chain; the steps before
	// it stand.
	OutcomeFailed = "failed"
)

// Failure codes of the runtime itself (operations throw their own codes:
// not_deployed, license_required, identifier_invalid, ...).
const (
	CodeStepLimit = "step_limit_exceeded"
)

// Failure is what broke a chain: a thrown error of an operation, a failed
// expression or a limit, at a step.
type Failure struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Step    string `json:"step,omitempty"`
}

func (f *Failure) Error() string { return f.Code + ": " + f.Message }

// Trace tells what a turn did, step by step.
type Trace struct {
	Trigger string `json:"trigger"`
	// Resumed names the ask step whose answer the turn handled.
	Resumed    string      `json:"resumed,omitempty"`
	Steps      []StepTrace `json:"steps"`
	Outcome    string      `json:"outcome"`
	Error      *Failure    `json:"error,omitempty"`
	DurationUS int64       `json:"durationUs"`
}

// StepTrace is one step run.
type StepTrace struct {
	Step        string          `json:"step"`
	Kind        string          `json:"kind"`
	Expressions []ExprTrace     `json:"expressions,omitempty"`
	Sent        string          `json:"sent,omitempty"`
	Operation   *OperationTrace `json:"operation,omitempty"`
	// Note says what the step decided: "valid answer", "invalid answer,
	// asked again (1 of 3)", "condition 2 true", ...
	Note       string   `json:"note,omitempty"`
	Next       string   `json:"next,omitempty"`
	Error      *Failure `json:"error,omitempty"`
	DurationUS int64    `json:"durationUs"`
}

// ExprTrace is one expression evaluated: where it is in the definition,
// its result (JSON, truncated) and the CEL cost it used.
type ExprTrace struct {
	Path   string `json:"path"`
	Result string `json:"result,omitempty"`
	Cost   uint64 `json:"cost"`
	Error  string `json:"error,omitempty"`
}

// OperationTrace is one data operation or action run by a do step.
type OperationTrace struct {
	Kind       string         `json:"kind"`
	Name       string         `json:"name"`
	RunID      string         `json:"runId,omitempty"`
	Inputs     map[string]any `json:"inputs"`
	Variable   string         `json:"variable,omitempty"`
	Value      string         `json:"value,omitempty"`
	Error      *Failure       `json:"error,omitempty"`
	DurationUS int64          `json:"durationUs"`
}

// show renders a value as JSON, truncated to n characters.
func show(v any, n int) string {
	b, err := json.Marshal(v)
	if err != nil {
		return truncate(fmt.Sprint(v), n)
	}
	return truncate(string(b), n)
}
