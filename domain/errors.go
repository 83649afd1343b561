// Package domain holds Parley's entities, coded errors and the interfaces
// that storage backends and transports implement. It imports only the
// standard library.
package domain

import (
	"errors"
	"fmt"
)

// Stable error codes. Business outcomes (see IsBusinessOutcome) set an
// operation's output to false or empty; every other code is thrown.
const (
	CodeIdentifierTaken      = "identifier_taken"
	CodeConversationClosed   = "conversation_closed"
	CodeConversationNotFound = "conversation_not_found"

	CodeLicenseRequired   = "license_required"
	CodeNotDeployed       = "not_deployed"
	CodeIdentifierInvalid = "identifier_invalid"
	CodeInvalidArgument   = "invalid_argument"
	CodeUnauthorized      = "unauthorized"
	CodeForbidden         = "forbidden"
	CodeInternal          = "internal"

	// Codes for the management API beyond the brief's list.
	CodeNotFound         = "not_found"
	CodeConflict         = "conflict"
	CodePayloadTooLarge  = "payload_too_large"
	CodeMethodNotAllowed = "method_not_allowed"
	// CodeURLForbidden: a webhook URL resolves to an address deliveries may
	// not reach (private, loopback, link-local...).
	CodeURLForbidden = "url_forbidden"
	// CodeInvalidDefinition refuses a bot definition; details.path is a
	// JSON pointer to its first problem.
	CodeInvalidDefinition = "invalid_definition"
	// CodeUnavailable: the database could not be reached (or the connection
	// broke) and the request was not applied; retry later. The one
	// exception is a connection lost while COMMIT was in flight: the
	// change may then have been applied, and the message says so.
	CodeUnavailable = "unavailable"
)

// Error is a coded error. Message is safe to show to API clients; Details
// carries structured facts (for identifier_taken: "holderCustomerId").
type Error struct {
	Code    string
	Message string
	Details map[string]any
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf returns an *Error with a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WithDetail returns a copy of e with one more detail.
func (e *Error) WithDetail(key string, value any) *Error {
	details := make(map[string]any, len(e.Details)+1)
	for k, v := range e.Details {
		details[k] = v
	}
	details[key] = value
	return &Error{Code: e.Code, Message: e.Message, Details: details}
}

// ErrorCode returns the code of err: "" for nil, the code of an *Error in
// its chain, CodeInternal for anything else.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// ErrorMessage returns the client-safe message of err; errors without a
// code are internal and their text is not shown.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// ErrorDetails returns the details of a coded error, or nil.
func ErrorDetails(err error) map[string]any {
	var e *Error
	if errors.As(err, &e) {
		return e.Details
	}
	return nil
}

// IsBusinessOutcome reports whether code is an outcome a bot branches on
// (output false or empty, error recorded) rather than a thrown failure.
func IsBusinessOutcome(code string) bool {
	switch code {
	case CodeIdentifierTaken, CodeConversationClosed, CodeConversationNotFound:
		return true
	}
	return false
}

// NotFound is the error stores return when a row does not exist in the
// caller's org: CodeNotFound, naming the kind and id.
func NotFound(kind string, id any) *Error {
	return Errorf(CodeNotFound, "%s %v not found", kind, id)
}

// IsNotFound reports whether err carries CodeNotFound.
func IsNotFound(err error) bool { return ErrorCode(err) == CodeNotFound }
