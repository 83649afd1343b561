package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// SoakBound is how much the largest value of a bounded series in the last
// quarter of a soak may exceed its largest value in the third quarter.
// Comparing maxima of quarters (each spanning several retention passes)
// rather than single samples keeps the saw-tooth of periodic deletion from
// reading as growth; something that grows without bound in proportion to
// time shows about +33 % (the last quarter ends at 4/4 of the time, the
// third at 3/4).
const SoakBound = 0.15

// Absolute slack of Judge's checks, for series whose values are small.
const (
	soakRowSlack       = 50
	soakGoroutineSlack = 10
	// soakTableSlack is a few pages of a small table or index.
	soakTableSlack = 64 << 10
)

// SoakReport is the result of RunSoak.
type SoakReport struct {
	Config           SoakConfig
	Samples          []SoakSample
	Calls            []Stats // by kind: update, find, bot turn, event feed page
	WebhooksReceived int64
	Verdict          SoakVerdict
}

// failed says how many calls failed, with the first error, if any did.
func (r SoakReport) failed() error {
	var failed, all int
	var first error
	for _, s := range r.Calls {
		failed, all = failed+s.Errors, all+s.Ops+s.Errors
		if first == nil {
			first = s.FirstErr
		}
	}
	if failed == 0 {
		return nil
	}
	return fmt.Errorf("bench: soak: %d of %d calls failed, first: %w", failed, all, first)
}

// SoakCheck compares one series over the last two quarters of a soak.
type SoakCheck struct {
	Name string
	// Q3 and Q4 are the series' largest values in the third and last
	// quarters; Limit is the most Q4 may be.
	Q3, Q4, Limit float64
	// Slope is the least-squares slope over the second half, per minute.
	Slope float64
	// Bytes says the series is a size in bytes (else a count).
	Bytes bool
	Holds bool
}

// SoakVerdict judges a soak's samples.
type SoakVerdict struct {
	// Checks are the series that must stay bounded: the database bytes
	// retention bounds, the rows and bytes of BoundedTables, the server's
	// RSS and goroutines.
	Checks []SoakCheck
	// Kept are series that grow by design (the whole database, the
	// customers' data), reported for information with Holds false when
	// they grew.
	Kept []SoakCheck
	// Problem, when set, is why there is no verdict (too few samples).
	Problem string
}

// SoakMiss is RunSoak's error when the verdict says something grew.
type SoakMiss struct{ Grew []string }

func (e *SoakMiss) Error() string {
	return "bench: soak: still growing in the last quarter: " + strings.Join(e.Grew, ", ")
}

// Err is nil when every check holds, a *SoakMiss naming those that do not,
// or an error saying why there is no verdict.
func (v SoakVerdict) Err() error {
	if v.Problem != "" {
		return fmt.Errorf("bench: soak: no verdict: %s", v.Problem)
	}
	var grew []string
	for _, c := range v.Checks {
		if !c.Holds {
			grew = append(grew, c.Name)
		}
	}
	if len(grew) > 0 {
		return &SoakMiss{Grew: grew}
	}
	return nil
}

// soakSeries is one series Judge reads from the samples.
type soakSeries struct {
	name  string
	bytes bool
	slack float64
	value func(SoakSample) float64
}

// boundedSeries are the series that must stay bounded.
func boundedSeries() []soakSeries {
	out := []soakSeries{{name: "database bytes bounded by retention", bytes: true,
		value: func(s SoakSample) float64 { return float64(s.DB.BoundedBytes()) }}}
	for _, table := range BoundedTables {
		out = append(out, soakSeries{name: table + " rows", slack: soakRowSlack,
			value: func(s SoakSample) float64 { return float64(s.DB.Tables[table].Rows) }},
			soakSeries{name: table + " bytes", bytes: true, slack: soakTableSlack,
				value: func(s SoakSample) float64 { return float64(s.DB.Tables[table].Bytes) }})
	}
	return append(out,
		soakSeries{name: "server RSS", bytes: true, value: func(s SoakSample) float64 { return s.Server.RSS }},
		soakSeries{name: "server goroutines", slack: soakGoroutineSlack, value: func(s SoakSample) float64 { return s.Server.Goroutines }})
}

