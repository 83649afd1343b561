package httpapi

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/domain"
)

// TestKeyScopes checks every authenticated route of the table with a
// runtime key: admin routes answer 403 forbidden and change nothing, the
// others let it through.
func TestKeyScopes(t *testing.T) {
	env := newEnv(t)
	ctx := t.Context()
	_, admin := env.newOrg("A", domain.PlanEnterprise)
	w := buildWorld(t, admin)
	key, err := admin.CreateAPIKey(ctx, client.CreateAPIKeyRequest{Name: "bot", Scope: "runtime"})
	if err != nil || key.Scope != "runtime" {
		t.Fatalf("runtime key = %+v (%v)", key, err)
	}
	runtime := admin.WithAPIKey(key.Secret)
	values := map[string]string{"name": "find_conversations_by_customer_identifier"}
	for k, v := range w {
		values[k] = v
	}
	call := func(t *testing.T, rt route) error {
		_, err := runtime.Do(ctx, client.Request{Method: rt.method, Path: fillPattern(t, rt.pattern, values)}, nil)
		return err
	}
	routes := newServer(Config{}).routes()
	before := snapshot(t, admin, w)
	for _, rt := range routes {
		if rt.access == adminKey {
			t.Run(rt.method+" "+rt.pattern, func(t *testing.T) {
				wantCode(t, call(t, rt), http.StatusForbidden, domain.CodeForbidden)
			})
		}
	}
	if after := snapshot(t, admin, w); !bytes.Equal(before, after) {
		t.Errorf("forbidden requests changed the org:\nbefore %s\nafter  %s", before, after)
	}
	for _, rt := range routes {
		if rt.access == anyKey {
			t.Run(rt.method+" "+rt.pattern, func(t *testing.T) {
				if code := client.Code(call(t, rt)); code == domain.CodeForbidden || code == domain.CodeUnauthorized {
					t.Fatalf("runtime key refused: %s", code)
				}
			})
		}
	}
	run, err := runtime.RunDataOperation(ctx, client.OpFindConversations, client.RunRequest{
		Inputs: map[string]any{"customerIdentifier": "mailto:a@example.com"},
	})
	if ids, _ := run.Strings(); err != nil || len(ids) != 1 || ids[0] != w["conversationId"] {
		t.Fatalf("runtime key running find = %+v (%v)", run, err)
	}
	_, err = admin.CreateAPIKey(ctx, client.CreateAPIKeyRequest{Name: "x", Scope: "root"})
	wantCode(t, err, http.StatusBadRequest, domain.CodeInvalidArgument)
}
