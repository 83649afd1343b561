package webhook_test

import (
	"context"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/webhook"
)

// TestWebhookSignature checks Parley's signatures against the Standard
// Webhooks specification's published test vector and against the
// specification's own Go library (an independent implementation), on real
// deliveries: plain, during a secret rotation's overlap (two signatures,
// either secret verifies) and after it.
func TestWebhookSignature(t *testing.T) {
	t.Run("specification test vector", func(t *testing.T) {
		// From the specification (and its libraries' tests).
		got, err := webhook.Sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek",
			time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
		if err != nil {
			t.Fatal(err)
		}
		if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
			t.Fatalf("Sign = %s, want %s", got, want)
		}
	})
	t.Run("secrets", func(t *testing.T) {
		secret, err := webhook.NewSecret()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(secret, "whsec_") || len(secret) != len("whsec_")+44 {
			t.Fatalf("NewSecret = %q, want whsec_ and the base64 of 32 bytes", secret)
		}
		if _, err := webhook.Sign("not-a-secret", "id", time.Now(), nil); err == nil {
			t.Error("Sign accepted a secret without the whsec_ prefix")
		}
	})

	e := newEnv(t, true, nil)
	e.Clock.Set(time.Now().UTC()) // the library checks the timestamp against the real time
	recv := newReceiver(t)
	created := e.register(t, recv.URL+"/hooks?source=parley")
	ctx := context.Background()

	verify := func(t *testing.T, req received, secret string, checkTime bool) error {
		t.Helper()
		wh, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			t.Fatal(err)
		}
		if checkTime {
			return wh.Verify(req.Body, req.Header)
		}
		return wh.VerifyIgnoringTimestamp(req.Body, req.Header)
	}
	deliverOne := func(t *testing.T) received {
		t.Helper()
		before := len(recv.requests())
		e.Start("")
		if n := e.deliverDue(t); n != 1 {
			t.Fatalf("DeliverDue made %d attempts, want 1", n)
		}
		reqs := recv.requests()
		if len(reqs) != before+1 {
			t.Fatalf("receiver got %d requests, want %d", len(reqs), before+1)
		}
		return reqs[len(reqs)-1]
	}

	t.Run("delivery verified by the library", func(t *testing.T) {
		req := deliverOne(t)
		if err := verify(t, req, created.Secret, true); err != nil {
			t.Fatalf("standard-webhooks Verify: %v\nheaders %v\nbody %s", err, req.Header, req.Body)
		}
		body := decodeBody(t, req.Body)
		if req.Header.Get("webhook-id") != body.ID || !strings.HasPrefix(body.ID, "evt_") {
			t.Errorf("webhook-id %q, body id %q: want the same evt_ id", req.Header.Get("webhook-id"), body.ID)
		}
		if body.Type != domain.EventConversationStarted || body.Data["customerId"] == nil || body.Subject == "" {
			t.Errorf("body %+v, want a conversation.started event with its payload", body)
		}
		if ct := req.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
		tampered := req
		tampered.Body = append([]byte(nil), req.Body...)
		tampered.Body[len(tampered.Body)-2] ^= 1
		if err := verify(t, tampered, created.Secret, true); err == nil {
			t.Error("a tampered body verified")
		}
		other, _ := webhook.NewSecret()
		if err := verify(t, req, other, true); err == nil {
			t.Error("another secret verified")
		}
	})

	t.Run("rotation overlap", func(t *testing.T) {
		rotated, err := e.svc.RotateWebhookSecret(ctx, e.Org, created.Endpoint.ID, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if rotated.Secret == created.Secret {
			t.Fatal("rotation kept the secret")
		}
		req := deliverOne(t)
		if sigs := strings.Fields(req.Header.Get("webhook-signature")); len(sigs) != 2 {
			t.Fatalf("webhook-signature %q during the overlap, want two v1 signatures", req.Header.Get("webhook-signature"))
		}
		for name, secret := range map[string]string{"new": rotated.Secret, "old": created.Secret} {
			if err := verify(t, req, secret, true); err != nil {
				t.Errorf("the %s secret does not verify during the overlap: %v", name, err)
			}
		}

		e.Clock.Advance(time.Hour + time.Second)
		req = deliverOne(t)
		if sigs := strings.Fields(req.Header.Get("webhook-signature")); len(sigs) != 1 {
			t.Fatalf("webhook-signature %q after the overlap, want one", req.Header.Get("webhook-signature"))
		}
		if err := verify(t, req, rotated.Secret, false); err != nil {
			t.Errorf("the new secret does not verify after the overlap: %v", err)
		}
		if err := verify(t, req, created.Secret, false); err == nil {
			t.Error("the old secret still verifies after the overlap")
		}
	})

	t.Run("stable webhook-id across retries", func(t *testing.T) {
		recv.status.Store(500)
		first := deliverOne(t)
		recv.status.Store(200)
		e.Clock.Advance(10 * time.Second)
		if n := e.deliverDue(t); n != 1 {
			t.Fatalf("retry made %d attempts, want 1", n)
		}
		reqs := recv.requests()
		retry := reqs[len(reqs)-1]
		if first.Header.Get("webhook-id") != retry.Header.Get("webhook-id") || string(first.Body) != string(retry.Body) {
			t.Errorf("retry changed the message: id %s -> %s, body %s -> %s", first.Header.Get("webhook-id"),
				retry.Header.Get("webhook-id"), first.Body, retry.Body)
		}
		if first.Header.Get("webhook-timestamp") == retry.Header.Get("webhook-timestamp") {
			t.Error("retry kept the timestamp of the first attempt")
		}
	})
}
