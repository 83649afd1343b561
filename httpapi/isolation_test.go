package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/domain"
)

// isolationCase is what a key of org B sends to a route holding org A's
// object ids, and what it must get back.
type isolationCase struct {
	body       any
	wantStatus int    // default 404
	wantCode   string // default not_found
	// check, when set, inspects a successful response instead.
	check func(t *testing.T, out map[string]any)
}

// TestTenantIsolation sends, for every route of the table with a path
// parameter, a request of org B naming org A's objects, and checks that B
// sees nothing and A's data is unchanged. A route with a path parameter
// and no case fails the test.
func TestTenantIsolation(t *testing.T) {
	env := newEnv(t)
	ctx := t.Context()
	_, a := env.newOrg("A", domain.PlanEnterprise)
	_, b := env.newOrg("B", domain.PlanEnterprise)
	w := buildWorld(t, a)

	cases := map[string]isolationCase{
		"DELETE /v1/api-keys/{keyId}":                     {},
		"GET /v1/apps/{appId}":                            {},
		"POST /v1/apps/{appId}/versions":                  {body: map[string]any{"definition": map[string]any{}}},
		"GET /v1/apps/{appId}/versions":                   {},
		"GET /v1/apps/{appId}/versions/{versionId}":       {},
		"POST /v1/apps/{appId}/deployments":               {body: map[string]any{"versionId": w["versionId"], "environment": "production"}},
		"GET /v1/apps/{appId}/deployments":                {},
		"GET /v1/deployments/{deploymentId}":              {},
		"GET /v1/channel-resources/{resourceId}":          {},
		"PATCH /v1/channel-resources/{resourceId}":        {body: map[string]any{"name": "stolen"}},
		"GET /v1/channel-resources/{resourceId}/settings": {},
		"GET /v1/messages/{messageId}/sms":                {},
		// The channels' endpoints take no API key: a resource id alone
		// reaches them, and what they verify is the channel's own
		// signature (their tests); without channels configured, 404.
		"POST /channels/twilio/{resourceId}/messages":       {body: map[string]any{}},
		"POST /channels/twilio/{resourceId}/status":         {body: map[string]any{}},
		"GET /webchat/{resourceId}/demo":                    {},
		"GET /webchat/{resourceId}/socket":                  {},
		"GET /v1/conversations/{conversationId}":            {wantCode: domain.CodeConversationNotFound},
		"POST /v1/conversations/{conversationId}/messages":  {body: map[string]any{"direction": "inbound", "text": "hi"}, wantCode: domain.CodeConversationNotFound},
		"GET /v1/conversations/{conversationId}/messages":   {wantCode: domain.CodeConversationNotFound},
		"POST /v1/conversations/{conversationId}/close":     {wantCode: domain.CodeConversationNotFound},
		"GET /v1/conversations/{conversationId}/transcript": {wantCode: domain.CodeConversationNotFound},
		"GET /v1/conversations/{conversationId}/turns":      {wantCode: domain.CodeConversationNotFound},
		"GET /v1/turns/{turnId}":                            {},
		"GET /v1/sessions/{sessionId}":                      {},
		"GET /v1/customers/{customerId}":                    {},
		"GET /v1/customers/{customerId}/identifiers":        {},
		"GET /v1/customers/{customerId}/conversations":      {},
		"GET /v1/identifiers/{identifier}/holders": {
			// An identifier names no object: B gets its own, empty, timeline.
			check: func(t *testing.T, out map[string]any) {
				if items, _ := out["items"].([]any); len(items) != 0 || out["identifier"] != "mailto:a@example.com" {
					t.Errorf("B's timeline of A's identifier = %v, want empty", out)
				}
			},
		},
		"GET /v1/runs/{runId}":                                  {},
		"GET /v1/webhook-endpoints/{endpointId}":                {},
		"PATCH /v1/webhook-endpoints/{endpointId}":              {body: map[string]any{"enabled": false}},
		"DELETE /v1/webhook-endpoints/{endpointId}":             {},
		"POST /v1/webhook-endpoints/{endpointId}/rotate-secret": {body: map[string]any{}},
		"GET /v1/webhook-endpoints/{endpointId}/deliveries":     {},
		"GET /v1/webhook-endpoints/{endpointId}/attempts":       {},
		"POST /v1/webhook-endpoints/{endpointId}/replay":        {body: map[string]any{"since": "2020-01-01T00:00:00Z"}},
		"POST /v1/data-operations/{name}": {
			// {name} names no object: B closes A's conversation by id and
			// gets the business outcome conversation_not_found.
			body: map[string]any{"inputs": map[string]any{"conversation": w["conversationId"]}},
			check: func(t *testing.T, out map[string]any) {
				outcome, _ := out["error"].(map[string]any)
				if out["value"] != false || outcome["code"] != domain.CodeConversationNotFound {
					t.Errorf("close_conversation on A's conversation = %v, want false with conversation_not_found", out)
				}
			},
		},
		"POST /v1/actions/{name}": {
			// The action acts on A's session, which B cannot name.
			body:       map[string]any{"sessionId": w["sessionId"]},
			wantStatus: http.StatusBadRequest, wantCode: domain.CodeInvalidArgument,
		},
	}
	values := map[string]string{"name": "close_conversation"}
	for k, v := range w {
		values[k] = v
	}

	before := snapshot(t, a, w)
	routes := newServer(Config{}).routes()
	covered := map[string]bool{}
	for _, rt := range routes {
		if !strings.Contains(rt.pattern, "{") {
			continue
		}
		key := rt.method + " " + rt.pattern
		covered[key] = true
		tc, ok := cases[key]
		if !ok {
			t.Errorf("route %s takes a path parameter but has no tenant isolation case", key)
			continue
		}
		t.Run(key, func(t *testing.T) {
			path := fillPattern(t, rt.pattern, values)
			var out map[string]any
			_, err := b.Do(ctx, client.Request{Method: rt.method, Path: path, Body: tc.body}, &out)
			if tc.check != nil {
				if err != nil {
					t.Fatalf("%s %s: %v", rt.method, path, err)
				}
				tc.check(t, out)
				return
			}
			status, code := http.StatusNotFound, domain.CodeNotFound
			if tc.wantStatus != 0 {
				status = tc.wantStatus
			}
			if tc.wantCode != "" {
				code = tc.wantCode
			}
			wantCode(t, err, status, code)
		})
	}
	for key := range cases {
		if !covered[key] {
			t.Errorf("isolation case %s matches no route with a path parameter", key)
		}
	}

	// Ids in bodies and queries are scoped too.
	_, err := b.StartConversation(ctx, client.StartConversationRequest{DeploymentID: w["deploymentId"], ResourceID: w["resourceId"], CustomerDestination: "x"})
	wantCode(t, err, http.StatusBadRequest, domain.CodeInvalidArgument)
	_, err = b.StartPreview(ctx, client.StartPreviewRequest{VersionID: w["versionId"], ResourceID: w["resourceId"], CustomerDestination: "x"})
	wantCode(t, err, http.StatusBadRequest, domain.CodeInvalidArgument)
	page, err := b.ListConversations(ctx, client.ListConversationsParams{CustomerID: w["customerId"]})
	if err != nil || len(page.Items) != 0 {
		t.Errorf("B listing A's customer's conversations = %+v (%v), want none", page, err)
	}
	find, err := b.RunDataOperation(ctx, client.OpFindConversations, client.RunRequest{Inputs: map[string]any{"customerIdentifier": "mailto:a@example.com"}})
	if ids, _ := find.Strings(); err != nil || len(ids) != 0 {
		t.Errorf("B finding A's identifier = %+v (%v), want none", find, err)
	}
	customers, err := b.ListCustomers(ctx, client.ListCustomersParams{Identifier: "mailto:a@example.com"})
	if err != nil || len(customers.Items) != 0 {
		t.Errorf("B looking up A's identifier = %+v (%v), want none", customers, err)
	}
	for _, p := range []client.ListEventsParams{{CustomerID: w["customerId"]}, {ConversationID: w["conversationId"]}} {
		if events, err := b.ListEvents(ctx, p); err != nil || len(events.Items) != 0 {
			t.Errorf("B's events about A's objects %+v = %+v (%v), want none", p, events, err)
		}
	}

	if after := snapshot(t, a, w); !bytes.Equal(before, after) {
		t.Errorf("org A's data changed:\nbefore %s\nafter  %s", before, after)
	}
	if _, err := a.WithAPIKey(w["keySecret"]).GetOrg(ctx); err != nil {
		t.Errorf("A's second key stopped working: %v", err)
	}
}

