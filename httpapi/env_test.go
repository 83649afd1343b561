package httpapi

import (
	"bytes"
	"crypto/ed25519"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/clock"
	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/identifier"
	"github.com/parleyhq/parley/ids"
	"github.com/parleyhq/parley/license"
	"github.com/parleyhq/parley/service"
	"github.com/parleyhq/parley/sqlite"
	"github.com/parleyhq/parley/webhook"
)

// testMaxBody is the body limit of test servers.
const testMaxBody = 64 << 10

var testStart = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// testEnv is a real server on a migrated SQLite file.
type testEnv struct {
	t       *testing.T
	store   *sqlite.DB
	svc     *service.Service
	clock   *clock.Manual
	signer  ed25519.PrivateKey
	handler http.Handler
	srv     *httptest.Server
	logs    *lockedBuffer
}

func newEnv(t *testing.T) *testEnv {
	t.Helper()
	return newEnvOn(t, nil)
}

// newTestService is the service of a test server on store, trusting the
// licences of pub; another one on the same store acts as another server
// process.
func newTestService(store domain.Store, clk *clock.Manual, pub ed25519.PublicKey) *service.Service {
	return service.New(service.Config{
		Store: store, Clock: clk, IDs: ids.NewSequence(),
		Licenses: license.NewVerifier(pub), Identifiers: identifier.Normalizer{},
		Webhooks: webhook.NewGuard(false, nil),
	})
}

// newEnvOn is newEnv with the service on wrap(store) when wrap is not nil
// (the field store stays the SQLite store underneath).
func newEnvOn(t *testing.T, wrap func(domain.Store) domain.Store) *testEnv {
	t.Helper()
	store := openStore(t, true)
	var backend domain.Store = store
	if wrap != nil {
		backend = wrap(store)
	}
	pub, priv, err := license.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewManual(testStart)
	svc := newTestService(backend, clk, pub)
	logs := &lockedBuffer{}
	h := New(Config{
		Service: svc, Store: backend, Metrics: prometheus.NewRegistry(), MaxBodyBytes: testMaxBody,
		Logger: slog.New(slog.NewJSONHandler(logs, nil)),
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &testEnv{t: t, store: store, svc: svc, clock: clk, signer: priv, handler: h, srv: srv, logs: logs}
}

// openStore opens a SQLite store in t.TempDir(), migrated when asked.
func openStore(t *testing.T, migrate bool) *sqlite.DB {
	t.Helper()
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "parley.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if migrate {
		if err := store.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	return store
}

// newOrg creates an org and returns a client with its first key; plan ""
// installs no licence.
func (e *testEnv) newOrg(name string, plan domain.Plan) (domain.Organization, *client.Client) {
	e.t.Helper()
	org, key, err := e.svc.CreateOrg(e.t.Context(), name)
	if err != nil {
		e.t.Fatal(err)
	}
	c := client.New(e.srv.URL, key.Secret)
	if plan != "" {
		token, err := license.Issue(e.signer, domain.License{
			OrgID: org.ID, Plan: plan, IssuedAt: testStart.Add(-time.Hour), ExpiresAt: testStart.AddDate(1, 0, 0),
		})
		if err != nil {
			e.t.Fatal(err)
		}
		if _, err := c.InstallLicense(e.t.Context(), token); err != nil {
			e.t.Fatal(err)
		}
	}
	return org, c
}

// rawResponse is a response read in full.
type rawResponse struct {
	status int
	header http.Header
	body   []byte
}

// do sends a raw request to the test server.
func (e *testEnv) do(method, path, apiKey, contentType string, body io.Reader, headers ...string) rawResponse {
	e.t.Helper()
	req, err := http.NewRequestWithContext(e.t.Context(), method, e.srv.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+apiKey)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return rawResponse{status: resp.StatusCode, header: resp.Header, body: data}
}

// postJSON sends a JSON body with an API key.
func (e *testEnv) postJSON(path, apiKey, body string, headers ...string) rawResponse {
	e.t.Helper()
	return e.do(http.MethodPost, path, apiKey, "application/json", strings.NewReader(body), headers...)
}

// wantCode fails unless err is a *client.Error with status and code.
func wantCode(t *testing.T, err error, status int, code string) *client.Error {
	t.Helper()
	ce, ok := err.(*client.Error)
	if !ok {
		t.Fatalf("error = %v (%T), want a problem %d %s", err, err, status, code)
	}
	if ce.Status != status || ce.Code != code {
		t.Fatalf("problem = %d %s (%s), want %d %s", ce.Status, ce.Code, ce.Detail, status, code)
	}
	if ce.Type != problemTypeBase+code {
		t.Fatalf("problem type = %q, want %q", ce.Type, problemTypeBase+code)
	}
	return ce
}

// lockedBuffer is a goroutine-safe log sink.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// publishApp creates an app named "bot" with an empty version, published
// to env.
func publishApp(t *testing.T, c *client.Client, env string) (*client.App, *client.Version, *client.Deployment) {
	t.Helper()
	app, err := c.CreateApp(t.Context(), client.CreateAppRequest{Name: "bot"})
	if err != nil {
		t.Fatal(err)
	}
	version, err := c.CreateVersion(t.Context(), app.ID, client.CreateVersionRequest{})
	if err != nil {
		t.Fatal(err)
	}
	dep, err := c.Publish(t.Context(), app.ID, client.PublishRequest{VersionID: version.ID, Environment: env})
	if err != nil {
		t.Fatal(err)
	}
	return app, version, dep
}
