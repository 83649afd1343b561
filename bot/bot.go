// Package bot holds Parley's bot definitions: the document format, the
// checker that refuses a bad definition with the JSON pointer of its first
// problem, the CEL expression environment, and the interpreter that runs
// one turn of a conversation.
//
// The package has no storage of its own. A turn calls back into a Host for
// what needs the store (sending a message, running a data operation or an
// action inside the turn's transaction) and returns what it did: the
// variables, the wait state, whether to close, the trace and the outcome.
// The service persists that in the same transaction.
package bot

import (
	"fmt"

	"cel.dev/cel-go/cel"

	"github.com/parleyhq/parley/domain"
)

// Kinds of operations a `do` step runs (the values of domain.RunKind).
const (
	KindDataOperation = string(domain.KindDataOperation)
	KindAction        = string(domain.KindAction)
)

// Operation describes a data operation or action that `do` steps may run:
// the catalogue the host gives the checker.
type Operation struct {
	Kind     string // KindDataOperation or KindAction
	Name     string
	Inputs   []OperationInput
	Variable string // default output variable; "" when it writes none
}

// OperationInput is one input of an operation.
type OperationInput struct {
	Name     string
	Boolean  bool // a boolean input; every other input is text
	Required bool
}

// Limits bound a turn.
type Limits struct {
	// Steps is the most steps one turn runs (default 100).
	Steps int
	// Cost is the most CEL cost one evaluation may use, and the most an
	// expression's estimated cost may be when it is checked (default
	// 1,000,000, about as many elementary operations).
	Cost uint64
	// TraceValue is the longest expression result kept in a trace, in
	// characters (default 200).
	TraceValue int
}

// DefaultLimits are the limits of a turn unless configured otherwise.
var DefaultLimits = Limits{Steps: 100, Cost: 1_000_000, TraceValue: 200}

func (l Limits) withDefaults() Limits {
	if l.Steps <= 0 {
		l.Steps = DefaultLimits.Steps
	}
	if l.Cost == 0 {
		l.Cost = DefaultLimits.Cost
	}
	if l.TraceValue <= 0 {
		l.TraceValue = DefaultLimits.TraceValue
	}
	return l
}

// Engine checks definitions against a catalogue of operations and compiles
// them into runnable bots. It is safe for concurrent use.
type Engine struct {
	env    *cel.Env
	ops    map[opKey]Operation
	limits Limits
}

type opKey struct{ kind, name string }

// NewEngine returns an engine for the given operations and limits (zero
// fields take DefaultLimits).
func NewEngine(catalogue []Operation, limits Limits) (*Engine, error) {
	env, err := newEnv()
	if err != nil {
		return nil, fmt.Errorf("bot: expression environment: %w", err)
	}
	ops := make(map[opKey]Operation, len(catalogue))
	for _, op := range catalogue {
		ops[opKey{op.Kind, op.Name}] = op
	}
	return &Engine{env: env, ops: ops, limits: limits.withDefaults()}, nil
}

// Limits returns the engine's limits.
func (e *Engine) Limits() Limits { return e.limits }

// Problem is the first problem of a refused definition: where it is (a JSON
// pointer into the document) and what is wrong, for the bot's author.
type Problem struct {
	Path    string
	Message string
}

func (p *Problem) Error() string {
	if p.Path == "" {
		return p.Message
	}
	return p.Path + ": " + p.Message
}

// AsError returns the problem as the invalid_definition error the API
// answers, with details.path.
func (p *Problem) AsError() *domain.Error {
	return domain.Errorf(domain.CodeInvalidDefinition, "%s", p.Error()).WithDetail("path", p.Path)
}

// Invalid returns the invalid_definition error of a problem at path.
func Invalid(path, format string, args ...any) *domain.Error {
	return problem(path, format, args...).AsError()
}

func problem(path, format string, args ...any) *Problem {
	return &Problem{Path: path, Message: fmt.Sprintf(format, args...)}
}
