package webhook_test

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/service"
	"github.com/parleyhq/parley/webhook"
)

// rebinding resolves every name to a public address on its first lookup
// and to the loopback address afterwards, as a DNS rebinding attacker's
// name server would.
type rebinding struct{ lookups atomic.Int32 }

func (r *rebinding) LookupIPAddr(context.Context, string) ([]net.IPAddr, error) {
	if r.lookups.Add(1) == 1 {
		return []net.IPAddr{{IP: net.ParseIP("93.184.216.34")}}, nil
	}
	return []net.IPAddr{{IP: net.ParseIP("127.0.0.1")}}, nil
}

// TestWebhookSSRF: without the operator's flag, URLs whose host is (or
// resolves to) a private, loopback, link-local or otherwise non-public
// address are refused at registration, and a name that resolves to a
// public address at registration but to the loopback address at delivery
// (DNS rebinding) is refused at connection: the local receiver never gets
// a request. With the flag, the same local receiver gets its deliveries.
func TestWebhookSSRF(t *testing.T) {
	ctx := context.Background()
	t.Run("registration", func(t *testing.T) {
		e := newEnv(t, false, nil)
		refused := []string{
			"http://127.0.0.1:8080/hook", "http://127.1.2.3/", "http://localhost:9000/", "http://[::1]/",
			"http://10.1.2.3/", "http://172.16.0.1/", "http://192.168.1.10/", "http://[fc00::1]/", "http://[fd12:3456::1]/",
			"http://169.254.169.254/latest/meta-data/", "http://[fe80::1]/",
			"http://0.0.0.0/", "http://[::]/", "http://224.0.0.1/", "http://[ff02::1]/",
			"http://[::ffff:127.0.0.1]/", "http://[::ffff:10.0.0.1]/", "http://100.64.0.1/",
		}
		for _, u := range refused {
			_, err := e.svc.CreateWebhookEndpoint(ctx, e.Org, service.WebhookEndpointInput{URL: &u})
			if domain.ErrorCode(err) != domain.CodeURLForbidden {
				t.Errorf("CreateWebhookEndpoint(%s) = %v, want url_forbidden", u, err)
			}
		}
		for _, u := range []string{"ftp://example.com/", "/relative", "http://user:pw@93.184.216.34/", "http://93.184.216.34/#x", ""} {
			_, err := e.svc.CreateWebhookEndpoint(ctx, e.Org, service.WebhookEndpointInput{URL: &u})
			if domain.ErrorCode(err) != domain.CodeInvalidArgument {
				t.Errorf("CreateWebhookEndpoint(%q) = %v, want invalid_argument", u, err)
			}
		}
		if es, _ := e.svc.ListWebhookEndpoints(ctx, e.Org); len(es) != 0 {
			t.Errorf("refused URLs stored %d endpoints", len(es))
		}
		public := "https://93.184.216.34/hooks"
		created, err := e.svc.CreateWebhookEndpoint(ctx, e.Org, service.WebhookEndpointInput{URL: &public})
		if err != nil {
			t.Fatalf("a public address was refused: %v", err)
		}
		private := "http://192.168.0.1/"
		_, err = e.svc.UpdateWebhookEndpoint(ctx, e.Org, created.Endpoint.ID, service.WebhookEndpointInput{URL: &private})
		if domain.ErrorCode(err) != domain.CodeURLForbidden {
			t.Errorf("UpdateWebhookEndpoint to a private address = %v, want url_forbidden", err)
		}
	})

	t.Run("connection", func(t *testing.T) {
		recv := newReceiver(t)
		guard := webhook.NewGuard(false, nil)
		dialer := &net.Dialer{Control: guard.Control, Timeout: time.Second}
		if conn, err := dialer.Dial("tcp", recv.Listener.Addr().String()); err == nil {
			conn.Close()
			t.Fatal("the guard's Control let a connection to the loopback address through")
		}
		if _, err := guard.DialContext(ctx, "tcp", recv.Listener.Addr().String()); err == nil || !strings.Contains(err.Error(), "refused") {
			t.Fatalf("DialContext to the loopback address: %v, want refused", err)
		}
		if got := len(recv.requests()); got != 0 {
			t.Fatalf("receiver got %d requests", got)
		}
	})

	t.Run("DNS rebinding", func(t *testing.T) {
		recv := newReceiver(t)
		dns := &rebinding{}
		e := newEnv(t, false, dns)
		_, port, _ := net.SplitHostPort(recv.Listener.Addr().String())
		ep := e.register(t, "http://hooks.rebind.test:"+port+"/")
		if dns.lookups.Load() != 1 {
			t.Fatalf("registration made %d lookups, want 1", dns.lookups.Load())
		}
		e.Start("")
		if n := e.deliverDue(t); n != 1 {
			t.Fatalf("DeliverDue made %d attempts, want 1", n)
		}
		if got := len(recv.requests()); got != 0 {
			t.Fatalf("the rebound name reached the local receiver (%d requests)", got)
		}
		attempts := e.attempts(t, ep.Endpoint.ID)
		if len(attempts) != 1 || attempts[0].Status != 0 || !strings.Contains(attempts[0].Error, "127.0.0.1") {
			t.Fatalf("attempts %+v, want one refused, naming 127.0.0.1", attempts)
		}
		ds, err := e.svc.ListWebhookDeliveries(ctx, e.Org, ep.Endpoint.ID, domain.DeliveryFilter{Limit: 10})
		if err != nil || len(ds) != 1 || ds[0].State != domain.DeliveryPending || ds[0].Attempts != 1 {
			t.Fatalf("deliveries %+v, %v; want one pending retry", ds, err)
		}
	})

	t.Run("allowed by the operator", func(t *testing.T) {
		recv := newReceiver(t)
		e := newEnv(t, true, nil)
		u, _ := url.Parse(recv.URL)
		e.register(t, "http://localhost:"+u.Port()+"/")
		e.Start("")
		e.deliverDue(t)
		if got := len(recv.accepted()); got != 1 {
			t.Fatalf("receiver accepted %d events with private targets allowed, want 1", got)
		}
	})
}

