package ids

import (
	"math/big"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var randomID = regexp.MustCompile(`^conv_[0-9a-hjkmnp-tv-z]{26}$`)

func TestRandomFormat(t *testing.T) {
	before := time.Now().UnixMilli()
	id := Random{}.NewID("conv")
	after := time.Now().UnixMilli()
	if !randomID.MatchString(id) {
		t.Fatalf("NewID = %q, want conv_ + 26 lowercase Crockford base32 characters", id)
	}
	ms := decodeMillis(t, strings.TrimPrefix(id, "conv_"))
	if ms < before || ms > after+1 { // +1: a same-millisecond burst may borrow the next millisecond
		t.Fatalf("id %q encodes %d ms, want within [%d, %d]", id, ms, before, after)
	}
}

// TestEncodeMatchesBigInt checks encode against an independent base32
// conversion of the same 128-bit number.
func TestEncodeMatchesBigInt(t *testing.T) {
	values := [][16]byte{
		{},
		{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		{0x01, 0x56, 0x3d, 0xf3, 0x64, 0x81, 0xd6, 0x76, 0x4e, 0x61, 0xef, 0xb9, 0x93, 0x02, 0xbd, 0x5b},
		{0, 0, 0, 0, 0, 1},
	}
	for _, v := range values {
		n := new(big.Int).SetBytes(v[:])
		want := n.Text(32)
		want = strings.Repeat("0", EncodedLength-len(want)) + want
		want = strings.Map(func(r rune) rune { // big's base32 digits to Crockford's
			return rune(crockford[strings.IndexRune("0123456789abcdefghijklmnopqrstuv", r)])
		}, want)
		if got := encode(v); got != want {
			t.Errorf("encode(%x) = %q, want %q", v, got, want)
		}
	}
	// Known ULID vector: 1469918176385 ms is "01aryz6s41".
	g := &monotonic{fill: func(b []byte) { clear(b) }}
	if got := encode(g.next(1469918176385)); got[:10] != "01aryz6s41" {
		t.Errorf("time part = %q, want 01aryz6s41", got[:10])
	}
}

func TestMonotonicSortsAcrossTimeSteps(t *testing.T) {
	fill := byte(0xff)
	g := &monotonic{fill: func(b []byte) {
		for i := range b {
			b[i] = fill // high random bits first, then low ones
		}
		fill = 0
	}}
	steps := []int64{1000, 1000, 1001, 1001, 999, 5000, 1 << 40}
	var ids []string
	for _, ms := range steps {
		ids = append(ids, encode(g.next(ms)))
	}
	for i := 1; i < len(ids); i++ {
		if ids[i] <= ids[i-1] {
			t.Fatalf("id %d %q (ms %d) does not sort after %q (ms %d)", i, ids[i], steps[i], ids[i-1], steps[i-1])
		}
	}
	// The second call at 1000 ms overflowed the all-ones random part, so it
	// moved on to 1001 ms; the clock stepping back to 999 kept 1001.
	if got := decodeMillis(t, ids[4]); got != 1001 {
		t.Fatalf("id after the clock stepped back encodes %d ms, want 1001", got)
	}
}

func TestRandomUniqueAndSortedConcurrently(t *testing.T) {
	const workers, perWorker = 8, 12500 // 100k ids
	results := make([][]string, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			ids := make([]string, perWorker)
			for i := range ids {
				ids[i] = Random{}.NewID("msg")
			}
			results[w] = ids
		})
	}
	wg.Wait()
	seen := make(map[string]bool, workers*perWorker)
	for _, ids := range results {
		if !slices.IsSorted(ids) {
			t.Fatal("ids made one after another by one goroutine are not sorted")
		}
		for _, id := range ids {
			if seen[id] {
				t.Fatalf("duplicate id %q", id)
			}
			seen[id] = true
		}
	}
}

func TestSequence(t *testing.T) {
	s := NewSequence()
	want := []string{"org_000001", "cus_000002", "org_000003"}
	for i, prefix := range []string{"org", "cus", "org"} {
		if got := s.NewID(prefix); got != want[i] {
			t.Fatalf("NewID #%d = %q, want %q", i+1, got, want[i])
		}
	}
}

func TestSequenceConcurrent(t *testing.T) {
	s := NewSequence()
	const workers, perWorker = 4, 1000
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range perWorker {
				id := s.NewID("run")
				mu.Lock()
				seen[id] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != workers*perWorker {
		t.Fatalf("%d distinct ids, want %d", len(seen), workers*perWorker)
	}
	if got := s.NewID("run"); got != "run_004001" {
		t.Fatalf("next id = %q, want run_004001", got)
	}
}

// decodeMillis returns the time part of an encoded id.
func decodeMillis(t *testing.T, s string) int64 {
	t.Helper()
	var ms int64
	for _, c := range s[:10] { // 10 characters = 50 bits, the top 2 zero
		i := strings.IndexRune(crockford, c)
		if i < 0 {
			t.Fatalf("%q is not Crockford base32", s)
		}
		ms = ms<<5 | int64(i)
	}
	return ms
}
