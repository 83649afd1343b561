package main

import (
	"strings"
	"testing"
)

// TestBenchSeeded runs parley bench on a small seeded SQLite database: the
// seeding's progress bar, then every phase, raw SQL baselines included.
func TestBenchSeeded(t *testing.T) {
	r := mustParley(t, nil, "bench", "--self", "--customers", "40", "--conversations", "100", "--clients", "2", "--duration", "100ms")
	if !strings.Contains(r.stderr, "# seeding [") || !strings.Contains(r.stderr, "100% 320/320 rows") {
		t.Errorf("no progress bar on stderr:\n%s", r.stderr)
	}
	out := strings.Join(strings.Fields(r.stdout), " ")
	for _, want := range []string{"40 customers, 100 conversations", "update_customer_identifier raw SQL 1 ",
		"update_customer_identifier http 2 ", "find_conversations_by_customer_identifier raw SQL 4 ",
		"find_conversations_by_customer_identifier in-process 2 ", "HTTP/this"} {
		if !strings.Contains(out, want) {
			t.Errorf("bench output lacks %q:\n%s", want, r.stdout)
		}
	}
}