// keptSeries grow by design.
func keptSeries() []soakSeries {
	out := []soakSeries{
		{name: "database bytes, all", bytes: true, value: func(s SoakSample) float64 { return float64(s.DB.Bytes) }},
		{name: "database bytes kept by design", bytes: true, value: func(s SoakSample) float64 { return float64(s.DB.KeptBytes()) }},
	}
	for _, table := range []string{"conversations", "messages", "turns"} {
		out = append(out, soakSeries{name: table + " rows", value: func(s SoakSample) float64 { return float64(s.DB.Tables[table].Rows) }})
	}
	return out
}

// Judge compares, for each series, its largest value in the last quarter
// of the soak with its largest in the third quarter (both after the first
// half, by which retention has started deleting): a bounded series holds
// when the last is at most (1+SoakBound) times the third, plus a small
// slack for counts. Samples that failed are left out; each quarter needs
// two samples.
func Judge(samples []SoakSample) SoakVerdict {
	var ok []SoakSample
	for _, s := range samples {
		if s.Err == nil {
			ok = append(ok, s)
		}
	}
	if len(ok) == 0 {
		return SoakVerdict{Problem: "no complete sample"}
	}
	end := ok[len(ok)-1].At
	var q3, q4, half []SoakSample
	for _, s := range ok {
		switch {
		case s.At >= end*3/4:
			q4 = append(q4, s)
		case s.At >= end/2:
			q3 = append(q3, s)
		}
		if s.At >= end/2 {
			half = append(half, s)
		}
	}
	if len(q3) < 2 || len(q4) < 2 {
		return SoakVerdict{Problem: fmt.Sprintf("%d and %d complete samples in the last two quarters, want at least 2 each: sample more often or soak longer", len(q3), len(q4))}
	}
	var v SoakVerdict
	for _, s := range boundedSeries() {
		v.Checks = append(v.Checks, check(s, q3, q4, half))
	}
	for _, s := range keptSeries() {
		v.Kept = append(v.Kept, check(s, q3, q4, half))
	}
	return v
}

func check(s soakSeries, q3, q4, half []SoakSample) SoakCheck {
	c := SoakCheck{Name: s.name, Bytes: s.bytes, Q3: maxOf(q3, s.value), Q4: maxOf(q4, s.value), Slope: slope(half, s.value)}
	c.Limit = c.Q3*(1+SoakBound) + s.slack
	c.Holds = c.Q4 <= c.Limit
	return c
}

func maxOf(samples []SoakSample, value func(SoakSample) float64) float64 {
	m := value(samples[0])
	for _, s := range samples[1:] {
		m = max(m, value(s))
	}
	return m
}

// slope is the least-squares slope of value over time, per minute.
func slope(samples []SoakSample, value func(SoakSample) float64) float64 {
	n := float64(len(samples))
	var sx, sy, sxx, sxy float64
	for _, s := range samples {
		x, y := s.At.Minutes(), value(s)
		sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
	}
	den := n*sxx - sx*sx
	if den == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / den
}

