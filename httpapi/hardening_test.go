package httpapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/storetest"
)

// completeFailingStore is a real store whose write transactions cannot
// store an idempotent response: it stands for a database that fails after
// a request's change was written and before its response was.
type completeFailingStore struct{ domain.Store }

func (s completeFailingStore) Update(ctx context.Context, fn func(domain.Tx) error) error {
	return s.Store.Update(ctx, func(tx domain.Tx) error { return fn(completeFailingTx{tx}) })
}

func (s completeFailingStore) UpdateOrg(ctx context.Context, org domain.OrgID, fn func(domain.Tx) error) error {
	return s.Store.UpdateOrg(ctx, org, func(tx domain.Tx) error { return fn(completeFailingTx{tx}) })
}

type completeFailingTx struct{ domain.Tx }

func (completeFailingTx) CompleteIdempotency(context.Context, domain.OrgID, string, int, []byte) error {
	return errors.New("disk I/O error")
}

// idempotentRequest is a valid request to an idempotent route, built from
// the objects of newPublishedWorld.
type idempotentRequest struct {
	pattern string
	path    func(w publishedWorld) string
	body    func(w publishedWorld) string
}

// idempotentRequests has a request for every idempotent route; the test
// below fails when a route is missing.
var idempotentRequests = []idempotentRequest{
	{"/v1/apps", func(publishedWorld) string { return "/v1/apps" }, func(publishedWorld) string { return `{"name":"bot 2"}` }},
	{"/v1/apps/{appId}/versions", func(w publishedWorld) string { return "/v1/apps/" + w.app.ID + "/versions" },
		func(publishedWorld) string { return `{"definition":{}}` }},
	{"/v1/apps/{appId}/deployments", func(w publishedWorld) string { return "/v1/apps/" + w.app.ID + "/deployments" },
		func(w publishedWorld) string { return `{"versionId":"` + w.version.ID + `","environment":"qa"}` }},
	{"/v1/channel-resources", func(publishedWorld) string { return "/v1/channel-resources" },
		func(publishedWorld) string { return `{"kind":"webchat","name":"w2","address":"w2"}` }},
	{"/v1/conversations", func(publishedWorld) string { return "/v1/conversations" },
		func(w publishedWorld) string {
			return `{"deploymentId":"` + w.dep.ID + `","resourceId":"` + w.res.ID + `","customerDestination":"d2","customerIdentifier":"ext:2"}`
		}},
	{"/v1/previews", func(publishedWorld) string { return "/v1/previews" },
		func(w publishedWorld) string {
			return `{"versionId":"` + w.version.ID + `","resourceId":"` + w.res.ID + `","customerDestination":"d3"}`
		}},
	{"/v1/conversations/{conversationId}/messages", func(w publishedWorld) string { return "/v1/conversations/" + w.conv.ID + "/messages" },
		func(publishedWorld) string { return `{"direction":"inbound","text":"hi"}` }},
	{"/v1/data-operations/{name}", func(publishedWorld) string { return "/v1/data-operations/update_customer_identifier" },
		func(w publishedWorld) string {
			return `{"inputs":{"conversationId":"` + w.conv.ID + `","customerIdentifier":"ext:9"},"sessionId":"` + w.conv.SessionID + `"}`
		}},
	{"/v1/actions/{name}", func(publishedWorld) string { return "/v1/actions/update_customer_identifier" },
		func(w publishedWorld) string {
			return `{"inputs":{"customerIdentifier":"ext:8"},"sessionId":"` + w.conv.SessionID + `"}`
		}},
}

// publishedWorld is what idempotent requests act on.
type publishedWorld struct {
	app     *client.App
	version *client.Version
	dep     *client.Deployment
	res     *client.ChannelResource
	conv    *client.Conversation
}

