package runlog_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/runlog"
	"github.com/parleyhq/parley/sqlite"
)

var at = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func newStore(t *testing.T) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "parley.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}

func run(i int) domain.OperationRun {
	return domain.OperationRun{ID: domain.RunID(fmt.Sprintf("run_%04d", i)), OrgID: "org_1", Kind: domain.KindDataOperation,
		Name: "find_conversations_by_customer_identifier", Inputs: map[string]any{"customerIdentifier": "ext:x"},
		Variable: "conversation-ids", Output: []any{}, StartedAt: at}
}

// stored returns the ids of org_1's runs, oldest first.
func stored(t *testing.T, store domain.Store) []domain.RunID {
	t.Helper()
	var runs []domain.OperationRun
	if err := store.View(context.Background(), func(tx domain.Tx) (err error) {
		runs, err = tx.ListRuns(context.Background(), "org_1", "", 0)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	ids := make([]domain.RunID, len(runs))
	for i, r := range runs {
		ids[len(runs)-1-i] = r.ID
	}
	return ids
}

func counter(t *testing.T, reg *prometheus.Registry, outcome string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "parley_runlog_records_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetValue() == outcome {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// TestRecordsAreWrittenInBatches: records arrive in the store without any
// Flush, within the flush interval (polled, not timed), in order, with
// their events.
func TestRecordsAreWrittenInBatches(t *testing.T) {
	store := newStore(t)
	reg := prometheus.NewRegistry()
	log := runlog.New(runlog.Config{Store: store, MaxBatch: 7, Metrics: reg})
	defer log.Close(context.Background())
	var want []domain.RunID
	for i := range 50 {
		var events []domain.Event
		if i%10 == 0 {
			events = []domain.Event{{OrgID: "org_1", Type: domain.EventRunFailed, Subject: string(run(i).ID), Payload: map[string]any{}, CreatedAt: at}}
		}
		log.Record(context.Background(), run(i), events)
		want = append(want, run(i).ID)
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(stored(t, store)) < len(want) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := stored(t, store); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("stored runs %v, want %v", got, want)
	}
	var events []domain.Event
	if err := store.View(context.Background(), func(tx domain.Tx) (err error) {
		events, err = tx.ListEvents(context.Background(), "org_1", 0, 0)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(events) != 5 {
		t.Fatalf("%d events written with the runs, want 5", len(events))
	}
	if got := counter(t, reg, "written"); got != 50 {
		t.Fatalf("written counter = %v, want 50", got)
	}
}

// TestFullBufferDrops: records beyond the buffer's capacity are dropped
// and counted, never blocking the caller.
func TestFullBufferDrops(t *testing.T) {
	store := &switchable{Store: newStore(t)}
	store.down.Store(true) // the writer holds its first batch, the rest queue up
	reg := prometheus.NewRegistry()
	var logged bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logged, nil))
	log := runlog.New(runlog.Config{Store: store, Capacity: 10, MaxBatch: 1, FlushInterval: 5 * time.Millisecond, Metrics: reg, Logger: logger})
	for i := range 100 {
		log.Record(context.Background(), run(i), nil)
	}
	if got := counter(t, reg, "dropped"); got < 80 {
		t.Fatalf("dropped counter = %v after 100 records into a buffer of 10, want at least 80", got)
	}
	store.down.Store(false)
	if err := log.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	written, dropped := counter(t, reg, "written"), counter(t, reg, "dropped")
	if written+dropped != 100 || len(stored(t, store)) != int(written) {
		t.Fatalf("written %v + dropped %v, %d stored; want every record accounted for", written, dropped, len(stored(t, store)))
	}
	log.Close(context.Background())
	// The drops are logged in aggregate (at most a line a second), and the
	// lines account for every one.
	lines, runs := 0, 0
	dec := json.NewDecoder(&logged)
	for dec.More() {
		var line struct {
			Msg  string `json:"msg"`
			Runs int    `json:"runs"`
		}
		if err := dec.Decode(&line); err != nil {
			t.Fatal(err)
		}
		if line.Msg == "run log: run records dropped" {
			lines, runs = lines+1, runs+line.Runs
		}
	}
	if runs != int(dropped) || lines == 0 || lines >= runs {
		t.Errorf("%d log lines for %d dropped runs (counter %v): want fewer lines than drops, accounting for all", lines, runs, dropped)
	}
}

// TestUnavailableDatabase: while the database is unavailable a batch is
// tried again; once it is back, every record is written.
func TestUnavailableDatabase(t *testing.T) {
	store := &switchable{Store: newStore(t)}
	store.down.Store(true)
	reg := prometheus.NewRegistry()
	log := runlog.New(runlog.Config{Store: store, FlushInterval: 5 * time.Millisecond, Metrics: reg})
	for i := range 20 {
		log.Record(context.Background(), run(i), nil)
	}
	for store.refused.Load() < 3 { // the writer has tried, and tried again
		time.Sleep(5 * time.Millisecond)
	}
	store.down.Store(false)
	if err := log.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := len(stored(t, store)); got != 20 {
		t.Fatalf("%d runs stored after the database came back, want 20", got)
	}
	log.Close(context.Background())
}

// TestBadRecordIsDroppedAlone: a record the store refuses is dropped and
// counted; the rest of its batch is written.
func TestBadRecordIsDroppedAlone(t *testing.T) {
	store := newStore(t)
	reg := prometheus.NewRegistry()
	log := runlog.New(runlog.Config{Store: store, Metrics: reg})
	bad := run(1)
	bad.Output = func() {} // cannot be encoded
	log.Record(context.Background(), run(0), nil)
	log.Record(context.Background(), bad, nil)
	log.Record(context.Background(), run(2), nil)
	if err := log.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := stored(t, store); fmt.Sprint(got) != "[run_0000 run_0002]" {
		t.Fatalf("stored %v, want the two good runs", got)
	}
	if got := counter(t, reg, "dropped"); got != 1 {
		t.Fatalf("dropped = %v, want 1", got)
	}
	log.Close(context.Background())
}

// TestCloseWritesWhatIsBuffered: Close writes the buffered records; after
// it, records are dropped.
func TestCloseWritesWhatIsBuffered(t *testing.T) {
	store := newStore(t)
	reg := prometheus.NewRegistry()
	log := runlog.New(runlog.Config{Store: store, FlushInterval: time.Hour, Metrics: reg})
	for i := range 30 {
		log.Record(context.Background(), run(i), nil)
	}
	if err := log.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := len(stored(t, store)); got != 30 {
		t.Fatalf("%d runs stored after Close, want 30", got)
	}
	log.Record(context.Background(), run(99), nil)
	if got := counter(t, reg, "dropped"); got != 1 {
		t.Fatalf("a record after Close: dropped = %v, want 1", got)
	}
}

// switchable is a real store that answers unavailable while down, as a
// PostgreSQL store does when its server cannot be reached.
type switchable struct {
	domain.Store
	down    atomic.Bool
	refused atomic.Int64
}

func (s *switchable) Update(ctx context.Context, fn func(domain.Tx) error) error {
	if s.down.Load() {
		s.refused.Add(1)
		return errors.Join(domain.Errorf(domain.CodeUnavailable, "the database is unavailable"), errors.New("connection refused"))
	}
	return s.Store.Update(ctx, fn)
}
