package service

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/parleyhq/parley/domain"
)

// Limits on free text inputs.
const (
	maxNameLen    = 200
	maxIDLen      = 128
	maxTextLen    = 256
	maxMessageLen = 10000
)

// cleanName trims a display name and checks it. Errors: invalid_argument.
func cleanName(field, v string) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", invalidf("%s is required", field)
	}
	return v, checkText(field, v, maxNameLen, false)
}

// checkText rejects invalid UTF-8, control characters (newlines and tabs
// too unless multiline) and text longer than max runes.
func checkText(field, v string, max int, multiline bool) error {
	if !utf8.ValidString(v) {
		return invalidf("%s is not valid UTF-8", field)
	}
	if n := utf8.RuneCountInString(v); n > max {
		return invalidf("%s is longer than %d characters", field, max)
	}
	for _, r := range v {
		if unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\t' || r == '\r')) {
			return invalidf("%s contains a control character", field)
		}
	}
	return nil
}

// checkID validates an id given by a client: non-empty text without spaces
// or control characters.
func checkID(field, v string) error {
	if v == "" {
		return invalidf("%s is required", field)
	}
	if len(v) > maxIDLen || !utf8.ValidString(v) || strings.IndexFunc(v, func(r rune) bool {
		return unicode.IsControl(r) || unicode.IsSpace(r)
	}) >= 0 {
		return invalidf("%s is not a valid id", field)
	}
	return nil
}

var variableName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]{0,63}$`)

// reservedVariable holds the channel data of a session.
const reservedVariable = "channels"

// checkVariable validates an output variable name. Errors: invalid_argument.
func checkVariable(name string) error {
	if !variableName.MatchString(name) {
		return invalidf("outputVariable %q must start with a letter or _ and hold at most 64 letters, digits, _ or -", name)
	}
	if name == reservedVariable {
		return invalidf("outputVariable %q is reserved for channel data", name)
	}
	return nil
}

func invalidf(format string, args ...any) error {
	return domain.Errorf(domain.CodeInvalidArgument, format, args...)
}

// printable makes client text safe to record even when it was refused:
// valid UTF-8, control characters replaced, at most max runes.
func printable(v string, max int) string {
	v = strings.ToValidUTF8(v, "\uFFFD")
	out := make([]rune, 0, min(len(v), max))
	for _, r := range v {
		if len(out) == max {
			break
		}
		if unicode.IsControl(r) {
			r = '\uFFFD'
		}
		out = append(out, r)
	}
	return string(out)
}