// TestIdempotentResponseStoredWithTheChange checks, on every idempotent
// route, that the response is stored in the transaction of the change: when
// it cannot be stored, the change is rolled back too (500, nothing
// changed, the key released), so no change is ever committed without the
// response a retry must replay.
func TestIdempotentResponseStoredWithTheChange(t *testing.T) {
	covered := map[string]bool{}
	for _, req := range idempotentRequests {
		covered[req.pattern] = true
	}
	for _, rt := range newServer(Config{}).routes() {
		if rt.idempotent && !covered[rt.pattern] {
			t.Errorf("idempotent route %s %s has no case in idempotentRequests", rt.method, rt.pattern)
		}
	}
	for _, req := range idempotentRequests {
		t.Run(req.pattern, func(t *testing.T) {
			env := newEnvOn(t, func(s domain.Store) domain.Store { return completeFailingStore{s} })
			org, c := env.newOrg("Acme", domain.PlanEnterprise)
			key := apiKeyOf(t, c)
			_, version, dep := publishApp(t, c, client.EnvProduction)
			w := publishedWorld{version: version, dep: dep}
			var err error
			if w.app, err = c.GetApp(t.Context(), dep.AppID); err != nil {
				t.Fatal(err)
			}
			if w.res, err = c.CreateChannelResource(t.Context(), client.CreateChannelResourceRequest{Kind: client.KindWebChat, Name: "w", Address: "w"}); err != nil {
				t.Fatal(err)
			}
			st, err := c.StartConversation(t.Context(), client.StartConversationRequest{DeploymentID: dep.ID, ResourceID: w.res.ID, CustomerDestination: "d1"})
			if err != nil {
				t.Fatal(err)
			}
			w.conv = &st.Conversation

			before := storetest.TakeSnapshot(t, env.store, org.ID)
			r := env.postJSON(req.path(w), key, req.body(w), "Idempotency-Key", "k1")
			decodeProblem(t, r, http.StatusInternalServerError, domain.CodeInternal)
			storetest.AssertUnchanged(t, before, storetest.TakeSnapshot(t, env.store, org.ID))
			err = env.store.View(t.Context(), func(tx domain.Tx) error {
				rec, found, err := tx.GetIdempotency(t.Context(), org.ID, "k1")
				if found {
					t.Errorf("key left behind: %+v", rec)
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(env.logs.String(), "disk I/O error") {
				t.Errorf("the failure to store the response was not logged:\n%s", env.logs.String())
			}

			// The same request without a key is not affected by the failing
			// store: the case is a valid request.
			if r := env.postJSON(req.path(w), key, req.body(w)); r.status >= 300 {
				t.Fatalf("the request without a key = %d %s, want a success", r.status, r.body)
			}
		})
	}
}

// TestCreateAPIKeyNotIdempotent checks that an Idempotency-Key on
// POST /v1/api-keys neither replays a secret nor stores one.
func TestCreateAPIKeyNotIdempotent(t *testing.T) {
	env := newEnv(t)
	org, c := env.newOrg("Acme", "")
	admin := apiKeyOf(t, c)

	var secrets, ids []string
	for range 2 {
		r := env.postJSON("/v1/api-keys", admin, `{"name": "ci"}`, "Idempotency-Key", "same-key")
		if r.status != http.StatusCreated || r.header.Get(replayedHeader) != "" {
			t.Fatalf("create = %d (%s: %q) %s, want a fresh 201", r.status, replayedHeader, r.header.Get(replayedHeader), r.body)
		}
		var k client.NewAPIKey
		if err := json.Unmarshal(r.body, &k); err != nil || k.Secret == "" {
			t.Fatalf("key %s (%v)", r.body, err)
		}
		secrets, ids = append(secrets, k.Secret), append(ids, k.ID)
	}
	if secrets[0] == secrets[1] || ids[0] == ids[1] {
		t.Fatalf("two requests made keys %v with secrets %v, want two keys", ids, secrets)
	}
	err := env.store.View(t.Context(), func(tx domain.Tx) error {
		rec, found, err := tx.GetIdempotency(t.Context(), org.ID, "same-key")
		if found {
			t.Errorf("an idempotency record was stored: %d %s", rec.Status, rec.Body)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestMalformedQueryStrings checks that a query string with a malformed
// pair is refused instead of losing the pair.
func TestMalformedQueryStrings(t *testing.T) {
	env := newEnv(t)
	_, c := env.newOrg("Acme", "")
	key := apiKeyOf(t, c)
	for _, path := range []string{
		"/v1/conversations?cursor=%%%&limit=1",
		"/v1/conversations?status=live&customerId=%zz",
		"/v1/runs?limit=%zz",
		"/v1/runs?limit=1;before=x",
		"/v1/events?after=%zz",
		"/v1/conversations/conv_unknown/messages?limit=%zz",
	} {
		t.Run(path, func(t *testing.T) {
			p := decodeProblem(t, env.do("GET", path, key, "", nil), http.StatusBadRequest, domain.CodeInvalidArgument)
			if p.Detail != "malformed query string" {
				t.Errorf("detail = %q", p.Detail)
			}
		})
	}
}

// cursorOf encodes a raw conversation cursor "micros|id".
func cursorOf(raw string) string { return base64.RawURLEncoding.EncodeToString([]byte(raw)) }

// TestImplausibleIDs checks that ids that cannot be ids are refused before
// they reach the store: in the path 404 (400 for an operation name), in
// filters and cursors 400.
func TestImplausibleIDs(t *testing.T) {
	env := newEnv(t)
	_, c := env.newOrg("Acme", domain.PlanEnterprise)
	key := apiKeyOf(t, c)
	world := buildWorld(t, c)
	conv := world["conversationId"]
	long := strings.Repeat("a", maxIDBytes+1)
	opBody := `{"inputs": {}}`

	tests := []struct {
		name, method, path, body string
		status                   int
		code, detail             string
	}{
		{"NUL in path", "GET", "/v1/apps/app%00x", "", 404, domain.CodeNotFound, "appId in the path is not a valid id"},
		{"invalid UTF-8 in path", "GET", "/v1/apps/%ff", "", 404, domain.CodeNotFound, "appId in the path is not a valid id"},
		{"space in path", "GET", "/v1/apps/app%201", "", 404, domain.CodeNotFound, "not a valid id"},
		{"path id too long", "GET", "/v1/apps/" + long, "", 404, domain.CodeNotFound, "not a valid id"},
		{"second path id", "GET", "/v1/apps/" + world["appId"] + "/versions/ver%00", "", 404, domain.CodeNotFound, "versionId in the path"},
		{"NUL in conversation path", "GET", "/v1/conversations/conv%00/transcript", "", 404, domain.CodeNotFound, "conversationId in the path"},
		{"NUL in admin path", "DELETE", "/v1/api-keys/key%00", "", 404, domain.CodeNotFound, "keyId in the path"},
		{"NUL in data operation name", "POST", "/v1/data-operations/find%00", opBody, 400, domain.CodeInvalidArgument, "unknown operation"},
		{"invalid UTF-8 action name", "POST", "/v1/actions/%ff", opBody, 400, domain.CodeInvalidArgument, "unknown operation"},
		{"NUL customerId filter", "GET", "/v1/conversations?customerId=%00", "", 400, domain.CodeInvalidArgument, "customerId"},
		{"invalid UTF-8 deploymentId filter", "GET", "/v1/conversations?deploymentId=%ff", "", 400, domain.CodeInvalidArgument, "deploymentId"},
		{"space in resourceId filter", "GET", "/v1/conversations?resourceId=res+1", "", 400, domain.CodeInvalidArgument, "resourceId"},
		{"long resourceId filter", "GET", "/v1/conversations?resourceId=" + long, "", 400, domain.CodeInvalidArgument, "resourceId"},
		{"NUL externalId filter", "GET", "/v1/conversations?externalId=a%00", "", 400, domain.CodeInvalidArgument, "externalId"},
		{"long externalId filter", "GET", "/v1/conversations?externalId=" + strings.Repeat("é", maxExternalIDLen+1), "", 400, domain.CodeInvalidArgument, "externalId"},
		{"NUL runs cursor", "GET", "/v1/runs?before=run%00", "", 400, domain.CodeInvalidArgument, "before"},
		{"invalid UTF-8 messages cursor", "GET", "/v1/conversations/" + conv + "/messages?after=%ff", "", 400, domain.CodeInvalidArgument, "after"},
		{"negative event cursor", "GET", "/v1/events?after=-1", "", 400, domain.CodeInvalidArgument, "after must be an integer of 0 or more"},
		{"negative limit", "GET", "/v1/events?limit=-1", "", 400, domain.CodeInvalidArgument, "limit"},
		{"huge cursor time", "GET", "/v1/conversations?cursor=" + cursorOf("9223372036854775807|"+conv), "", 400, domain.CodeInvalidArgument, "cursor"},
		{"cursor before year 1", "GET", "/v1/conversations?cursor=" + cursorOf("-62135596800000001|"+conv), "", 400, domain.CodeInvalidArgument, "cursor"},
		{"NUL in cursor id", "GET", "/v1/conversations?cursor=" + cursorOf("1|conv\x00"), "", 400, domain.CodeInvalidArgument, "cursor"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := env.do(tc.method, tc.path, key, "application/json", strings.NewReader(tc.body))
			p := decodeProblem(t, r, tc.status, tc.code)
			if !strings.Contains(p.Detail, tc.detail) {
				t.Errorf("detail = %q, want it to contain %q", p.Detail, tc.detail)
			}
		})
	}

	// Plausible values at the limits still pass.
	for _, path := range []string{
		"/v1/conversations?externalId=" + strings.Repeat("é", maxExternalIDLen) + "&resourceId=" + strings.Repeat("r", maxIDBytes),
		"/v1/conversations?cursor=" + cursorOf("253402300799999999|"+conv), // 9999-12-31T23:59:59.999999Z
		"/v1/conversations?cursor=" + cursorOf("-62135596800000000|"+conv), // 0001-01-01T00:00:00Z
	} {
		if r := env.do("GET", path, key, "", nil); r.status != http.StatusOK {
			t.Errorf("GET %s = %d %s, want 200", path, r.status, r.body)
		}
	}

	// The check runs before the idempotency key is taken: nothing is
	// stored, so a retry is refused again rather than replayed.
	for range 2 {
		r := env.postJSON("/v1/conversations/conv%00/messages", key, `{"direction": "inbound", "text": "hi"}`, "Idempotency-Key", "nul-message")
		decodeProblem(t, r, http.StatusNotFound, domain.CodeNotFound)
		if r.header.Get(replayedHeader) != "" {
			t.Fatalf("a refused path was stored under its Idempotency-Key")
		}
	}
}

// TestCursorNamingNothing checks that a runs or messages cursor naming no
// object is a bad request, while a missing conversation stays 404.
func TestCursorNamingNothing(t *testing.T) {
	env := newEnv(t)
	_, c := env.newOrg("Acme", domain.PlanEnterprise)
	key := apiKeyOf(t, c)
	world := buildWorld(t, c)
	_, other := env.newOrg("Other", domain.PlanEnterprise)
	otherWorld := buildWorld(t, other)
	conv := world["conversationId"]
	otherMessages, err := other.ListMessages(t.Context(), otherWorld["conversationId"], client.ListMessagesParams{})
	if err != nil || len(otherMessages) == 0 {
		t.Fatalf("other org's messages = %+v (%v)", otherMessages, err)
	}

	tests := []struct {
		name, path   string
		status       int
		code, detail string
	}{
		{"unknown run", "/v1/runs?before=run_unknown", 400, domain.CodeInvalidArgument, "cursor does not name a run of this organization"},
		{"run of another org", "/v1/runs?before=" + otherWorld["runId"], 400, domain.CodeInvalidArgument, "cursor does not name a run"},
		{"unknown message", "/v1/conversations/" + conv + "/messages?after=msg_unknown", 400, domain.CodeInvalidArgument, "cursor does not name a message of this conversation"},
		{"message of another org", "/v1/conversations/" + conv + "/messages?after=" + otherMessages[0].ID, 400, domain.CodeInvalidArgument, "cursor does not name a message"},
		{"missing conversation", "/v1/conversations/conv_unknown/messages?after=msg_unknown", 404, domain.CodeConversationNotFound, "conv_unknown"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := decodeProblem(t, env.do("GET", tc.path, key, "", nil), tc.status, tc.code)
			if !strings.Contains(p.Detail, tc.detail) {
				t.Errorf("detail = %q, want it to contain %q", p.Detail, tc.detail)
			}
		})
	}
	if r := env.do("GET", "/v1/runs?before="+world["runId"], key, "", nil); r.status != http.StatusOK {
		t.Errorf("a real run cursor = %d %s, want 200", r.status, r.body)
	}
}

// TestMetricsMethodLabel checks that made-up methods do not become metric
// label values.
func TestMetricsMethodLabel(t *testing.T) {
	env := newEnv(t)
	env.do("FOOBAR", "/v1/apps", "", "", nil)
	env.do("FOOBAR", "/nowhere", "", "", nil)
	env.do("PATCH", "/nowhere", "", "", nil)
	text, err := client.New(env.srv.URL, "").Metrics(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`parley_http_requests_total{method="other",route="unmatched",status="405"} 1`,
		`parley_http_requests_total{method="other",route="unmatched",status="404"} 1`,
		`parley_http_requests_total{method="PATCH",route="unmatched",status="404"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(text, "FOOBAR") {
		t.Errorf("metrics contain the method FOOBAR")
	}
}

// TestJSONFieldNamesExact checks that request fields must be spelled
// exactly as documented.
func TestJSONFieldNamesExact(t *testing.T) {
	env := newEnv(t)
	_, c := env.newOrg("Acme", domain.PlanEnterprise)
	key := apiKeyOf(t, c)
	const findOp = "/v1/data-operations/" + client.OpFindConversations

	tests := []struct {
		name, path, body string
		status           int
		detail           string
	}{
		{"upper-case name", "/v1/apps", `{"NAME": "bot"}`, 400, `unknown field "NAME"`},
		{"title-case name", "/v1/apps", `{"Name": "bot"}`, 400, `unknown field "Name"`},
		{"Go field name", "/v1/channel-resources", `{"kind": "web_chat", "name": "site", "Address": "w"}`, 400, `unknown field "Address"`},
		{"upper-case sessionId", findOp, `{"inputs": {"customerIdentifier": "x"}, "SESSIONID": "ses_1"}`, 400, `unknown field "SESSIONID"`},
		{"null body", "/v1/apps", `null`, 400, "JSON object"},
		{"exact name", "/v1/apps", `{"name": "bot"}`, 201, ""},
		{"escaped exact name", "/v1/apps", `{"na\u006de": "bot"}`, 201, ""},
		{"exact operation fields", findOp, `{"inputs": {"customerIdentifier": "x"}, "outputVariable": "found"}`, 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := env.postJSON(tc.path, key, tc.body)
			if tc.status < 400 {
				if r.status != tc.status {
					t.Fatalf("status = %d %s, want %d", r.status, r.body, tc.status)
				}
				return
			}
			p := decodeProblem(t, r, tc.status, domain.CodeInvalidArgument)
			if !strings.Contains(p.Detail, tc.detail) {
				t.Errorf("detail = %q, want it to contain %q", p.Detail, tc.detail)
			}
		})
	}
}

func TestJSONFieldNames(t *testing.T) {
	type inner struct {
		Promoted string `json:"promoted"`
	}
	type request struct {
		inner
		Named    string `json:"named,omitempty"`
		Untagged string
		Skipped  string `json:"-"`
		Dash     string `json:"-,"`
		OnlyOpt  string `json:",omitempty"`
		hidden   string // never decoded
	}
	got := jsonFieldNames(&request{})
	want := []string{"promoted", "named", "Untagged", "-", "OnlyOpt"}
	if len(got) != len(want) {
		t.Errorf("names = %v, want %v", got, want)
	}
	for _, name := range want {
		if !got[name] {
			t.Errorf("names = %v, want %s among them", got, name)
		}
	}
	if jsonFieldNames(&map[string]any{}) != nil {
		t.Errorf("a map target has field names")
	}
}

// TestIdempotentReadOnlyRun checks a run that changes nothing (find, outside
// a session) with an Idempotency-Key: its response is stored by the
// service (a retry replays it) without the transport's fallback for a
// route that forgot to store its response.
func TestIdempotentReadOnlyRun(t *testing.T) {
	env, _, key, _, _, _ := newPublishedEnv(t)
	body := `{"inputs":{"customerIdentifier":"ext:nobody"}}`
	first := env.postJSON("/v1/data-operations/find_conversations_by_customer_identifier", key, body, "Idempotency-Key", "find-1")
	again := env.postJSON("/v1/data-operations/find_conversations_by_customer_identifier", key, body, "Idempotency-Key", "find-1")
	if first.status != http.StatusOK || again.status != http.StatusOK || !bytes.Equal(first.body, again.body) || again.header.Get(replayedHeader) != "true" {
		t.Fatalf("first %d %s, retry %d %s (%s %q): want the same 200 replayed", first.status, first.body, again.status, again.body, replayedHeader, again.header.Get(replayedHeader))
	}
	if strings.Contains(env.logs.String(), "did not store its response") {
		t.Errorf("the read-only run's response was stored by the fallback:\n%s", env.logs.String())
	}
}
