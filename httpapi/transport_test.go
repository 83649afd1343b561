package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/domain"
)

// decodeProblem checks a problem+json response and returns it.
func decodeProblem(t *testing.T, r rawResponse, status int, code string) problemResponse {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d; body %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != problemContentType {
		t.Fatalf("Content-Type = %q, want %s; body %s", ct, problemContentType, r.body)
	}
	var p problemResponse
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("problem body %s: %v", r.body, err)
	}
	if p.Code != code || p.Status != status || p.Type != problemTypeBase+code || p.Title == "" {
		t.Fatalf("problem = %+v, want %d %s", p, status, code)
	}
	return p
}

func TestProblems(t *testing.T) {
	env := newEnv(t)
	_, c := env.newOrg("Acme", "")
	key := apiKeyOf(t, c)
	big := `{"name": "` + strings.Repeat("x", testMaxBody) + `"}`

	tests := []struct {
		name        string
		method      string
		path        string
		apiKey      string
		contentType string
		body        string
		headers     []string
		status      int
		code        string
		detail      string // a substring of the detail
	}{
		{"unknown field", "POST", "/v1/apps", key, "application/json", `{"name": "a", "colour": "red"}`, nil, 400, domain.CodeInvalidArgument, `unknown field "colour"`},
		{"malformed JSON", "POST", "/v1/apps", key, "application/json", `{"name": `, nil, 400, domain.CodeInvalidArgument, "truncated"},
		{"syntax error", "POST", "/v1/apps", key, "application/json", `{"name" "a"}`, nil, 400, domain.CodeInvalidArgument, "malformed"},
		{"trailing data", "POST", "/v1/apps", key, "application/json", `{"name": "a"} {}`, nil, 400, domain.CodeInvalidArgument, "nothing after it"},
		{"wrong type", "POST", "/v1/apps", key, "application/json", `{"name": 3}`, nil, 400, domain.CodeInvalidArgument, "field name must be text"},
		{"not an object", "POST", "/v1/apps", key, "application/json", `[1]`, nil, 400, domain.CodeInvalidArgument, "JSON object"},
		{"empty body", "POST", "/v1/apps", key, "application/json", ``, nil, 400, domain.CodeInvalidArgument, "required"},
		{"wrong content type", "POST", "/v1/apps", key, "text/plain", `{"name": "a"}`, nil, 400, domain.CodeInvalidArgument, "Content-Type"},
		{"body too large", "POST", "/v1/apps", key, "application/json", big, nil, 413, domain.CodePayloadTooLarge, "larger than"},
		{"body too large with idempotency key", "POST", "/v1/apps", key, "application/json", big, []string{"Idempotency-Key", "k"}, 413, domain.CodePayloadTooLarge, "larger than"},
		{"missing key", "GET", "/v1/apps", "", "", "", nil, 401, domain.CodeUnauthorized, "API key"},
		{"unknown key", "GET", "/v1/apps", "pk_unknown", "", "", nil, 401, domain.CodeUnauthorized, "invalid API key"},
		{"wrong scheme", "GET", "/v1/apps", "", "", "", []string{"Authorization", "Basic " + key}, 401, domain.CodeUnauthorized, "API key"},
		{"unknown route", "GET", "/v1/nothing-here", key, "", "", nil, 404, domain.CodeNotFound, "no route"},
		{"unknown object", "GET", "/v1/apps/app_404", key, "", "", nil, 404, domain.CodeNotFound, "app_404"},
		{"wrong method", "DELETE", "/v1/apps", key, "", "", nil, 405, domain.CodeMethodNotAllowed, "GET"},
		{"bad limit", "GET", "/v1/runs?limit=ten", key, "", "", nil, 400, domain.CodeInvalidArgument, "limit"},
		{"limit too large", "GET", "/v1/events?limit=201", key, "", "", nil, 400, domain.CodeInvalidArgument, "limit"},
		{"unknown operation", "POST", "/v1/data-operations/nope", key, "application/json", `{"inputs": {}}`, nil, 400, domain.CodeInvalidArgument, "nope"},
		{"invalid identifier", "POST", "/v1/data-operations/find_conversations_by_customer_identifier", key, "application/json", `{"inputs": {"customerIdentifier": "tel:abc"}}`, nil, 400, domain.CodeIdentifierInvalid, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var body *strings.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			var r rawResponse
			if body == nil {
				r = env.do(tc.method, tc.path, tc.apiKey, tc.contentType, http.NoBody, tc.headers...)
			} else {
				r = env.do(tc.method, tc.path, tc.apiKey, tc.contentType, body, tc.headers...)
			}
			p := decodeProblem(t, r, tc.status, tc.code)
			if !strings.Contains(p.Detail, tc.detail) {
				t.Errorf("detail = %q, want it to contain %q", p.Detail, tc.detail)
			}
			switch tc.status {
			case http.StatusUnauthorized:
				if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("WWW-Authenticate = %q", r.header.Get("WWW-Authenticate"))
				}
			case http.StatusMethodNotAllowed:
				if !strings.Contains(r.header.Get("Allow"), "GET") {
					t.Errorf("Allow = %q", r.header.Get("Allow"))
				}
			}
		})
	}
}

