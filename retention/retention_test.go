package retention

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/parleyhq/parley/domain"
)

// vacuumedStore is a store that says whether its autovacuum is on.
type vacuumedStore struct {
	domain.Store
	on  bool
	err error
}

func (s vacuumedStore) Autovacuum(context.Context) (bool, error) { return s.on, s.err }

func TestCheckVacuum(t *testing.T) {
	tests := []struct {
		name  string
		store domain.Store
		want  string // in the log; "" for nothing
	}{
		{"autovacuum on", vacuumedStore{on: true}, ""},
		{"autovacuum off", vacuumedStore{on: false}, "autovacuum is off"},
		{"setting unreadable", vacuumedStore{err: errors.New("boom")}, "cannot read the autovacuum setting"},
		{"store without vacuum (SQLite)", struct{ domain.Store }{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			w := New(Config{Store: tt.store, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			w.checkVacuum(t.Context())
			if got := logs.String(); tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
				t.Errorf("log %q, want %q", got, tt.want)
			}
		})
	}
}
