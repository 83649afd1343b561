package console

import (
	"crypto/ed25519"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
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
	"github.com/parleyhq/parley/webhook"
)

// env is a real server (API and console, as parley serve mounts them) on
// a migrated SQLite file. Its clock starts 30 days before the real time so
// tests can make history, and is set to the real time with catchUp before
// a browser needs cookies that have not expired.
type env struct {
	t      *testing.T
	store  *sqlite.DB
	svc    *service.Service
	clock  *clock.Manual
	signer ed25519.PrivateKey
	srv    *httptest.Server
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvPolling(t, 50*time.Millisecond, false)
}

// newEnvPolling is newEnv with the live transcripts' poll interval, and
// with the store's notifier when notified.
func newEnvPolling(t *testing.T, poll time.Duration, notified bool) *env {
	t.Helper()
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "parley.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if err := store.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	pub, priv, err := license.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewManual(time.Now().UTC().Add(-30 * 24 * time.Hour).Truncate(time.Second))
	svc := service.New(service.Config{
		Store: store, Clock: clk, IDs: ids.Random{}, Licenses: license.NewVerifier(pub), Identifiers: identifier.Normalizer{},
		Webhooks: webhook.NewGuard(true, nil),
	})
	api := httpapi.New(httpapi.Config{Service: svc, Store: store, Metrics: prometheus.NewRegistry()})
	cfg := Config{Service: svc, PollInterval: poll}
	if notified {
		cfg.Notifier = store
	}
	c := New(cfg)
	mux := http.NewServeMux()
	mux.Handle("/console", c)
	mux.Handle("/console/", c)
	mux.Handle("/", api)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Cleanup(c.Close)
	return &env{t: t, store: store, svc: svc, clock: clk, signer: priv, srv: srv}
}

// catchUp sets the clock to the real time.
func (e *env) catchUp() { e.clock.Set(time.Now().UTC()) }

// tenant is an org with an ENTERPRISE licence, an admin key, an app
// published to production and a web chat resource.
type tenant struct {
	org        domain.Organization
	key        service.NewAPIKey
	api        *client.Client
	app        string
	deployment string
	resource   string
	// endpoint is a webhook endpoint of customer.identifier_changed events
	// (no worker delivers them: they stay pending).
	endpoint string
}

func (e *env) newTenant(name string) tenant {
	e.t.Helper()
	ctx := e.t.Context()
	org, key, err := e.svc.CreateOrg(ctx, name)
	must(e.t, err)
	now := e.clock.Now()
	token, err := license.Issue(e.signer, domain.License{OrgID: org.ID, Plan: domain.PlanEnterprise,
		IssuedAt: now.Add(-time.Hour), ExpiresAt: now.AddDate(1, 0, 0)})
	must(e.t, err)
	_, err = e.svc.InstallLicense(ctx, org.ID, token)
	must(e.t, err)
	tn := tenant{org: org, key: key, api: client.New(e.srv.URL, key.Secret)}
	app, err := tn.api.CreateApp(ctx, client.CreateAppRequest{Name: "Support bot"})
	must(e.t, err)
	v, err := tn.api.CreateVersion(ctx, app.ID, client.CreateVersionRequest{Definition: []byte(`{}`)})
	must(e.t, err)
	dep, err := tn.api.Publish(ctx, app.ID, client.PublishRequest{VersionID: v.ID, Environment: "production"})
	must(e.t, err)
	res, err := tn.api.CreateChannelResource(ctx, client.CreateChannelResourceRequest{Kind: "webchat", Name: "Website", Address: "site-" + name})
	must(e.t, err)
	tn.app, tn.deployment, tn.resource = app.ID, dep.ID, res.ID
	endpoint, err := e.svc.CreateWebhookEndpoint(ctx, org.ID, service.WebhookEndpointInput{
		URL: ptr("http://127.0.0.1:9/" + name), EventTypes: &[]string{domain.EventCustomerIdentifierChanged},
	})
	must(e.t, err)
	tn.endpoint = string(endpoint.Endpoint.ID)
	return tn
}

// start starts a conversation at destination for identifier ("" for none).
func (e *env) start(tn tenant, destination, ident string) *client.Conversation {
	e.t.Helper()
	st, err := tn.api.StartConversation(e.t.Context(), client.StartConversationRequest{
		DeploymentID: tn.deployment, ResourceID: tn.resource, CustomerDestination: destination, CustomerIdentifier: ident,
	})
	must(e.t, err)
	return &st.Conversation
}

func ptr[T any](v T) *T { return &v }

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// browser is an HTTP client with a cookie jar that does not follow
// redirects, as the security tests need to see them.
type browser struct {
	t    *testing.T
	base string
	hc   *http.Client
}

func (e *env) browser() *browser {
	jar, err := cookiejar.New(nil)
	must(e.t, err)
	return &browser{t: e.t, base: e.srv.URL, hc: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// response is a read response.
type response struct {
	status   int
	body     string
	header   http.Header
	location string
}

func (b *browser) do(req *http.Request) response {
	b.t.Helper()
	resp, err := b.hc.Do(req)
	must(b.t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	must(b.t, err)
	return response{status: resp.StatusCode, body: string(body), header: resp.Header, location: resp.Header.Get("Location")}
}

func (b *browser) get(path string) response {
	b.t.Helper()
	req, err := http.NewRequestWithContext(b.t.Context(), "GET", b.base+path, nil)
	must(b.t, err)
	return b.do(req)
}

func (b *browser) post(path string, form url.Values) response {
	b.t.Helper()
	req, err := http.NewRequestWithContext(b.t.Context(), "POST", b.base+path, strings.NewReader(form.Encode()))
	must(b.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf returns the CSRF token of the forms of the page at path.
func (b *browser) csrf(path string) string {
	b.t.Helper()
	r := b.get(path)
	m := csrfField.FindStringSubmatch(r.body)
	if m == nil {
		b.t.Fatalf("GET %s (%d): no CSRF field in the page", path, r.status)
	}
	return m[1]
}

// signIn signs in with an API key secret and returns the response.
func (b *browser) signIn(secret string) response {
	b.t.Helper()
	return b.post("/console/sign-in", url.Values{"key": {secret}, "csrf": {b.csrf("/console/sign-in")}})
}

// sessionToken returns the console session cookie's value, "" when none.
func (b *browser) sessionToken() string {
	u, _ := url.Parse(b.base + "/console/")
	for _, c := range b.hc.Jar.Cookies(u) {
		if c.Name == sessionCookie {
			return c.Value
		}
	}
	return ""
}

// startBot publishes the bot definition in file as a new app of tn and
// starts a conversation on it at destination.
func (e *env) startBot(tn tenant, destination, file string) *client.Conversation {
	e.t.Helper()
	ctx := e.t.Context()
	def, err := os.ReadFile(file)
	must(e.t, err)
	app, err := tn.api.CreateApp(ctx, client.CreateAppRequest{Name: "Number bot"})
	must(e.t, err)
	v, err := tn.api.CreateVersion(ctx, app.ID, client.CreateVersionRequest{Definition: def})
	must(e.t, err)
	dep, err := tn.api.Publish(ctx, app.ID, client.PublishRequest{VersionID: v.ID, Environment: "production"})
	must(e.t, err)
	st, err := tn.api.StartConversation(ctx, client.StartConversationRequest{
		DeploymentID: dep.ID, ResourceID: tn.resource, CustomerDestination: destination,
	})
	must(e.t, err)
	return &st.Conversation
}
