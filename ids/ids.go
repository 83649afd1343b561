// Package ids makes the prefixed, opaque ids of Parley's entities.
package ids

import (
	"crypto/rand"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleyhq/parley/domain"
)

// crockford is Crockford's base32 alphabet in lowercase; its characters are
// in ascending byte order, so encoded values sort like the numbers.
const crockford = "0123456789abcdefghjkmnpqrstvwxyz"

// EncodedLength is the length of the part of a Random id after "prefix_".
const EncodedLength = 26

const (
	timeBytes   = 6  // 48-bit unix milliseconds
	randomBytes = 10 // 80 random bits
	maxMillis   = 1<<48 - 1
)

// Random makes ids of the form prefix + "_" + 26 lowercase Crockford
// base32 characters encoding 48 bits of unix milliseconds followed by 80
// random bits. Ids made later sort after earlier ones; within one process
// they strictly increase, even within one millisecond or when the system
// clock steps back. The zero value is ready to use and safe for concurrent
// use.
type Random struct{}

var (
	_ domain.IDGenerator = Random{}
	_ domain.IDGenerator = (*Sequence)(nil)
)

// processGenerator is shared by every Random value so ids of one process
// strictly increase.
var processGenerator = &monotonic{fill: func(b []byte) { _, _ = rand.Read(b) }}

// NewID returns a new id with the given prefix, e.g. "conv_01j...".
func (Random) NewID(prefix string) string {
	return prefix + "_" + encode(processGenerator.next(time.Now().UnixMilli()))
}

// monotonic makes 128-bit values whose time part never goes back: when the
// clock has not moved past the last value, it keeps that time and adds one
// to the last random part.
type monotonic struct {
	mu       sync.Mutex
	fill     func([]byte) // fills with random bytes
	lastMS   int64
	lastRand [randomBytes]byte
}

func (g *monotonic) next(ms int64) [timeBytes + randomBytes]byte {
	g.mu.Lock()
	defer g.mu.Unlock()
	ms = min(max(ms, 0), maxMillis)
	if ms > g.lastMS || !increment(&g.lastRand) {
		g.lastMS = max(ms, min(g.lastMS+1, maxMillis))
		g.fill(g.lastRand[:])
	}
	var v [timeBytes + randomBytes]byte
	for i := range timeBytes {
		v[i] = byte(g.lastMS >> (8 * (timeBytes - 1 - i)))
	}
	copy(v[timeBytes:], g.lastRand[:])
	return v
}

// increment adds one to the big-endian number b; false when it overflowed.
func increment(b *[randomBytes]byte) bool {
	for i := len(b) - 1; i >= 0; i-- {
		b[i]++
		if b[i] != 0 {
			return true
		}
	}
	return false
}

// encode writes the 128-bit big-endian value v as 26 base32 characters
// (130 bits, the first two always zero).
func encode(v [timeBytes + randomBytes]byte) string {
	var out [EncodedLength]byte
	for i := range out {
		var c byte
		for j := range 5 {
			bit := 5*EncodedLength - 1 - 5*i - j // bit index, 0 = least significant
			c <<= 1
			if bit < 128 && v[len(v)-1-bit/8]>>(bit%8)&1 == 1 {
				c |= 1
			}
		}
		out[i] = crockford[c]
	}
	return string(out[:])
}

// Sequence makes deterministic ids for tests: prefix_000001,
// prefix_000002, ... with one counter shared by all prefixes, zero-padded
// to at least six digits. It is safe for concurrent use.
type Sequence struct {
	n atomic.Int64
}

// NewSequence returns a Sequence whose first id ends in 000001.
func NewSequence() *Sequence { return &Sequence{} }

// NewID returns the next id with the given prefix.
func (s *Sequence) NewID(prefix string) string {
	digits := strconv.FormatInt(s.n.Add(1), 10)
	for len(digits) < 6 {
		digits = "0" + digits
	}
	return prefix + "_" + digits
}