// TestWebhookSenderLimits: redirects are not followed (a 3xx is a failed
// attempt), answers are read up to a limit and excerpted, and a request
// that outlasts the timeout fails as a timeout.
func TestWebhookSenderLimits(t *testing.T) {
	ctx := context.Background()
	guard := webhook.NewGuard(true, nil)
	target := newReceiver(t)
	mux := http.NewServeMux()
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL, http.StatusTemporaryRedirect)
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(strings.Repeat("é", 1<<20)))
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	})
	srv := newServer(t, mux)
	secret, _ := webhook.NewSecret()
	send := func(s *webhook.Sender, path string) webhook.Outcome {
		return s.Send(ctx, webhook.Message{URL: srv + path, ID: "evt_1", Timestamp: time.Now(), Body: []byte(`{}`), Secrets: []string{secret}})
	}
	sender := webhook.NewSender(guard, 0, 1)

	redirect := send(sender, "/redirect")
	if redirect.OK() || redirect.Status != http.StatusTemporaryRedirect || len(target.requests()) != 0 {
		t.Errorf("redirect: %+v, target got %d requests; want a failed 307 and no request", redirect, len(target.requests()))
	}
	big := send(sender, "/big")
	if !big.OK() || len(big.Excerpt) > 1024 || !strings.HasPrefix(big.Excerpt, "éé") {
		t.Errorf("big answer: status %d, excerpt of %d bytes; want 200 and at most 1024 bytes", big.Status, len(big.Excerpt))
	}
	slow := send(webhook.NewSender(guard, 200*time.Millisecond, 1), "/slow")
	if slow.OK() || slow.Err == nil || !strings.Contains(slow.Describe(), "timeout") {
		t.Errorf("slow answer: %+v, want a timeout", slow)
	}
}
