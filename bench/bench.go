// Package bench measures the conversation data operations under load: N
// concurrent clients call update_customer_identifier and
// find_conversations_by_customer_identifier for a fixed duration, over HTTP
// and in process (service.Run on a store of the same kind), and the two
// figures are reported side by side.
package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"text/tabwriter"
	"time"
)

// Operations measured, in the order they run.
const (
	OpUpdate = "update_customer_identifier"
	OpFind   = "find_conversations_by_customer_identifier"
)

// Driver runs the measured operations against one target. Each method
// returns an error when the call fails or its result is not the expected
// one.
type Driver interface {
	// Name is "http" or "in-process".
	Name() string
	// Setup creates an app, publishes it, creates a web chat channel
	// resource and starts n conversations, one per client, returning their
	// ids.
	Setup(ctx context.Context, n int) ([]string, error)
	// Update runs update_customer_identifier on conversation and expects
	// the output true.
	Update(ctx context.Context, conversation, identifier string) error
	// Find runs find_conversations_by_customer_identifier and expects
	// exactly [conversation].
	Find(ctx context.Context, identifier, conversation string) error
}

// Config is one benchmark run.
type Config struct {
	Clients  int
	Duration time.Duration // per operation and driver
	// Progress, when set, receives a line as each phase starts.
	Progress io.Writer
}

// Stats is the measurement of one operation on one driver.
type Stats struct {
	Driver   string
	Op       string
	Clients  int
	Ops      int
	Errors   int
	FirstErr error
	Elapsed  time.Duration
	P50, P99 time.Duration
}

// Throughput is successful operations per second.
func (s Stats) Throughput() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Ops) / s.Elapsed.Seconds()
}

// Comparison puts the HTTP and in-process figures of one operation side by
// side.
type Comparison struct {
	Op        string
	HTTP      Stats
	InProcess Stats
}

// Ratio is the HTTP throughput over the in-process throughput.
func (c Comparison) Ratio() float64 {
	if c.InProcess.Throughput() == 0 {
		return 0
	}
	return c.HTTP.Throughput() / c.InProcess.Throughput()
}

// Report is the result of Run.
type Report struct {
	Clients     int
	Duration    time.Duration
	Comparisons []Comparison
}

// Run sets up both drivers and measures each operation on the in-process
// driver and then on the HTTP driver, one phase at a time so they do not
// compete for the CPU. It returns an error when setup fails or any
// measured call failed (the report is still complete).
func Run(ctx context.Context, cfg Config, httpDriver, inProcess Driver) (Report, error) {
	if cfg.Clients <= 0 || cfg.Duration <= 0 {
		return Report{}, errors.New("bench: clients and duration must be positive")
	}
	report := Report{Clients: cfg.Clients, Duration: cfg.Duration}
	runID, err := randomID()
	if err != nil {
		return report, err
	}
	var workloads []*workload
	for _, d := range []Driver{inProcess, httpDriver} {
		progress(cfg, "setting up %s: %d conversations", d.Name(), cfg.Clients)
		convs, err := d.Setup(ctx, cfg.Clients)
		if err != nil {
			return report, fmt.Errorf("bench: setting up %s: %w", d.Name(), err)
		}
		workloads = append(workloads, newWorkload(d, convs, runID))
	}
	var failed error
	for _, op := range []string{OpUpdate, OpFind} {
		cmp := Comparison{Op: op}
		for _, w := range workloads {
			progress(cfg, "measuring %s %s: %d clients for %s", w.driver.Name(), op, cfg.Clients, cfg.Duration)
			s := w.measure(ctx, op, cfg.Duration)
			if s.FirstErr != nil && failed == nil {
				failed = fmt.Errorf("bench: %d of %d %s calls failed on %s, first: %w", s.Errors, s.Ops+s.Errors, op, s.Driver, s.FirstErr)
			}
			if w.driver == inProcess {
				cmp.InProcess = s
			} else {
				cmp.HTTP = s
			}
		}
		report.Comparisons = append(report.Comparisons, cmp)
	}
	return report, failed
}

