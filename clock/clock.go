// Package clock provides the injected clocks: System for production and
// Manual for deterministic tests.
package clock

import (
	"sync"
	"time"

	"github.com/parleyhq/parley/domain"
)

// System is the real clock.
type System struct{}

// Now returns time.Now().
func (System) Now() time.Time { return time.Now() }

// Manual is a clock that moves only when told to. It is safe for
// concurrent use.
type Manual struct {
	mu  sync.Mutex
	now time.Time
}

var (
	_ domain.Clock = System{}
	_ domain.Clock = (*Manual)(nil)
)

// NewManual returns a Manual clock showing t.
func NewManual(t time.Time) *Manual { return &Manual{now: t} }

// Now returns the time the clock shows.
func (m *Manual) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now
}

// Set makes the clock show t.
func (m *Manual) Set(t time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.now = t
}

// Advance moves the clock by d (which may be negative).
func (m *Manual) Advance(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.now = m.now.Add(d)
}
