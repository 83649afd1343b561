package postgres

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/parleyhq/parley/domain"
)

// nullIfEmpty maps "" to SQL NULL.
func nullIfEmpty[S ~string](s S) any {
	if s == "" {
		return nil
	}
	return string(s)
}

// nullIfZero maps the zero time to SQL NULL.
func nullIfZero(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// utcOrNil returns a UTC copy of *t, or nil.
func utcOrNil(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// utcOrZero returns t in UTC, or the zero time for nil.
func utcOrZero(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// encodeJSON returns v as JSON text for a json parameter; CodeInvalidArgument
// when v is not JSON-encodable.
func encodeJSON(v any) (string, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return "", domain.Errorf(domain.CodeInvalidArgument, "value is not JSON-encodable: %v", err)
	}
	return string(data), nil
}

// decodeJSON decodes json column text into dest (maps decode as map[string]any).
func decodeJSON(data []byte, dest any) error {
	if err := json.Unmarshal(data, dest); err != nil {
		return fmt.Errorf("postgres: decode json: %w", err)
	}
	return nil
}
