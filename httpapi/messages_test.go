package httpapi

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/domain"
)

// TestMessageClientIDs checks the clientId of POST /v1/conversations/{id}/messages:
// absent means none, a resent one stores nothing and answers the first
// message with 200, and a present but empty one is refused and stores
// nothing.
func TestMessageClientIDs(t *testing.T) {
	env, c, key, _, dep, res := newPublishedEnv(t)
	st, err := c.StartConversation(t.Context(), client.StartConversationRequest{DeploymentID: dep.ID, ResourceID: res.ID, CustomerDestination: "d1"})
	if err != nil {
		t.Fatal(err)
	}
	path := "/v1/conversations/" + st.Conversation.ID + "/messages"
	cases := []struct {
		name, body string
		status     int
		code       string
	}{
		{"no client id", `{"text":"hi"}`, http.StatusCreated, ""},
		{"a client id", `{"text":"hello","clientId":"c-1"}`, http.StatusCreated, ""},
		{"the same client id again", `{"text":"hello","clientId":"c-1"}`, http.StatusOK, ""},
		{"an empty client id", `{"text":"hello","clientId":""}`, http.StatusBadRequest, domain.CodeInvalidArgument},
		{"a client id of spaces", `{"text":"hello","clientId":"  "}`, http.StatusBadRequest, domain.CodeInvalidArgument},
	}
	var first string
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := env.postJSON(path, key, tc.body)
			if tc.code != "" {
				decodeProblem(t, r, tc.status, tc.code)
				return
			}
			if r.status != tc.status {
				t.Fatalf("%d %s, want %d", r.status, r.body, tc.status)
			}
			var m struct {
				ID        string `json:"id"`
				Duplicate bool   `json:"duplicate"`
			}
			if err := json.Unmarshal([]byte(r.body), &m); err != nil {
				t.Fatal(err)
			}
			if tc.status == http.StatusOK && (!m.Duplicate || m.ID != first) {
				t.Errorf("resent: %s, want the first message %s as a duplicate", r.body, first)
			}
			first = m.ID
		})
	}
	msgs, err := c.ListMessages(t.Context(), st.Conversation.ID, client.ListMessagesParams{})
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 {
		t.Errorf("%d messages stored, want 2 (the refused ones and the resend store nothing)", len(msgs))
	}
}
