package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"text/tabwriter"
	"time"

	"github.com/parleyhq/parley/dataset"
)

// Target runs the measured operations on a seeded data set for one
// client (client numbers the caller: a target may route by it).
type Target interface {
	// Name says what it is and how many connections or clients it uses.
	Name() string
	// Update runs update_customer_identifier on conversation and returns
	// an error unless the identifier was set.
	Update(ctx context.Context, client int, conversation, identifier string) error
	// Find runs find_conversations_by_customer_identifier and returns the
	// conversation ids, newest first.
	Find(ctx context.Context, client int, identifier string) ([]string, error)
}

// Phase is one measurement of a seeded run: an operation on a target
// with its number of concurrent clients.
type Phase struct {
	Op      string
	Target  Target
	Clients int
}

// Seeded is the state of the customers of a seeded data set as the run
// changes them: clients pick customers at random over the whole set, and
// during a phase of k clients, client i owns the customers c with
// c mod k = i, so no two clients change one customer at once.
type Seeded struct {
	Plan dataset.Plan
	// identifiers[c] is customer c's current identifier, moves[c] how
	// often the run moved it.
	identifiers []string
	moves       []int
}

// NewSeeded returns the state of plan as seeded.
func NewSeeded(plan dataset.Plan) *Seeded {
	s := &Seeded{Plan: plan, identifiers: make([]string, plan.Customers), moves: make([]int, plan.Customers)}
	for c := range s.identifiers {
		s.identifiers[c] = plan.Identifier(c)
	}
	return s
}

// pick returns a random customer of client i among clients.
func (s *Seeded) pick(i, clients int) int {
	owned := (s.Plan.Customers - i + clients - 1) / clients
	if owned <= 0 {
		return -1
	}
	return i + clients*rand.N(owned)
}

// call runs op once for client i of clients on target.
func (s *Seeded) call(ctx context.Context, op string, t Target, i, clients int) error {
	c := s.pick(i, clients)
	if c < 0 {
		return fmt.Errorf("client %d of %d owns no customer: seed more customers than clients", i, clients)
	}
	newest := string(s.Plan.ConversationID(s.Plan.Newest(c)))
	if op == OpUpdate {
		next := fmt.Sprintf("mailto:c%d.m%d@%s.seed.example", c, s.moves[c]+1, s.Plan.Tag)
		if err := t.Update(ctx, i, newest, next); err != nil {
			return err
		}
		s.identifiers[c], s.moves[c] = next, s.moves[c]+1
		return nil
	}
	ids, err := t.Find(ctx, i, s.identifiers[c])
	if err != nil {
		return err
	}
	if want := s.Plan.ConversationsOf(c); len(ids) != want || ids[0] != newest {
		return fmt.Errorf("find %s returned %d conversations starting %v, want %d starting %s", s.identifiers[c], len(ids), ids[:min(len(ids), 1)], want, newest)
	}
	return nil
}

// RunSeeded measures each phase in turn for cfg.Duration (cfg.Clients is
// not used: each phase has its clients). It returns an error when any
// measured call failed; the report is still complete.
func RunSeeded(ctx context.Context, cfg Config, data *Seeded, phases []Phase) (SeededReport, error) {
	if cfg.Duration <= 0 {
		return SeededReport{}, errors.New("bench: duration must be positive")
	}
	report := SeededReport{Plan: data.Plan, Duration: cfg.Duration}
	var failed error
	for _, p := range phases {
		progress(cfg, "measuring %s %s: %d clients for %s", p.Target.Name(), p.Op, p.Clients, cfg.Duration)
		s := measure(ctx, p.Target.Name(), p.Op, p.Clients, cfg.Duration, func(ctx context.Context, i int) error {
			return data.call(ctx, p.Op, p.Target, i, p.Clients)
		})
		if s.FirstErr != nil && failed == nil {
			failed = fmt.Errorf("bench: %d of %d %s calls failed on %s, first: %w", s.Errors, s.Ops+s.Errors, p.Op, s.Driver, s.FirstErr)
		}
		report.Rows = append(report.Rows, SeededRow{Target: p.Target, Stats: s})
	}
	return report, failed
}

// SeededRow is one measured phase: its target and figures.
type SeededRow struct {
	Target Target
	Stats
}

// SeededReport is the result of RunSeeded.
type SeededReport struct {
	Plan     dataset.Plan
	Duration time.Duration
	Rows     []SeededRow
}

// HTTPRatio is the throughput of op over HTTP (the row of the target
// named "http") divided by that of row; 0 when either is missing.
func (r SeededReport) HTTPRatio(row SeededRow) float64 {
	for _, h := range r.Rows {
		if h.Op == row.Op && h.Target.Name() == "http" && row.Throughput() > 0 {
			return h.Throughput() / row.Throughput()
		}
	}
	return 0
}

// Print writes the report as a table; the last column is the HTTP
// throughput of the row's operation as a ratio of the row's.
func (r SeededReport) Print(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "operation\ttarget\tclients\tops\terrors\tops/s\tp50\tp99\tHTTP/this\n")
	for _, row := range r.Rows {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%.0f\t%s\t%s\t%.2f\n", row.Op, row.Target.Name(), row.Clients, row.Ops, row.Errors,
			row.Throughput(), formatLatency(row.P50), formatLatency(row.P99), r.HTTPRatio(row))
	}
	return tw.Flush()
}