// Print writes the calls, the samples and the verdict, three tables.
func (r SoakReport) Print(w io.Writer) error {
	for i, table := range []func(io.Writer){r.printCalls, r.printSamples, r.printVerdict} {
		if i > 0 {
			fmt.Fprintln(w)
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		table(tw)
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// printCalls writes the calls of each kind.
func (r SoakReport) printCalls(w io.Writer) {
	fmt.Fprintf(w, "calls\tok\terrors\tper s\tp50\tp99\n")
	for _, s := range r.Calls {
		fmt.Fprintf(w, "%s\t%d\t%d\t%.1f\t%s\t%s\n", s.Op, s.Ops, s.Errors, s.Throughput(), formatLatency(s.P50), formatLatency(s.P99))
	}
	fmt.Fprintf(w, "webhook requests received\t%d\t\t\t\t\n", r.WebhooksReceived)
	if n := len(r.Samples); n > 0 && r.Samples[n-1].Err == nil {
		fmt.Fprintf(w, "run records the server dropped\t%.0f\t\t\t\t\n", r.Samples[n-1].Server.RunLogDropped)
	}
}

// printSamples writes one row per sample (sizes in MiB).
func (r SoakReport) printSamples(w io.Writer) {
	fmt.Fprintf(w, "t\tcalls\tfailed\tdb MiB\tWAL\tbounded\tkept\tRSS MiB\theap\tgoroutines\truns\tevents\tidempotency\tdeliveries\tattempts\tconversations\tmessages\tdeleted\n")
	var failed []string
	for _, s := range r.Samples {
		if s.Err != nil {
			fmt.Fprintf(w, "%s\t%d\t%d\tfailed%s\n", s.At.Round(time.Second), s.Calls, s.Failed, strings.Repeat("\t-", 14))
			failed = append(failed, fmt.Sprintf("sample at %s failed: %v", s.At.Round(time.Second), s.Err))
			continue
		}
		rows := func(t string) int64 { return s.DB.Tables[t].Rows }
		fmt.Fprintf(w, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%.0f\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%.0f\n",
			s.At.Round(time.Second), s.Calls, s.Failed, mb(float64(s.DB.Bytes)), mb(float64(s.DB.WAL)),
			mb(float64(s.DB.BoundedBytes())), mb(float64(s.DB.KeptBytes())), mb(s.Server.RSS), mb(s.Server.HeapInuse),
			s.Server.Goroutines, rows("operation_runs"), rows("events"), rows("idempotency_keys"),
			rows("webhook_deliveries"), rows("webhook_attempts"), rows("conversations"), rows("messages"), s.Server.RetentionDeleted)
	}
	for _, f := range failed {
		fmt.Fprintln(w, f)
	}
}

// printVerdict writes the checks and the verdict line.
func (r SoakReport) printVerdict(w io.Writer) {
	v := r.Verdict
	if v.Problem != "" {
		fmt.Fprintf(w, "verdict: none, %s\n", v.Problem)
		return
	}
	fmt.Fprintf(w, "series (largest value per quarter)\t3rd quarter\t4th quarter\t4th/3rd\tlimit\tslope/min, 2nd half\tverdict\n")
	row := func(c SoakCheck, verdict string) {
		ratio := ""
		if c.Q3 > 0 {
			ratio = fmt.Sprintf("%.2f", c.Q4/c.Q3)
		}
		limit := "-"
		if c.Limit > 0 && verdict != "kept by design" {
			limit = c.format(c.Limit)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Name, c.format(c.Q3), c.format(c.Q4), ratio, limit, c.format(c.Slope), verdict)
	}
	for _, c := range v.Checks {
		row(c, map[bool]string{true: "bounded", false: "GROWS"}[c.Holds])
	}
	for _, c := range v.Kept {
		row(c, "kept by design")
	}
	if err := v.Err(); err != nil {
		fmt.Fprintf(w, "verdict: NOT MET, %s\n", strings.TrimPrefix(err.Error(), "bench: soak: "))
		return
	}
	fmt.Fprintf(w, "verdict: holds, every bounded series within %.0f %% of its third-quarter peak in the last quarter\n", SoakBound*100)
}

func (c SoakCheck) format(v float64) string {
	if c.Bytes {
		return mb(v)
	}
	return fmt.Sprintf("%.0f", v)
}

func mb(b float64) string { return fmt.Sprintf("%.1f", b/(1<<20)) }
