package bot

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/ext"
	"cel.dev/cel-go/interpreter"
	"google.golang.org/protobuf/types/known/structpb"
)

// Input is what the expression variable `input` holds: the message being
// handled (empty text for conversation_started).
type Input struct {
	Text    string    `cel:"text"`
	Channel string    `cel:"channel"` // the channel resource's kind: sms, webchat
	Time    time.Time `cel:"time"`
}

// Conversation is what the expression variable `conversation` holds.
type Conversation struct {
	ID          string `cel:"id"`
	Status      string `cel:"status"`  // live or closed
	Channel     string `cel:"channel"` // sms, webchat
	Destination string `cel:"destination"`
	ExternalID  string `cel:"externalId"`
	Preview     bool   `cel:"preview"`
}

// Customer is what the expression variable `customer` holds.
type Customer struct {
	ID         string `cel:"id"`
	Identifier string `cel:"identifier"` // "" when the customer has none
}

// LastError is what the expression variable `error` holds: the error of
// the last do step of the turn, or an empty code when it succeeded. A
// step named by onError branches on it, e.g. error.code ==
// 'identifier_taken'.
type LastError struct {
	Code      string `cel:"code"`
	Message   string `cel:"message"`
	Operation string `cel:"operation"`
}

// slotType is the type an expression's slot needs.
type slotType int

const (
	anyType slotType = iota
	stringType
	boolType
)

func (t slotType) String() string {
	switch t {
	case stringType:
		return "text"
	case boolType:
		return "a boolean"
	}
	return "a value"
}

func (t slotType) celType() *cel.Type {
	switch t {
	case stringType:
		return cel.StringType
	case boolType:
		return cel.BoolType
	}
	return cel.DynType
}

// newEnv declares the expression environment: session, input,
// conversation, customer and error, plus CEL's string extensions.
func newEnv() (*cel.Env, error) {
	return cel.NewEnv(
		ext.NativeTypes(ext.ParseStructTags(true),
			reflect.TypeFor[Input](), reflect.TypeFor[Conversation](), reflect.TypeFor[Customer](), reflect.TypeFor[LastError]()),
		cel.Variable("session", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("input", cel.ObjectType("bot.Input")),
		cel.Variable("conversation", cel.ObjectType("bot.Conversation")),
		cel.Variable("customer", cel.ObjectType("bot.Customer")),
		cel.Variable("error", cel.ObjectType("bot.LastError")),
		ext.Strings(),
		cel.CrossTypeNumericComparisons(true),
		cel.DefaultUTCTimeZone(true),
	)
}

// expr is a compiled expression of a definition.
type expr struct {
	source string
	path   string // JSON pointer of the slot in the definition
	want   slotType
	prg    cel.Program
}

// compile parses, type-checks and cost-checks source for a slot of type
// want. The returned message is for a bot author.
func (e *Engine) compile(source, path string, want slotType) (*expr, *Problem) {
	if source == "" {
		return nil, problem(path, "the expression is empty")
	}
	ast, iss := e.env.Compile(source)
	if iss.Err() != nil {
		return nil, problem(path, "the expression %q does not compile: %s", truncate(source, 80), iss.Err())
	}
	got := ast.OutputType()
	if want != anyType && !got.IsExactType(want.celType()) && !got.IsExactType(cel.DynType) {
		return nil, problem(path, "the expression %q gives %s, but this place needs %s", truncate(source, 80), celTypeName(got), want)
	}
	est, err := e.env.EstimateCost(ast, sizeEstimator{})
	if err != nil {
		return nil, problem(path, "the cost of the expression %q cannot be estimated: %s", truncate(source, 80), err)
	}
	if est.Max > e.limits.Cost {
		return nil, problem(path, "the expression %q may cost up to %d, over the limit of %d per evaluation: simplify it (fewer nested loops over lists)", truncate(source, 80), est.Max, e.limits.Cost)
	}
	prg, err := e.env.Program(ast, cel.CostLimit(e.limits.Cost), cel.InterruptCheckFrequency(100))
	if err != nil {
		return nil, problem(path, "the expression %q cannot be prepared: %s", truncate(source, 80), err)
	}
	return &expr{source: source, path: path, want: want, prg: prg}, nil
}

func celTypeName(t *cel.Type) string {
	switch {
	case t.IsExactType(cel.StringType):
		return "text"
	case t.IsExactType(cel.BoolType):
		return "a boolean"
	}
	return "a value of type " + t.String()
}

// Sizes assumed for the values of variables when estimating the cost of an
// expression: a message is at most 10,000 characters, and a session's
// lists and maps are assumed to hold at most maxElements entries.
const (
	maxTextSize = 10_000
	maxElements = 1_000
)

type sizeEstimator struct{}

func (sizeEstimator) EstimateSize(n cost.AstNode) *cost.SizeEstimate {
	t := n.Type()
	if t == nil {
		return nil
	}
	var size cost.SizeEstimate
	switch t.Kind() {
	case types.StringKind, types.BytesKind:
		size = cost.RangedSizeEstimate(0, maxTextSize)
		if len(n.Path()) == 0 {
			// A computed text: a few variables put together.
			size = cost.RangedSizeEstimate(0, 4*maxTextSize)
		}
	case types.ListKind, types.MapKind:
		size = cost.RangedSizeEstimate(0, maxElements)
	case types.DynKind:
		if len(n.Path()) == 0 {
			return nil
		}
		size = cost.RangedSizeEstimate(0, maxTextSize)
	default:
		return nil
	}
	return &size
}

func (sizeEstimator) EstimateCallCost(function, overloadID string, target *cost.AstNode, args []cost.AstNode) *cost.CallEstimate {
	return nil
}

// activation holds the variables of one evaluation.
type activation struct {
	session      map[string]any
	input        Input
	conversation Conversation
	customer     Customer
	err          LastError
}

func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case "session":
		return a.session, true
	case "input":
		return a.input, true
	case "conversation":
		return a.conversation, true
	case "customer":
		return a.customer, true
	case "error":
		return a.err, true
	}
	return nil, false
}

