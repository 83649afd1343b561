package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/parleyhq/parley/domain"
)

const (
	jsonContentType    = "application/json"
	problemContentType = "application/problem+json"
)

// decodeJSON decodes the request body, a single JSON object, into v.
// Errors: invalid_argument (Content-Type, malformed JSON, unknown fields,
// trailing data, missing body), payload_too_large.
func decodeJSON(r *http.Request, v any) error {
	mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mediaType != jsonContentType {
		return invalid("Content-Type must be application/json")
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err != nil {
			if bodyErr := decodeError(err); domain.ErrorCode(bodyErr) == domain.CodePayloadTooLarge {
				return bodyErr
			}
		}
		return invalid("request body must hold a single JSON object and nothing after it")
	}
	return nil
}

// decodeError turns a json.Decoder error into a coded error.
func decodeError(err error) error {
	var (
		tooLarge  *http.MaxBytesError
		syntax    *json.SyntaxError
		wrongType *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &tooLarge):
		return domain.Errorf(domain.CodePayloadTooLarge, "request body is larger than %d bytes", tooLarge.Limit)
	case errors.Is(err, io.EOF):
		return invalid("request body is required: a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return invalid("request body is truncated JSON")
	case errors.As(err, &syntax):
		return invalid("request body is malformed JSON at byte %d", syntax.Offset)
	case errors.As(err, &wrongType):
		if wrongType.Field == "" {
			return invalid("request body must be a JSON object")
		}
		return invalid("field %s must be %s, not %s", wrongType.Field, jsonTypeName(wrongType.Type.Kind().String()), wrongType.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return invalid("unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return invalid("request body could not be read: %v", err)
}

// jsonTypeName names a Go kind as the JSON type expected.
func jsonTypeName(kind string) string {
	switch kind {
	case "string":
		return "text"
	case "bool":
		return "a boolean"
	case "map", "struct":
		return "an object"
	case "slice", "array":
		return "a list"
	}
	return "a number"
}

// bodyError maps an error reading the raw body. Errors: payload_too_large,
// invalid_argument.
func bodyError(err error) error {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return domain.Errorf(domain.CodePayloadTooLarge, "request body is larger than %d bytes", tooLarge.Limit)
	}
	return invalid("request body could not be read")
}

func invalid(format string, args ...any) error {
	return domain.Errorf(domain.CodeInvalidArgument, format, args...)
}

// writeJSON writes v as a JSON response with status.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding response: %w", err)
	}
	writeBody(w, status, jsonContentType, body)
	return nil
}

// writeBody writes a complete response.
func writeBody(w http.ResponseWriter, status int, contentType string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// queryInt parses an optional integer query parameter.
// Errors: invalid_argument.
func queryInt(r *http.Request, name string, fallback int64) (int64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return fallback, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, invalid("query parameter %s must be an integer", name)
	}
	return n, nil
}

// defaultPageSize is the page size when a list request gives no limit.
const defaultPageSize = 50

// queryLimit parses the limit query parameter; the service checks its range.
func queryLimit(r *http.Request) (int, error) {
	n, err := queryInt(r, "limit", defaultPageSize)
	if err != nil {
		return 0, err
	}
	if n < 0 || n > 1<<20 {
		n = -1 // out of range for the service, which says so
	}
	return int(n), nil
}
