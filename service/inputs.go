package service

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/parleyhq/parley/domain"
)

// InputType is the type of an operation input.
type InputType string

// Input types. Identifier inputs are text normalized by the identifier
// rules; time inputs are RFC 3339 text.
const (
	InputID         InputType = "id"
	InputText       InputType = "text"
	InputMessage    InputType = "message"
	InputIdentifier InputType = "identifier"
	InputBoolean    InputType = "boolean"
	InputTime       InputType = "time"
)

// InputSpec describes one input of an operation.
type InputSpec struct {
	Name     string
	Type     InputType
	Required bool
}

// args holds validated inputs: strings (normalized identifiers included),
// bools and times, by input name.
type args map[string]any

func (a args) text(name string) string { v, _ := a[name].(string); return v }
func (a args) flag(name string) bool   { v, _ := a[name].(bool); return v }

func (a args) time(name string) *time.Time {
	if v, ok := a[name].(time.Time); ok {
		return &v
	}
	return nil
}

// parse validates raw inputs against the operation's specs: unknown names,
// wrong types, missing required inputs and malformed values are refused.
// Errors: invalid_argument, identifier_invalid.
func (op operation) parse(norm domain.IdentifierNormalizer, raw map[string]any) (args, error) {
	known := make(map[string]InputSpec, len(op.inputs))
	for _, in := range op.inputs {
		known[in.Name] = in
	}
	names := make([]string, 0, len(raw))
	for name := range raw {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if _, ok := known[name]; !ok {
			return nil, invalidf("unknown input %q for %s (inputs: %s)", truncate(name, 80), op.name, op.inputNames())
		}
	}
	a := make(args, len(op.inputs))
	for _, in := range op.inputs {
		v, present := raw[in.Name]
		if in.absent(present, v) {
			if in.Required {
				return nil, invalidf("input %s is required", in.Name)
			}
			continue
		}
		parsed, err := in.parse(norm, v)
		if err != nil {
			return nil, err
		}
		a[in.Name] = parsed
	}
	return a, nil
}

// absent reports whether an input counts as not given: missing or null.
// Empty text also counts as absent for ids and plain text, but an
// identifier or a time given as empty text is a value, and an invalid one:
// it must not silently mean "no identifier" or "now".
func (in InputSpec) absent(present bool, v any) bool {
	if !present || v == nil {
		return true
	}
	return v == "" && in.Type != InputIdentifier && in.Type != InputTime
}

func (in InputSpec) parse(norm domain.IdentifierNormalizer, v any) (any, error) {
	if in.Type == InputBoolean {
		b, ok := v.(bool)
		if !ok {
			return nil, invalidf("input %s must be a boolean, got %s", in.Name, jsonType(v))
		}
		return b, nil
	}
	s, ok := v.(string)
	if !ok {
		return nil, invalidf("input %s must be text, got %s", in.Name, jsonType(v))
	}
	switch in.Type {
	case InputID:
		return s, checkID(in.Name, s)
	case InputText:
		return s, checkText(in.Name, s, maxTextLen, false)
	case InputMessage:
		return s, checkMessage(s)
	case InputIdentifier:
		return norm.Normalize(s)
	case InputTime:
		t, err := parseTime(s)
		if err != nil {
			return nil, invalidf("input %s must be an RFC 3339 time such as 2026-01-02T15:04:05Z", in.Name)
		}
		return t.UTC().Truncate(time.Microsecond), nil
	}
	return nil, fmt.Errorf("input %s has unknown type %s", in.Name, in.Type)
}

func (op operation) inputNames() string {
	names := make([]string, len(op.inputs))
	for i, in := range op.inputs {
		names[i] = in.Name
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// jsonType names the JSON type of a decoded value.
func jsonType(v any) string {
	switch v.(type) {
	case string:
		return "text"
	case bool:
		return "boolean"
	case float64, int, int64:
		return "number"
	case []any:
		return "list"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// parseTime parses an RFC 3339 time. RFC 3339 (section 5.6) lets the "T"
// and "Z" be lower case, which Go's parser refuses; no other letter can
// appear in a valid time, so upper-casing first changes nothing else.
func parseTime(s string) (time.Time, error) {
	return time.Parse(time.RFC3339Nano, strings.ToUpper(strings.TrimSpace(s)))
}