// TestPanicAndInternalErrors checks that panics and uncoded errors answer
// a 500 problem that hides their text, which is logged instead.
func TestPanicAndInternalErrors(t *testing.T) {
	s := newServer(Config{Metrics: prometheus.NewRegistry()})
	logs := &lockedBuffer{}
	s.log = slog.New(slog.NewJSONHandler(logs, nil))
	for name, h := range map[string]handlerFunc{
		"panic":         func(http.ResponseWriter, *http.Request) error { panic("secret boom") },
		"uncoded error": func(http.ResponseWriter, *http.Request) error { return errors.New("secret db failure") },
		"unknown code":  func(http.ResponseWriter, *http.Request) error { return domain.Errorf("surprise", "secret") },
		"wrapped coded": func(http.ResponseWriter, *http.Request) error {
			return errors.Join(errors.New("x"), domain.Errorf(domain.CodeInternal, "secret"))
		},
		"panic with nil": func(http.ResponseWriter, *http.Request) error { var m map[string]int; m["secret"]++; return nil },
	} {
		t.Run(name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			s.run(rec, httptest.NewRequest(http.MethodGet, "/v1/apps", nil), h)
			r := rawResponse{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
			p := decodeProblem(t, r, http.StatusInternalServerError, domain.CodeInternal)
			if p.Detail != "internal error" || bytes.Contains(r.body, []byte("secret")) {
				t.Errorf("internal problem leaks: %s", r.body)
			}
		})
	}
	if !strings.Contains(logs.String(), "secret boom") || !strings.Contains(logs.String(), "secret db failure") {
		t.Errorf("internal errors were not logged: %s", logs.String())
	}
}

func TestIdempotency(t *testing.T) {
	env := newEnv(t)
	ctx := t.Context()
	_, c := env.newOrg("Acme", "")
	key := apiKeyOf(t, c)

	first := env.postJSON("/v1/apps", key, `{"name": "bot"}`, "Idempotency-Key", "create-bot")
	again := env.postJSON("/v1/apps", key, `{"name": "bot"}`, "Idempotency-Key", "create-bot")
	if first.status != http.StatusCreated || again.status != http.StatusCreated || !bytes.Equal(first.body, again.body) {
		t.Fatalf("first %d %s, retry %d %s: want the same 201", first.status, first.body, again.status, again.body)
	}
	if first.header.Get(replayedHeader) != "" || again.header.Get(replayedHeader) != "true" {
		t.Fatalf("%s = %q then %q", replayedHeader, first.header.Get(replayedHeader), again.header.Get(replayedHeader))
	}
	if again.header.Get("Content-Type") != jsonContentType {
		t.Fatalf("replayed Content-Type = %q", again.header.Get("Content-Type"))
	}
	if apps, err := c.ListApps(ctx); err != nil || len(apps) != 1 {
		t.Fatalf("apps = %+v (%v), want exactly one", apps, err)
	}

	other := env.postJSON("/v1/apps", key, `{"name": "another"}`, "Idempotency-Key", "create-bot")
	decodeProblem(t, other, http.StatusConflict, domain.CodeConflict)
	otherPath := env.postJSON("/v1/channel-resources", key, `{"name": "bot"}`, "Idempotency-Key", "create-bot")
	decodeProblem(t, otherPath, http.StatusConflict, domain.CodeConflict)

	// An error changed nothing and is not stored: the key is released, the
	// same request runs again, and a corrected one may use the key.
	bad := env.postJSON("/v1/apps", key, `{"name": ""}`, "Idempotency-Key", "bad")
	decodeProblem(t, bad, http.StatusBadRequest, domain.CodeInvalidArgument)
	badAgain := env.postJSON("/v1/apps", key, `{"name": ""}`, "Idempotency-Key", "bad")
	decodeProblem(t, badAgain, http.StatusBadRequest, domain.CodeInvalidArgument)
	if badAgain.header.Get(replayedHeader) != "" {
		t.Fatalf("an error response was replayed")
	}
	fixed := env.postJSON("/v1/apps", key, `{"name": "fixed"}`, "Idempotency-Key", "bad")
	if fixed.status != http.StatusCreated || fixed.header.Get(replayedHeader) != "" {
		t.Fatalf("corrected request with a released key: %d %s", fixed.status, fixed.body)
	}

	// Keys are per org: another org may use the same key.
	_, other2 := env.newOrg("Other", "")
	mine, err := other2.CreateApp(ctx, client.CreateAppRequest{Name: "bot", IdempotencyKey: "create-bot"})
	if err != nil {
		t.Fatal(err)
	}
	var firstApp client.App
	if err := json.Unmarshal(first.body, &firstApp); err != nil || mine.ID == firstApp.ID {
		t.Fatalf("org B's app %s reused org A's response %s (%v)", mine.ID, first.body, err)
	}

	// Through the client: the same call twice gives the same object.
	viaClient := client.Request{Method: "POST", Path: "/v1/apps", Body: map[string]string{"name": "bot"}, IdempotencyKey: "client-key"}
	var app1, app2 client.App
	if resp, err := c.Do(ctx, viaClient, &app1); err != nil || resp.Replayed || resp.Status != http.StatusCreated {
		t.Fatalf("client first call = %+v (%v)", resp, err)
	}
	if resp, err := c.Do(ctx, viaClient, &app2); err != nil || !resp.Replayed || resp.Status != http.StatusCreated || app1 != app2 {
		t.Fatalf("client replay = %+v %+v, want %+v (%v)", resp, app2, app1, err)
	}

	// A key too long is refused.
	long := env.postJSON("/v1/apps", key, `{"name": "x"}`, "Idempotency-Key", strings.Repeat("k", 300))
	decodeProblem(t, long, http.StatusBadRequest, domain.CodeInvalidArgument)
}

