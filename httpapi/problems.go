package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/parleyhq/parley/domain"
)

// problemTypeBase prefixes the code in a problem's "type" URI.
const problemTypeBase = "https://parley.dev/problems/"

// problemKind is the HTTP status and title of an error code.
type problemKind struct {
	status int
	title  string
}

// problemKinds maps every domain error code to its HTTP status; it is the
// only such table. Choices worth noting:
//   - identifier_invalid is 400, like every other malformed input (not 422):
//     clients handle one status for "fix your request".
//   - license_required is 403 (not 402): the caller is known but its
//     organization's plan does not allow the operation.
//   - conversation_not_found is 404; identifier_taken, conversation_closed
//     and not_deployed are 409: the request conflicts with current state.
//   - unavailable is 503 with Retry-After: the database could not be
//     reached; nothing was applied (unless the message says the connection
//     broke during the commit), and the same request may be sent again.
//
// A code missing from this table answers 500.
var problemKinds = map[string]problemKind{
	domain.CodeInvalidArgument:      {http.StatusBadRequest, "Invalid argument"},
	domain.CodeIdentifierInvalid:    {http.StatusBadRequest, "Invalid customer identifier"},
	domain.CodeURLForbidden:         {http.StatusBadRequest, "Webhook URL refused"},
	domain.CodeInvalidDefinition:    {http.StatusBadRequest, "Invalid bot definition"},
	domain.CodeUnauthorized:         {http.StatusUnauthorized, "Unauthorized"},
	domain.CodeLicenseRequired:      {http.StatusForbidden, "Licence required"},
	domain.CodeForbidden:            {http.StatusForbidden, "Forbidden"},
	domain.CodeNotFound:             {http.StatusNotFound, "Not found"},
	domain.CodeConversationNotFound: {http.StatusNotFound, "Conversation not found"},
	domain.CodeMethodNotAllowed:     {http.StatusMethodNotAllowed, "Method not allowed"},
	domain.CodeConflict:             {http.StatusConflict, "Conflict"},
	domain.CodeIdentifierTaken:      {http.StatusConflict, "Identifier taken"},
	domain.CodeConversationClosed:   {http.StatusConflict, "Conversation closed"},
	domain.CodeNotDeployed:          {http.StatusConflict, "Not deployed"},
	domain.CodePayloadTooLarge:      {http.StatusRequestEntityTooLarge, "Payload too large"},
	domain.CodeUnavailable:          {http.StatusServiceUnavailable, "Service unavailable"},
	domain.CodeInternal:             {http.StatusInternalServerError, "Internal error"},
}

// retryAfterSeconds is the Retry-After of an unavailable answer: the store
// has already retried for about a second before giving up.
const retryAfterSeconds = "1"

// problemFor returns the status and title of code.
func problemFor(code string) (string, problemKind) {
	if kind, ok := problemKinds[code]; ok {
		return code, kind
	}
	return domain.CodeInternal, problemKinds[domain.CodeInternal]
}

// problemResponse is an RFC 9457 problem document with Parley's stable code.
type problemResponse struct {
	Type    string         `json:"type"`
	Title   string         `json:"title"`
	Status  int            `json:"status"`
	Detail  string         `json:"detail"`
	Code    string         `json:"code"`
	Details map[string]any `json:"details,omitempty"`
	// RequestID is the request's X-Request-Id, to quote when reporting it.
	RequestID string `json:"requestId,omitempty"`
}

// problem writes err as application/problem+json. Errors without a code
// are internal: they are logged and their text is not shown.
func (s *server) problem(w http.ResponseWriter, r *http.Request, err error) {
	code, kind := problemFor(domain.ErrorCode(err))
	p := problemResponse{
		Type:      problemTypeBase + code,
		Title:     kind.title,
		Status:    kind.status,
		Detail:    domain.ErrorMessage(err),
		Code:      code,
		Details:   domain.ErrorDetails(err),
		RequestID: infoOf(r).id,
	}
	if code == domain.CodeInternal {
		p.Detail, p.Details = "internal error", nil
		s.log.ErrorContext(r.Context(), "internal error", "method", r.Method, "path", r.URL.Path, "requestId", p.RequestID, "err", err)
	}
	if code == domain.CodeUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="parley"`)
	}
	if code == domain.CodeUnavailable {
		w.Header().Set("Retry-After", retryAfterSeconds)
		s.log.WarnContext(r.Context(), "database unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	body, merr := json.Marshal(p)
	if merr != nil { // details that do not encode: drop them
		p.Details = nil
		body, _ = json.Marshal(p)
	}
	writeBody(w, kind.status, problemContentType, body)
}
