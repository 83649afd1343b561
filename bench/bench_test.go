package bench

import (
	"context"
	"crypto/ed25519"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/clock"
	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/httpapi"
	"github.com/parleyhq/parley/identifier"
	"github.com/parleyhq/parley/ids"
	"github.com/parleyhq/parley/license"
	"github.com/parleyhq/parley/service"
	"github.com/parleyhq/parley/sqlite"
)

func TestPercentile(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		out := make([]time.Duration, len(ns))
		for i, n := range ns {
			out[i] = time.Duration(n) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		q      float64
		want   time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"one", ms(7), 0.99, 7 * time.Millisecond},
		{"median of four", ms(1, 2, 3, 4), 0.5, 2 * time.Millisecond},
		{"p50 of 100", ms(hundred...), 0.5, 50 * time.Millisecond},
		{"p99 of 100", ms(hundred...), 0.99, 99 * time.Millisecond},
		{"p100", ms(1, 2, 3), 1, 3 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.sorted, tt.q); got != tt.want {
				t.Errorf("percentile(%v, %v) = %v, want %v", tt.sorted, tt.q, got, tt.want)
			}
		})
	}
}

// fixture is a service on a fresh SQLite store trusting one operator key.
type fixture struct {
	svc   *service.Service
	store *sqlite.DB
	priv  ed25519.PrivateKey
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	store, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "parley.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if err := store.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	svc, priv := newService(t, store)
	return fixture{svc: svc, store: store, priv: priv}
}

// newService is a service on store (migrated) trusting one operator key,
// returned with it.
func newService(t *testing.T, store domain.Store) (*service.Service, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := license.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	svc := service.New(service.Config{
		Store: store, Clock: clock.System{}, IDs: ids.Random{},
		Licenses: license.NewVerifier(pub), Identifiers: identifier.Normalizer{},
	})
	return svc, priv
}

// org creates an org, with an ENTERPRISE licence when licensed is true.
func (f fixture) org(t *testing.T, licensed bool) (domain.OrgID, string) {
	t.Helper()
	ctx := context.Background()
	org, key, err := f.svc.CreateOrg(ctx, "bench test")
	if err != nil {
		t.Fatal(err)
	}
	if licensed {
		now := time.Now()
		token, err := license.Issue(f.priv, domain.License{OrgID: org.ID, Plan: domain.PlanEnterprise, IssuedAt: now, ExpiresAt: now.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.InstallLicense(ctx, org.ID, token); err != nil {
			t.Fatal(err)
		}
	}
	return org.ID, key.Secret
}

func TestRunMeasuresHTTPAndInProcess(t *testing.T) {
	local, remote := newFixture(t), newFixture(t)
	localOrg, _ := local.org(t, true)
	_, key := remote.org(t, true)
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Service: remote.svc, Store: remote.store}))
	t.Cleanup(srv.Close)
	const clients = 3
	api := client.New(srv.URL, key, client.WithHTTPClient(NewHTTPClient(clients)))

	report, err := Run(context.Background(), Config{Clients: clients, Duration: 200 * time.Millisecond},
		&HTTP{Client: api}, &InProcess{Service: local.svc, Org: localOrg})
	if err != nil {
		t.Fatal(err)
	}
	if len(report.Comparisons) != 2 || report.Comparisons[0].Op != OpUpdate || report.Comparisons[1].Op != OpFind {
		t.Fatalf("comparisons = %+v, want update then find", report.Comparisons)
	}
	for _, c := range report.Comparisons {
		for _, s := range []Stats{c.HTTP, c.InProcess} {
			if s.Ops == 0 || s.Errors != 0 || s.Clients != clients || s.P50 <= 0 || s.P99 < s.P50 {
				t.Errorf("%s %s: %+v, want calls without errors and p50 <= p99", c.Op, s.Driver, s)
			}
		}
		if c.HTTP.Driver != "http" || c.InProcess.Driver != "in-process" {
			t.Errorf("drivers = %s, %s", c.HTTP.Driver, c.InProcess.Driver)
		}
	}
	var out strings.Builder
	if err := report.Print(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{OpUpdate, OpFind, "http", "in-process", "HTTP/in-process"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("printed report lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRunReportsFailedCalls(t *testing.T) {
	f := newFixture(t)
	licensed, _ := f.org(t, true)
	unlicensed, _ := f.org(t, false)
	// Setup needs no licence; the measured operations do.
	report, err := Run(context.Background(), Config{Clients: 2, Duration: 50 * time.Millisecond},
		&InProcess{Service: f.svc, Org: unlicensed}, &InProcess{Service: f.svc, Org: licensed})
	if err == nil || !strings.Contains(err.Error(), domain.CodeLicenseRequired) {
		t.Fatalf("error = %v, want the license_required failures reported", err)
	}
	if s := report.Comparisons[0].HTTP; s.Errors == 0 || s.Ops != 0 {
		t.Errorf("unlicensed driver stats = %+v, want only errors", s)
	}
	if s := report.Comparisons[0].InProcess; s.Errors != 0 || s.Ops == 0 {
		t.Errorf("licensed driver stats = %+v, want only successes", s)
	}
}

// TestHTTPSpreadsClientsOverNodes drives two servers of one store: every
// benchmark client sticks to one server, and both servers get calls.
func TestHTTPSpreadsClientsOverNodes(t *testing.T) {
	local, remote := newFixture(t), newFixture(t)
	localOrg, _ := local.org(t, true)
	_, key := remote.org(t, true)
	var calls [2]atomic.Int64
	var nodes []*client.Client
	for i := range calls {
		h := httpapi.New(httpapi.Config{Service: remote.svc, Store: remote.store, Metrics: prometheus.NewRegistry()})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, "/v1/data-operations/") {
				calls[i].Add(1)
			}
			h.ServeHTTP(w, r)
		}))
		t.Cleanup(srv.Close)
		nodes = append(nodes, client.New(srv.URL, key))
	}
	report, err := Run(context.Background(), Config{Clients: 4, Duration: 100 * time.Millisecond},
		&HTTP{Client: nodes[0], Nodes: nodes}, &InProcess{Service: local.svc, Org: localOrg})
	if err != nil {
		t.Fatal(err)
	}
	if calls[0].Load() == 0 || calls[1].Load() == 0 {
		t.Fatalf("data operation calls per server = %d, %d; want both used", calls[0].Load(), calls[1].Load())
	}
	if got := int64(report.Comparisons[0].HTTP.Ops + report.Comparisons[1].HTTP.Ops); got != calls[0].Load()+calls[1].Load() {
		t.Fatalf("report counts %d HTTP calls, servers saw %d", got, calls[0].Load()+calls[1].Load())
	}
}