func (a *activation) Parent() interpreter.Activation { return nil }

// Failure codes of expressions.
const (
	CodeExpressionFailed = "expression_failed"
	CodeCostLimit        = "cost_limit_exceeded"
)

// eval evaluates x and converts the result to a JSON value (string, bool,
// float64, nil, []any or map[string]any), checked against the slot type.
func (x *expr) eval(ctx context.Context, act *activation) (any, uint64, error) {
	out, det, err := x.prg.ContextEval(ctx, act)
	var used uint64
	if det != nil && det.ActualCost() != nil {
		used = *det.ActualCost()
	}
	if err != nil {
		var cancelled interpreter.EvalCancelledError
		if errors.As(err, &cancelled) && cancelled.Cause == interpreter.CostLimitExceeded {
			return nil, used, &Failure{Code: CodeCostLimit, Message: fmt.Sprintf("the expression %q went over the cost limit of its evaluation", truncate(x.source, 80))}
		}
		if ctx.Err() != nil {
			return nil, used, ctx.Err()
		}
		return nil, used, &Failure{Code: CodeExpressionFailed, Message: fmt.Sprintf("the expression %q failed: %s", truncate(x.source, 80), err)}
	}
	v, err := toJSONValue(out)
	if err != nil {
		return nil, used, &Failure{Code: CodeExpressionFailed, Message: fmt.Sprintf("the expression %q gave a value that cannot be stored: %s", truncate(x.source, 80), err)}
	}
	switch x.want {
	case stringType:
		if _, ok := v.(string); !ok {
			return nil, used, &Failure{Code: CodeExpressionFailed, Message: fmt.Sprintf("the expression %q gave %s where text is needed", truncate(x.source, 80), jsonKind(v))}
		}
	case boolType:
		if _, ok := v.(bool); !ok {
			return nil, used, &Failure{Code: CodeExpressionFailed, Message: fmt.Sprintf("the expression %q gave %s where a boolean is needed", truncate(x.source, 80), jsonKind(v))}
		}
	}
	return v, used, nil
}

var structValueType = reflect.TypeFor[*structpb.Value]()

// toJSONValue converts a CEL result to plain JSON values.
func toJSONValue(v ref.Val) (any, error) {
	switch v.Type() {
	case types.StringType:
		return v.Value(), nil
	case types.BoolType:
		return v.Value(), nil
	}
	native, err := v.ConvertToNative(structValueType)
	if err != nil {
		return nil, err
	}
	return native.(*structpb.Value).AsInterface(), nil
}

// celValues prepares stored JSON values for expressions: whole numbers
// become CEL ints, so that session.count + 1 works.
func celValues(v any) any {
	switch t := v.(type) {
	case float64:
		if t == math.Trunc(t) && math.Abs(t) <= 1<<53 {
			return int64(t)
		}
		return t
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = celValues(e)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = celValues(e)
		}
		return out
	}
	return v
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "text"
	case bool:
		return "a boolean"
	case float64:
		return "a number"
	case []any:
		return "a list"
	case map[string]any:
		return "a map"
	}
	return fmt.Sprintf("%T", v)
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
