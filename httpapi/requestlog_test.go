package httpapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/parleyhq/parley/domain"
)

// logEntries returns the JSON log lines whose msg is "request".
func logEntries(t *testing.T, logs string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(logs, "\n") {
		var entry map[string]any
		if json.Unmarshal([]byte(line), &entry) == nil && entry["msg"] == "request" {
			out = append(out, entry)
		}
	}
	return out
}

// TestRequestIDsAndLogs checks the request log line (path, request id, org
// and key id besides the route) and the request id: the client's
// X-Request-Id when acceptable, a generated one otherwise, echoed in the
// response header and in problem documents.
func TestRequestIDsAndLogs(t *testing.T) {
	env := newEnv(t)
	org, c := env.newOrg("Acme", "")
	secret := apiKeyOf(t, c)
	keys, err := c.ListAPIKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var keyID string
	for _, k := range keys {
		if strings.HasPrefix(secret, k.Prefix) {
			keyID = k.ID
		}
	}

	cases := []struct {
		name, sent string
		kept       bool
		method     string
		path       string
		auth       bool
		status     int
		route      string
	}{
		{name: "client id kept", sent: "trace-42/abc:1", kept: true, method: "GET", path: "/v1/apps/app_missing", auth: true, status: 404, route: "/v1/apps/{appId}"},
		{name: "no id", method: "GET", path: "/v1/apps", auth: true, status: 200, route: "/v1/apps"},
		{name: "too long", sent: strings.Repeat("x", maxRequestIDLen+1), method: "GET", path: "/v1/org", auth: true, status: 200, route: "/v1/org"},
		{name: "128 characters kept", sent: strings.Repeat("y", maxRequestIDLen), kept: true, method: "GET", path: "/v1/org", auth: true, status: 200, route: "/v1/org"},
		{name: "space", sent: "two words", method: "GET", path: "/v1/org", status: 401, route: "/v1/org"},
		{name: "forged log line", sent: "x\" level=ERROR msg=\"forged", method: "GET", path: "/healthz", status: 200, route: "/healthz"},
		{name: "non-ASCII", sent: "caf\u00e9", method: "GET", path: "/v1/org", auth: true, status: 200, route: "/v1/org"},
		{name: "unmatched route", sent: "unmatched-1", kept: true, method: "GET", path: "/v1/nothing/here", status: 404, route: unmatchedRoute},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(logEntries(t, env.logs.String()))
			var headers []string
			if tc.sent != "" {
				headers = []string{requestIDHeader, tc.sent}
			}
			key := ""
			if tc.auth {
				key = secret
			}
			r := env.do(tc.method, tc.path, key, "", nil, headers...)
			if r.status != tc.status {
				t.Fatalf("%s %s = %d %s, want %d", tc.method, tc.path, r.status, r.body, tc.status)
			}
			id := r.header.Get(requestIDHeader)
			switch {
			case tc.kept && id != tc.sent:
				t.Fatalf("%s = %q, want the client's %q", requestIDHeader, id, tc.sent)
			case !tc.kept && (!strings.HasPrefix(id, "req_") || id == tc.sent):
				t.Fatalf("%s = %q, want a generated req_ id", requestIDHeader, id)
			}
			if r.status >= 400 {
				var p problemResponse
				if err := json.Unmarshal(r.body, &p); err != nil || p.RequestID != id {
					t.Fatalf("problem %s (%v): requestId is not %q", r.body, err, id)
				}
			}
			entries := logEntries(t, env.logs.String())
			if len(entries) != before+1 {
				t.Fatalf("%d new request log lines, want 1:\n%s", len(entries)-before, env.logs.String())
			}
			got := entries[len(entries)-1]
			want := map[string]any{
				"method": tc.method, "route": tc.route, "path": tc.path, "status": float64(tc.status), "requestId": id,
				"org": "", "key": "",
			}
			if tc.auth && tc.status != 401 {
				want["org"], want["key"] = string(org.ID), keyID
			}
			for field, v := range want {
				if got[field] != v {
					t.Errorf("log %s = %v, want %v (line %v)", field, got[field], v, got)
				}
			}
		})
	}

	// Two requests without an id get different ones.
	a := env.do("GET", "/healthz", "", "", nil)
	b := env.do("GET", "/healthz", "", "", nil)
	if a.header.Get(requestIDHeader) == b.header.Get(requestIDHeader) {
		t.Fatalf("two requests share the generated id %q", a.header.Get(requestIDHeader))
	}

	// A problem from an idempotent route carries the id too.
	p := decodeProblem(t, env.postJSON("/v1/apps", secret, `{"name": ""}`, "Idempotency-Key", "k1", requestIDHeader, "idem-1"),
		http.StatusBadRequest, domain.CodeInvalidArgument)
	if p.RequestID != "idem-1" {
		t.Fatalf("idempotent problem requestId = %q, want idem-1", p.RequestID)
	}
}