func progress(cfg Config, format string, args ...any) {
	if cfg.Progress != nil {
		fmt.Fprintf(cfg.Progress, "# "+format+"\n", args...)
	}
}

// RunTag returns a random tag of lowercase hex digits that makes a run's
// names unique in a shared database (dataset.Plan.Tag).
func RunTag() (string, error) { return randomID() }

func randomID() (string, error) {
	b := make([]byte, 5)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// workload is the per-client state on one driver: each client owns one
// conversation and alternates between two identifiers unique to it, so
// every update really writes.
type workload struct {
	driver  Driver
	clients []*clientState
}

type clientState struct {
	conversation string
	identifiers  [2]string
	held         int // index of the identifier held, -1 for none
}

func newWorkload(d Driver, convs []string, runID string) *workload {
	w := &workload{driver: d}
	for i, conv := range convs {
		w.clients = append(w.clients, &clientState{
			conversation: conv,
			identifiers: [2]string{
				fmt.Sprintf("mailto:c%d.a@run-%s.%s.bench.example", i, runID, d.Name()),
				fmt.Sprintf("mailto:c%d.b@run-%s.%s.bench.example", i, runID, d.Name()),
			},
			held: -1,
		})
	}
	return w
}

// call runs op once for client c.
func (w *workload) call(ctx context.Context, op string, c *clientState) error {
	if op == OpUpdate {
		next := (c.held + 1) % 2
		if err := w.driver.Update(ctx, c.conversation, c.identifiers[next]); err != nil {
			return err
		}
		c.held = next
		return nil
	}
	if c.held < 0 {
		return errors.New("find before any update: the client holds no identifier")
	}
	return w.driver.Find(ctx, c.identifiers[c.held], c.conversation)
}

// measure runs op from every client at once until duration has passed.
func (w *workload) measure(ctx context.Context, op string, duration time.Duration) Stats {
	return measure(ctx, w.driver.Name(), op, len(w.clients), duration, func(ctx context.Context, i int) error {
		return w.call(ctx, op, w.clients[i])
	})
}

// measure calls call(i) in a loop from each of clients goroutines at once
// until duration has passed, and collects throughput and latency.
func measure(ctx context.Context, driver, op string, clients int, duration time.Duration, call func(ctx context.Context, i int) error) Stats {
	results := make([]callResults, clients)
	start := time.Now()
	deadline := start.Add(duration)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(deadline) {
				t0 := time.Now()
				results[i].add(t0, call(ctx, i))
			}
		})
	}
	wg.Wait()
	return summarize(driver, op, start, results)
}

// summarize merges the clients' calls into Stats.
func summarize(driver, op string, start time.Time, results []callResults) Stats {
	s := Stats{Driver: driver, Op: op, Clients: len(results), Elapsed: time.Since(start)}
	var all []time.Duration
	for _, r := range results {
		all = append(all, r.latencies...)
		s.Errors += r.errors
		if s.FirstErr == nil {
			s.FirstErr = r.firstErr
		}
	}
	s.Ops = len(all)
	slices.Sort(all)
	s.P50, s.P99 = percentile(all, 0.50), percentile(all, 0.99)
	return s
}

// percentile returns the q-quantile of sorted (nearest rank).
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

// Print writes the report as a table.
func (r Report) Print(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "operation\tdriver\tops\terrors\tops/s\tp50\tp99\tHTTP/in-process\n")
	for _, c := range r.Comparisons {
		for _, s := range []Stats{c.HTTP, c.InProcess} {
			ratio := ""
			if s.Driver == c.HTTP.Driver {
				ratio = fmt.Sprintf("%.2f", c.Ratio())
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%.0f\t%s\t%s\t%s\n", c.Op, s.Driver, s.Ops, s.Errors, s.Throughput(),
				formatLatency(s.P50), formatLatency(s.P99), ratio)
		}
	}
	return tw.Flush()
}

func formatLatency(d time.Duration) string {
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}
