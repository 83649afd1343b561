package e2e

import (
	"bytes"
	"errors"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/parleyhq/parley/e2e/proc"
	"github.com/parleyhq/parley/postgres/pgtestdb"
)

// TestSoakMachinery runs "parley bench --scenario soak" for a few seconds:
// with --self on SQLite and on PostgreSQL (a parley serve child), and with
// --url against a server started here (its SQLite database sampled through
// --server-data). It checks the machinery, not the verdict, which a few
// seconds cannot give reliably: every call succeeded, every sample read
// the database and the server, the report has its three tables and a
// verdict line. Nothing is timed.
func TestSoakMachinery(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the parley binary")
	}
	bin := proc.Build(t)
	load := []string{"bench", "--scenario", "soak", "--duration", "6s", "--sample", "1s", "--clients", "4", "--rate", "8"}
	t.Run("self on SQLite", func(t *testing.T) {
		t.Parallel()
		checkSoak(t, bin, append(load, "--self"))
	})
	t.Run("self on PostgreSQL", func(t *testing.T) {
		t.Parallel()
		checkSoak(t, bin, append(load, "--self", "--database", pgtestdb.New(t)))
	})
	t.Run("url on SQLite", func(t *testing.T) {
		t.Parallel()
		data := t.TempDir()
		srv := proc.Start(t, bin, "--data", data, "--webhooks-allow-private", "--retention", "2m", "--idempotency-retention", "2m")
		org := createOrg(t, bin, data, "SOAK", "--name", "Soak", "--plan", "enterprise")
		checkSoak(t, bin, append(load, "--url", srv.URL(), "--key", org.key, "--server-data", data))
	})
}

// sampleRow is a row of the soak's samples table: t, calls, failed, db
// MiB, WAL, bounded, kept, RSS MiB, heap, goroutines, runs, events, ...
var sampleRow = regexp.MustCompile(`(?m)^(\d+)s\s+(\d+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([-\d.]+)\s+([\d.]+)\s+([\d.]+)\s+[\d.]+\s+\d+\s+(\d+)\s+(\d+)`)

// checkSoak runs the soak and checks its report.
func checkSoak(t *testing.T, bin string, args []string) {
	cmd := exec.Command(bin, args...)
	cmd.Env = proc.CleanEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	out := stdout.String()
	var exit *exec.ExitError
	verdictOnly := strings.Contains(stderr.String(), "still growing") || strings.Contains(stderr.String(), "no verdict")
	if err != nil && !(errors.As(err, &exit) && verdictOnly) {
		t.Fatalf("parley %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, stderr.String())
	}
	if strings.Contains(stderr.String(), "calls failed") || regexp.MustCompile(`sample at \S+ failed`).MatchString(out) {
		t.Fatalf("calls or samples failed:\n%s\n%s", out, stderr.String())
	}
	rows := sampleRow.FindAllStringSubmatch(out, -1)
	if len(rows) < 2 {
		t.Fatalf("%d sample rows, want at least the first and the last:\n%s", len(rows), out)
	}
	var calls int
	for _, r := range rows {
		n, _ := strconv.Atoi(r[2])
		calls += n
		if db, _ := strconv.ParseFloat(r[4], 64); db <= 0 {
			t.Errorf("sample at %ss: database size %s", r[1], r[4])
		}
		if rss, _ := strconv.ParseFloat(r[8], 64); rss <= 0 {
			t.Errorf("sample at %ss: RSS %s", r[1], r[8])
		}
	}
	last := rows[len(rows)-1]
	if runs, _ := strconv.Atoi(last[9]); calls == 0 || runs == 0 {
		t.Errorf("%d calls sampled and %s runs in the last sample: no load reached the database\n%s", calls, last[9], out)
	}
	want := []string{"update_customer_identifier", "bot turn", "event feed page", "verdict: "}
	if !strings.Contains(out, "verdict: none") { // too few samples on a slow machine
		want = append(want, "series (largest value per quarter)", "server RSS")
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("the report lacks %q:\n%s", w, out)
		}
	}
}