func TestOperationalRoutes(t *testing.T) {
	env := newEnv(t)
	ctx := t.Context()
	org, c := env.newOrg("Acme", domain.PlanEnterprise)
	public := client.New(env.srv.URL, "")

	if err := public.Health(ctx); err != nil {
		t.Fatal(err)
	}
	if err := public.Ready(ctx); err != nil {
		t.Fatalf("readyz on a migrated store: %v", err)
	}
	doc, err := public.OpenAPI(ctx)
	if err != nil || !bytes.Equal(doc, openAPIDocument) {
		t.Fatalf("openapi.json differs from the embedded document (%v)", err)
	}

	app, err := c.CreateApp(ctx, client.CreateAppRequest{Name: "bot"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetApp(ctx, app.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RunDataOperation(ctx, client.OpFindConversations, client.RunRequest{Inputs: map[string]any{"customerIdentifier": "x"}}); err != nil {
		t.Fatal(err)
	}
	_, err = c.RunDataOperation(ctx, "no_such_operation", client.RunRequest{})
	wantCode(t, err, http.StatusBadRequest, domain.CodeInvalidArgument)
	env.do("GET", "/nowhere", "", "", nil)

	text, err := public.Metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`parley_http_requests_total{method="GET",route="/v1/apps/{appId}",status="200"} 1`,
		`parley_http_requests_total{method="POST",route="/v1/apps",status="201"} 1`,
		`parley_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
		`parley_http_request_duration_seconds_count{method="GET",route="/v1/apps/{appId}"} 1`,
		`parley_operation_runs_total{code="ok",kind="data_operation",name="find_conversations_by_customer_identifier"} 1`,
		`parley_operation_runs_total{code="invalid_argument",kind="data_operation",name="unknown"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(text, app.ID) {
		t.Errorf("metrics contain a raw path with %s", app.ID)
	}

	var logged bool
	for _, line := range strings.Split(env.logs.String(), "\n") {
		var entry map[string]any
		if json.Unmarshal([]byte(line), &entry) == nil && entry["route"] == "/v1/apps/{appId}" {
			logged = entry["org"] == string(org.ID) && entry["method"] == "GET" && entry["status"] == float64(200) && entry["duration"] != nil
		}
	}
	if !logged {
		t.Errorf("no request log line with route, method, status, duration and org:\n%s", env.logs.String())
	}
}

func TestReadyzNotMigrated(t *testing.T) {
	store := openStore(t, false)
	srv := httptest.NewServer(New(Config{Store: store, Metrics: prometheus.NewRegistry()}))
	t.Cleanup(srv.Close)
	err := client.New(srv.URL, "").Ready(t.Context())
	wantCode(t, err, http.StatusServiceUnavailable, "not_ready")
}

// TestRegisterTwice checks that two handlers can share a registry.
func TestRegisterTwice(t *testing.T) {
	reg := prometheus.NewRegistry()
	first, second := newMetrics(reg), newMetrics(reg)
	if first.requests != second.requests || first.runs != second.runs {
		t.Fatal("the second handler registered new collectors")
	}
}

func TestTimestampFormat(t *testing.T) {
	b, err := json.Marshal(toApp(domain.App{ID: "app_1", CreatedAt: testStart.Add(1500)}))
	if err != nil {
		t.Fatal(err)
	}
	if want := `"createdAt":"2026-03-01T12:00:00.000001Z"`; !strings.Contains(string(b), want) {
		t.Fatalf("app = %s, want %s", b, want)
	}
}

// apiKeyOf digs the API key out of a client by creating another one.
func apiKeyOf(t *testing.T, c *client.Client) string {
	t.Helper()
	k, err := c.CreateAPIKey(t.Context(), client.CreateAPIKeyRequest{Name: "raw"})
	if err != nil {
		t.Fatal(err)
	}
	return k.Secret
}
