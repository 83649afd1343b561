package httpapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/domain"
)

// TestWebhookEndpointsAPI walks the webhook endpoint routes: the secret
// appears only when created or rotated, disabling and enabling, refused
// URLs and inputs, replays, listings and deletion.
func TestWebhookEndpointsAPI(t *testing.T) {
	env := newEnv(t)
	ctx := t.Context()
	_, api := env.newOrg("A", domain.PlanEnterprise)

	created, err := api.CreateWebhookEndpoint(ctx, client.CreateWebhookEndpointRequest{
		URL: "https://93.184.216.34/hooks", Description: "CRM", EventTypes: []string{"customer.identifier_changed", "customer.identifier_changed"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(created.Secret, "whsec_") || !created.Enabled || len(created.EventTypes) != 1 {
		t.Fatalf("created endpoint = %+v, want an enabled endpoint with a whsec_ secret and one type", created)
	}
	got, err := api.GetWebhookEndpoint(ctx, created.ID)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(got)
	if strings.Contains(string(body), created.Secret) {
		t.Fatal("GET returned the secret")
	}
	list, err := api.ListWebhookEndpoints(ctx)
	if err != nil || len(list) != 1 || list[0].ID != created.ID {
		t.Fatalf("list = %+v, %v", list, err)
	}

	disabled := false
	ep, err := api.UpdateWebhookEndpoint(ctx, created.ID, client.UpdateWebhookEndpointRequest{Enabled: &disabled})
	if err != nil || ep.Enabled || ep.DisabledReason == nil || *ep.DisabledReason != "disabled through the API" {
		t.Fatalf("disabled endpoint = %+v, %v", ep, err)
	}
	_, err = api.ReplayFailedWebhookDeliveries(ctx, created.ID, time.Now().Add(-time.Hour))
	wantCode(t, err, http.StatusBadRequest, domain.CodeInvalidArgument)
	enabled, desc := true, "CRM sync"
	ep, err = api.UpdateWebhookEndpoint(ctx, created.ID, client.UpdateWebhookEndpointRequest{Enabled: &enabled, Description: &desc})
	if err != nil || !ep.Enabled || ep.DisabledReason != nil || ep.Description != desc {
		t.Fatalf("enabled endpoint = %+v, %v", ep, err)
	}

	rotated, err := api.RotateWebhookSecret(ctx, created.ID, time.Hour)
	if err != nil || rotated.Secret == created.Secret || rotated.PreviousSecretExpiresAt == nil {
		t.Fatalf("rotated = %+v, %v; want a new secret and the overlap's end", rotated, err)
	}

	loopback := "http://127.0.0.1:9000/"
	_, err = api.UpdateWebhookEndpoint(ctx, created.ID, client.UpdateWebhookEndpointRequest{URL: &loopback})
	wantCode(t, err, http.StatusBadRequest, domain.CodeURLForbidden)
	_, err = api.CreateWebhookEndpoint(ctx, client.CreateWebhookEndpointRequest{URL: "http://169.254.169.254/latest"})
	wantCode(t, err, http.StatusBadRequest, domain.CodeURLForbidden)
	_, err = api.CreateWebhookEndpoint(ctx, client.CreateWebhookEndpointRequest{URL: "https://93.184.216.34/", EventTypes: []string{"Not A Type"}})
	wantCode(t, err, http.StatusBadRequest, domain.CodeInvalidArgument)

	// Replay: exactly one of eventId and since; an unknown event is not found.
	for _, body := range []string{`{}`, `{"eventId":"evt_1","since":"2026-01-01T00:00:00Z"}`, `{"eventId":"42"}`} {
		_, err := api.Do(ctx, client.Request{Method: http.MethodPost, Path: "/v1/webhook-endpoints/" + created.ID + "/replay",
			Body: json.RawMessage(body)}, nil)
		wantCode(t, err, http.StatusBadRequest, domain.CodeInvalidArgument)
	}
	_, err = api.ReplayWebhookEvent(ctx, created.ID, "evt_999999")
	wantCode(t, err, http.StatusNotFound, domain.CodeNotFound)

	page, err := api.ListWebhookDeliveries(ctx, created.ID, client.ListWebhookDeliveriesParams{State: "failed"})
	if err != nil || len(page.Items) != 0 {
		t.Fatalf("deliveries = %+v, %v", page, err)
	}
	_, err = api.ListWebhookDeliveries(ctx, created.ID, client.ListWebhookDeliveriesParams{State: "lost"})
	wantCode(t, err, http.StatusBadRequest, domain.CodeInvalidArgument)
	attempts, err := api.ListWebhookAttempts(ctx, created.ID, client.ListWebhookAttemptsParams{})
	if err != nil || len(attempts.Items) != 0 || attempts.Next != nil {
		t.Fatalf("attempts = %+v, %v", attempts, err)
	}

	if err := api.DeleteWebhookEndpoint(ctx, created.ID); err != nil {
		t.Fatal(err)
	}
	_, err = api.GetWebhookEndpoint(ctx, created.ID)
	wantCode(t, err, http.StatusNotFound, domain.CodeNotFound)
}