// buildWorld creates one object of every kind in the org of c and returns
// their ids by path parameter name.
func buildWorld(t *testing.T, c *client.Client) map[string]string {
	t.Helper()
	ctx := t.Context()
	key, err := c.CreateAPIKey(ctx, client.CreateAPIKeyRequest{Name: "second"})
	if err != nil {
		t.Fatal(err)
	}
	app, err := c.CreateApp(ctx, client.CreateAppRequest{Name: "bot"})
	if err != nil {
		t.Fatal(err)
	}
	// A bot that answers, so the conversation has turns.
	version, err := c.CreateVersion(ctx, app.ID, client.CreateVersionRequest{Definition: json.RawMessage(
		`{"triggers": {"conversation_started": "hi", "message_received": "hi"}, "steps": {"hi": {"say": "'hello'"}}}`)})
	if err != nil {
		t.Fatal(err)
	}
	dep, err := c.Publish(ctx, app.ID, client.PublishRequest{VersionID: version.ID, Environment: client.EnvProduction})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.CreateChannelResource(ctx, client.CreateChannelResourceRequest{Kind: client.KindWebChat, Name: "site", Address: "widget"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.StartConversation(ctx, client.StartConversationRequest{
		DeploymentID: dep.ID, ResourceID: res.ID, CustomerDestination: "web-1", CustomerIdentifier: "mailto:a@example.com",
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddMessage(ctx, st.Conversation.ID, client.AddMessageRequest{Direction: client.Inbound, Text: "hello"}); err != nil {
		t.Fatal(err)
	}
	run, err := c.RunDataOperation(ctx, client.OpFindConversations, client.RunRequest{
		Inputs: map[string]any{"customerIdentifier": "mailto:a@example.com"}, SessionID: st.Session.ID,
	})
	if err != nil {
		t.Fatal(err)
	}
	turns, err := c.ListTurns(ctx, st.Conversation.ID, client.ListTurnsParams{})
	if err != nil || len(turns) != 2 {
		t.Fatalf("turns %+v (%v)", turns, err)
	}
	// An SMS conversation with an operator's reply: queued in the outbox.
	sms, err := c.CreateChannelResource(ctx, client.CreateChannelResourceRequest{Kind: client.KindSMS, Name: "line", Address: "+15550100000"})
	if err != nil {
		t.Fatal(err)
	}
	smsConv, err := c.StartConversation(ctx, client.StartConversationRequest{DeploymentID: dep.ID, ResourceID: sms.ID, CustomerDestination: "+15550100042"})
	if err != nil {
		t.Fatal(err)
	}
	reply, err := c.AddMessage(ctx, smsConv.Conversation.ID, client.AddMessageRequest{Direction: client.Outbound, Text: "queued"})
	if err != nil {
		t.Fatal(err)
	}
	endpoint, err := c.CreateWebhookEndpoint(ctx, client.CreateWebhookEndpointRequest{URL: "https://93.184.216.34/hooks"})
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"endpointId": endpoint.ID,
		"keyId":      key.ID, "keySecret": key.Secret, "appId": app.ID, "versionId": version.ID,
		"deploymentId": dep.ID, "resourceId": res.ID, "conversationId": st.Conversation.ID,
		"sessionId": st.Session.ID, "customerId": st.Customer.ID, "runId": run.RunID, "turnId": turns[0].ID,
		"identifier": "mailto:a@example.com",
		"messageId":  reply.ID,
	}
}

// snapshot reads everything org A can see about its world.
func snapshot(t *testing.T, c *client.Client, w map[string]string) []byte {
	t.Helper()
	paths := []string{
		"/v1/org", "/v1/api-keys", "/v1/apps", "/v1/apps/{appId}", "/v1/apps/{appId}/versions",
		"/v1/apps/{appId}/deployments", "/v1/channel-resources", "/v1/conversations",
		"/v1/conversations/{conversationId}", "/v1/conversations/{conversationId}/messages",
		"/v1/conversations/{conversationId}/transcript", "/v1/conversations/{conversationId}/turns",
		"/v1/sessions/{sessionId}",
		"/v1/customers/{customerId}", "/v1/customers/{customerId}/identifiers",
		"/v1/customers/{customerId}/conversations", "/v1/runs", "/v1/events",
		"/v1/webhook-endpoints", "/v1/webhook-endpoints/{endpointId}/deliveries",
		"/v1/messages/{messageId}/sms",
	}
	var all []json.RawMessage
	for _, p := range paths {
		var out json.RawMessage
		if _, err := c.Do(t.Context(), client.Request{Method: http.MethodGet, Path: fillPattern(t, p, w)}, &out); err != nil {
			t.Fatalf("snapshot %s: %v", p, err)
		}
		all = append(all, out)
	}
	b, err := json.Marshal(all)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fillPattern replaces the {name} segments of a ServeMux pattern.
func fillPattern(t *testing.T, pattern string, values map[string]string) string {
	t.Helper()
	segs := strings.Split(pattern, "/")
	for i, s := range segs {
		if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
			v, ok := values[strings.Trim(s, "{}")]
			if !ok {
				t.Fatalf("no value for %s in %s", s, pattern)
			}
			segs[i] = url.PathEscape(v)
		}
	}
	return strings.Join(segs, "/")
}
