package httpapi

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/domain"
)

// TestInvalidDefinition checks that a bad bot definition is refused with
// 400 invalid_definition and the JSON pointer of its first problem, and
// that nothing is stored.
func TestInvalidDefinition(t *testing.T) {
	env := newEnv(t)
	_, c := env.newOrg("Acme", "")
	key := apiKeyOf(t, c)
	app, err := c.CreateApp(t.Context(), client.CreateAppRequest{Name: "bot"})
	if err != nil {
		t.Fatal(err)
	}
	body := `{"definition": {"triggers": {"conversation_started": "hi"}, "steps": {"hi": {"say": "'Hello' + 1"}}}}`
	p := decodeProblem(t, env.postJSON("/v1/apps/"+app.ID+"/versions", key, body), http.StatusBadRequest, domain.CodeInvalidDefinition)
	if p.Details["path"] != "/steps/hi/say" {
		t.Fatalf("details = %v, want path /steps/hi/say", p.Details)
	}
	if vs, err := c.ListVersions(t.Context(), app.ID); err != nil || len(vs) != 0 {
		t.Fatalf("versions = %v (%v), want none", vs, err)
	}
	good := `{"definition": {"triggers": {"conversation_started": "hi"}, "steps": {"hi": {"say": "'Hello ' + conversation.id"}}}}`
	if r := env.postJSON("/v1/apps/"+app.ID+"/versions", key, good); r.status != http.StatusCreated {
		t.Fatalf("good definition: %d %s", r.status, r.body)
	} else {
		var v struct{ Definition json.RawMessage }
		if err := json.Unmarshal(r.body, &v); err != nil || len(v.Definition) < 10 {
			t.Fatalf("stored definition: %s (%v)", r.body, err)
		}
	}
}
