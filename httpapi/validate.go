package httpapi

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/parleyhq/parley/domain"
)

// Bounds on ids and texts taken from paths and query strings, checked
// before they reach the service and the store.
const (
	maxIDBytes       = 128
	maxExternalIDLen = 256 // characters
	defaultPageSize  = 50  // page size when a list request gives no limit
	// maxLimitParam bounds the limit parsed; beyond, the service refuses it.
	maxLimitParam = 1 << 20
)

// plausibleID reports whether v can be an id: non-empty valid UTF-8 of at
// most 128 bytes without control characters or spaces.
func plausibleID(v string) bool {
	return v != "" && len(v) <= maxIDBytes && utf8.ValidString(v) &&
		strings.IndexFunc(v, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }) < 0
}

// patternParams returns the wildcard names of a ServeMux pattern path, in
// order: "/v1/apps/{appId}/versions/{versionId}" gives appId, versionId.
func patternParams(pattern string) []string {
	var names []string
	for _, segment := range strings.Split(pattern, "/") {
		if !strings.HasPrefix(segment, "{") || !strings.HasSuffix(segment, "}") || segment == "{$}" {
			continue
		}
		name := segment[1 : len(segment)-1]
		names = append(names, strings.TrimSuffix(name, "..."))
	}
	return names
}

// nameParams are the path wildcards that name an operation rather than an
// object: an implausible one is an unknown operation, not a missing object.
var nameParams = map[string]bool{"name": true}

// textParams are the path wildcards that are text, not ids (a customer
// identifier may hold spaces): the service checks them.
var textParams = map[string]bool{"identifier": true}

// checkPathValues refuses a request whose path wildcards cannot be ids,
// so they never reach the store. Errors: not_found, invalid_argument (an
// operation name).
func checkPathValues(r *http.Request, params []string) error {
	for _, name := range params {
		if textParams[name] || plausibleID(r.PathValue(name)) {
			continue
		}
		if nameParams[name] {
			return invalid("unknown operation: the %s in the path is not a valid operation name", name)
		}
		return domain.Errorf(domain.CodeNotFound, "the %s in the path is not a valid id, so it names nothing", name)
	}
	return nil
}

// queryValues parses the query string strictly: a malformed pair fails
// the request instead of being dropped. Errors: invalid_argument.
func queryValues(r *http.Request) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, invalid("malformed query string")
	}
	return q, nil
}

// queryID returns the optional id query parameter name ("" when absent).
// Errors: invalid_argument.
func queryID(q url.Values, name string) (string, error) {
	v := q.Get(name)
	if v != "" && !plausibleID(v) {
		return "", invalid("query parameter %s is not a valid id", name)
	}
	return v, nil
}

// queryText returns the optional text query parameter name: valid UTF-8
// of at most maxLen characters without control characters.
// Errors: invalid_argument.
func queryText(q url.Values, name string, maxLen int) (string, error) {
	v := q.Get(name)
	if !utf8.ValidString(v) || utf8.RuneCountInString(v) > maxLen ||
		strings.IndexFunc(v, unicode.IsControl) >= 0 {
		return "", invalid("query parameter %s must be text of at most %d characters without control characters", name, maxLen)
	}
	return v, nil
}

// queryInt parses an optional integer query parameter of 0 or more (a
// cursor, a limit). Errors: invalid_argument.
func queryInt(q url.Values, name string, fallback int64) (int64, error) {
	v := q.Get(name)
	if v == "" {
		return fallback, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, invalid("query parameter %s must be an integer of 0 or more", name)
	}
	return n, nil
}

// queryLimit parses the limit query parameter; the service checks its range.
// Errors: invalid_argument.
func queryLimit(q url.Values) (int, error) {
	n, err := queryInt(q, "limit", defaultPageSize)
	if err != nil {
		return 0, err
	}
	if n < 0 || n > maxLimitParam {
		n = -1 // out of range for the service, which says so
	}
	return int(n), nil
}

// methodLabel bounds the method label of metrics: a standard method, or
// "other" for anything a client made up.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return method
	}
	return "other"
}
