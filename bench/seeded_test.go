package bench

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/dataset"
	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/httpapi"
	"github.com/parleyhq/parley/postgres"
	"github.com/parleyhq/parley/postgres/pgtestdb"
	"github.com/parleyhq/parley/sqlite"
	"github.com/parleyhq/parley/storetest"
)

// seededBackend opens a migrated store and the raw baseline on the same
// database, for org.
type seededBackend struct {
	name string
	open func(t *testing.T) (domain.Store, func(t *testing.T, org domain.OrgID) Target)
}

var seededBackends = []seededBackend{
	{"sqlite", func(t *testing.T) (domain.Store, func(*testing.T, domain.OrgID) Target) {
		path := filepath.Join(t.TempDir(), "parley.db")
		store, err := sqlite.Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { store.Close() })
		return store, func(t *testing.T, org domain.OrgID) Target {
			raw, err := OpenRawSQLite(context.Background(), path, sqlite.SyncFull, org, 4)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { raw.Close() })
			return raw
		}
	}},
	{"postgres", func(t *testing.T) (domain.Store, func(*testing.T, domain.OrgID) Target) {
		url := pgtestdb.New(t)
		store, err := postgres.Open(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { store.Close() })
		return store, func(t *testing.T, org domain.OrgID) Target {
			raw, err := OpenRawPostgres(context.Background(), url, org, 4)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(raw.Close)
			return raw
		}
	}},
}

// TestRunSeeded seeds a small data set on each backend and measures every
// phase on it: the raw, in-process and HTTP targets change and find the
// same customers (each find checks the conversations of the customer's
// current identifier, whoever moved it last), and the identifier
// invariants hold afterwards.
func TestRunSeeded(t *testing.T) {
	for _, b := range seededBackends {
		t.Run(b.name, func(t *testing.T) {
			store, openRaw := b.open(t)
			if err := store.(interface{ Migrate(context.Context) error }).Migrate(context.Background()); err != nil {
				t.Fatal(err)
			}
			svc, priv := newService(t, store)
			f := fixture{svc: svc, priv: priv}
			org, key := f.org(t, true)
			dep, res, err := SetupDeployment(context.Background(), f.svc, org)
			if err != nil {
				t.Fatal(err)
			}
			plan := dataset.Plan{Org: org, Deployment: dep, Resource: res.ID, Tag: "bt", Customers: 40, Conversations: 130,
				Start: time.Now().Add(-time.Hour)}
			if err := store.(interface {
				Seed(context.Context, dataset.Plan, func(int)) error
			}).Seed(context.Background(), plan, nil); err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(httpapi.New(httpapi.Config{Service: f.svc, Store: store, Metrics: prometheus.NewRegistry()}))
			t.Cleanup(srv.Close)
			raw := openRaw(t, org)
			targets := []Target{raw, InProcessTarget{Service: f.svc, Org: org},
				HTTPTarget{Nodes: []*client.Client{client.New(srv.URL, key, client.WithHTTPClient(NewHTTPClient(4)))}}}
			var phases []Phase
			for _, op := range []string{OpUpdate, OpFind} {
				phases = append(phases, Phase{Op: op, Target: raw, Clients: 1})
				for _, target := range targets {
					phases = append(phases, Phase{Op: op, Target: target, Clients: 4})
				}
			}
			report, err := RunSeeded(context.Background(), Config{Duration: 150 * time.Millisecond}, NewSeeded(plan), phases)
			if err != nil {
				t.Fatal(err)
			}
			checkSeededReport(t, report, len(phases))
			storetest.AssertIdentifierInvariants(t, store, org)
		})
	}
}

func checkSeededReport(t *testing.T, report SeededReport, phases int) {
	t.Helper()
	if len(report.Rows) != phases {
		t.Fatalf("%d rows, want %d", len(report.Rows), phases)
	}
	for _, row := range report.Rows {
		if row.Ops == 0 || row.Errors != 0 || row.P99 < row.P50 {
			t.Errorf("%s %s: %+v, want calls without errors", row.Op, row.Target.Name(), row.Stats)
		}
		if row.Target.Name() == "http" && report.HTTPRatio(row) != 1 {
			t.Errorf("HTTP ratio of the HTTP row = %v, want 1", report.HTTPRatio(row))
		}
	}
	var out strings.Builder
	if err := report.Print(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"raw SQL", "in-process", "http", "HTTP/this", OpFind} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("printed report lacks %q:\n%s", want, out.String())
		}
	}
}
