package bench

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// soakSamples returns n samples 20 s apart whose values come from at.
func soakSamples(n int, at func(i int, s *SoakSample)) []SoakSample {
	out := make([]SoakSample, n)
	for i := range out {
		s := SoakSample{At: time.Duration(i) * 20 * time.Second, Calls: 600,
			DB: DBSample{Bytes: 40 << 20, WAL: 4 << 20, Tables: map[string]TableSize{
				"conversations": {Rows: int64(100 * i), Bytes: int64(i) << 16},
			}},
			Server: ServerSample{RSS: 50 << 20, Goroutines: 80},
		}
		for _, table := range BoundedTables {
			s.DB.Tables[table] = TableSize{Rows: 4000, Bytes: 2 << 20}
		}
		at(i, &s)
		out[i] = s
	}
	return out
}

// setRows sets a table's rows.
func setRows(s *SoakSample, table string, rows int64) {
	t := s.DB.Tables[table]
	t.Rows = rows
	s.DB.Tables[table] = t
}

func TestJudge(t *testing.T) {
	tests := []struct {
		name    string
		samples []SoakSample
		grew    []string // checks that do not hold; nil: all hold
		problem string   // substring of Problem
	}{
		{
			name: "saw-tooth of retention passes, customers' data growing",
			samples: soakSamples(31, func(i int, s *SoakSample) {
				// Deleted every third sample, after a warm-up of 9.
				setRows(s, "operation_runs", int64(min(i, 9+i%3)*500))
				s.Server.RSS += float64(i%4) * (1 << 20)
				s.DB.Bytes += int64(i) << 16 // the kept bytes, no more
			}),
		},
		{
			name: "webhook attempts and RSS growing with time",
			samples: soakSamples(31, func(i int, s *SoakSample) {
				setRows(s, "webhook_attempts", int64(i*700))
				s.Server.RSS += float64(i) * (4 << 20)
			}),
			grew: []string{"webhook_attempts rows", "server RSS"},
		},
		{
			name: "database bytes beyond the kept tables growing",
			samples: soakSamples(31, func(i int, s *SoakSample) {
				s.DB.Bytes += int64(i) << 22
			}),
			grew: []string{"database bytes bounded by retention"},
		},
		{
			name: "a table bloating at a steady row count (no VACUUM)",
			samples: soakSamples(31, func(i int, s *SoakSample) {
				s.DB.Tables["events"] = TableSize{Rows: 4000, Bytes: int64(i) << 22}
				s.DB.Bytes += int64(i) << 22
			}),
			grew: []string{"database bytes bounded by retention", "events bytes"},
		},
		{
			name: "a failed sample is left out",
			samples: soakSamples(31, func(i int, s *SoakSample) {
				if i == 29 {
					s.Err = errors.New("timeout")
					s.Server.RSS *= 10
				}
			}),
		},
		{name: "too few samples", samples: soakSamples(4, func(int, *SoakSample) {}), problem: "want at least 2 each"},
		{name: "no sample", problem: "no complete sample"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := Judge(tt.samples)
			if tt.problem != "" {
				if !strings.Contains(v.Problem, tt.problem) || v.Err() == nil {
					t.Fatalf("problem %q (err %v), want %q", v.Problem, v.Err(), tt.problem)
				}
				return
			}
			var grew []string
			for _, c := range v.Checks {
				if !c.Holds {
					grew = append(grew, c.Name)
				}
			}
			if !slices.Equal(grew, tt.grew) {
				t.Fatalf("grew %q, want %q; checks %+v", grew, tt.grew, v.Checks)
			}
			var miss *SoakMiss
			if err := v.Err(); (tt.grew == nil) != (err == nil) || err != nil && (!errors.As(err, &miss) || !slices.Equal(miss.Grew, tt.grew)) {
				t.Fatalf("Err() = %v, want a miss of %q", err, tt.grew)
			}
			for _, k := range v.Kept {
				if k.Name == "conversations rows" && (k.Holds || k.Slope <= 0) {
					t.Errorf("kept conversations: %+v, want growth reported", k)
				}
			}
		})
	}
}

func TestSoakReportPrint(t *testing.T) {
	samples := soakSamples(31, func(i int, s *SoakSample) { setRows(s, "webhook_attempts", int64(i*700)) })
	samples[3].Err = errors.New("timeout")
	r := SoakReport{Samples: samples, Calls: []Stats{{Op: SoakUpdate, Ops: 10, Elapsed: time.Second}}, Verdict: Judge(samples)}
	var out bytes.Buffer
	if err := r.Print(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"sample at 1m0s failed: timeout", "webhook_attempts rows", "GROWS", "kept by design",
		"verdict: NOT MET, still growing in the last quarter: webhook_attempts rows",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}
