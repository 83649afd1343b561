package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/parleyhq/parley/domain"
)

const (
	jsonContentType    = "application/json"
	problemContentType = "application/problem+json"
)

// decodeJSON decodes the request body, a single JSON object, into v, a
// pointer to a struct. Field names must match the struct's JSON names
// exactly (encoding/json alone would accept "NAME" for "name"). Invalid
// UTF-8 and unpaired surrogate escapes are refused before decoding, which
// would silently turn them into U+FFFD and make different inputs equal.
// Errors: invalid_argument (Content-Type, malformed JSON, invalid text,
// unknown fields, trailing data, missing body), payload_too_large.
func decodeJSON(r *http.Request, v any) error {
	mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mediaType != jsonContentType {
		return invalid("Content-Type must be application/json")
	}
	dec := json.NewDecoder(r.Body)
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
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
	if err := checkJSONText(raw); err != nil {
		return err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return invalid("request body must be a JSON object")
	}
	known := jsonFieldNames(v)
	for name := range fields {
		if known != nil && !known[name] {
			return invalid("unknown field %q", name)
		}
	}
	strict := json.NewDecoder(bytes.NewReader(raw))
	strict.DisallowUnknownFields()
	if err := strict.Decode(v); err != nil {
		return decodeError(err)
	}
	return nil
}

// checkJSONText refuses a syntactically valid JSON document whose text
// does not stand for exactly the characters it spells: invalid UTF-8
// anywhere, or a \u escape of a surrogate that is not a high surrogate
// followed at once by an escaped low one. Errors: invalid_argument.
func checkJSONText(doc []byte) error {
	if !utf8.Valid(doc) {
		return invalid("request body is not valid UTF-8 at byte %d", invalidUTF8Offset(doc))
	}
	inString := false
	for i := 0; i < len(doc); i++ {
		switch c := doc[i]; {
		case c == '"':
			inString = !inString
		case c == '\\' && inString:
			i++ // the escaped character
			if doc[i] != 'u' {
				continue
			}
			r := hexRune(doc[i+1 : i+5])
			i += 4
			switch {
			case utf16.IsSurrogate(r) && r < 0xDC00 && i+6 < len(doc) && doc[i+1] == '\\' && doc[i+2] == 'u' &&
				isLowSurrogate(hexRune(doc[i+3:i+7])):
				i += 6 // a pair: one character
			case utf16.IsSurrogate(r):
				return invalid("request body has an unpaired surrogate escape \\u%04X at byte %d", r, i-5)
			}
		}
	}
	return nil
}

// hexRune decodes the four hex digits of a \u escape (the JSON syntax is
// already checked).
func hexRune(h []byte) rune {
	n, _ := strconv.ParseUint(string(h), 16, 32)
	return rune(n)
}

func isLowSurrogate(r rune) bool { return r >= 0xDC00 && r <= 0xDFFF }

// invalidUTF8Offset returns the offset of the first byte that is not part
// of valid UTF-8 in b.
func invalidUTF8Offset(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return len(b)
}

// fieldNames memoizes jsonFieldNames by struct type, as encoding/json
// caches its own view of a type: request decoding is on every request's
// path. The maps are never modified once stored.
var fieldNames sync.Map // reflect.Type -> map[string]bool

// jsonFieldNames returns the JSON names encoding/json uses for the fields
// of the struct v points to, those of embedded structs included (fields
// tagged "-" have none); nil when v is not a pointer to a struct. The map
// is shared: read it, never change it.
func jsonFieldNames(v any) map[string]bool {
	t := indirect(reflect.TypeOf(v))
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	if names, ok := fieldNames.Load(t); ok {
		return names.(map[string]bool)
	}
	names := map[string]bool{}
	addJSONFieldNames(t, names, map[reflect.Type]bool{})
	fieldNames.Store(t, names)
	return names
}

func addJSONFieldNames(t reflect.Type, names map[string]bool, seen map[reflect.Type]bool) {
	if seen[t] {
		return
	}
	seen[t] = true
	for f := range t.Fields() {
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && indirect(f.Type).Kind() == reflect.Struct {
			addJSONFieldNames(indirect(f.Type), names, seen)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		names[name] = true
	}
}

// indirect returns the type t points to, or t.
func indirect(t reflect.Type) reflect.Type {
	if t != nil && t.Kind() == reflect.Pointer {
		return t.Elem()
	}
	return t
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
