package bench

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/parleyhq/parley/channel"
	"github.com/parleyhq/parley/channel/twilio"
	"github.com/parleyhq/parley/channel/webchat"
	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/httpapi"
)

// serveChannels serves f's API with the channels (Twilio webhooks, web
// chat) and the process metrics, as parley serve does.
func serveChannels(t *testing.T, f fixture) *httptest.Server {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := channel.NewMetrics(reg)
	sms := &twilio.Handler{Service: f.svc, Metrics: metrics}
	chat := &webchat.Server{Service: f.svc, Notifier: f.store, Metrics: metrics}
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Service: f.svc, Store: f.store, Metrics: reg, Channels: httpapi.Channels{
		TwilioInbound: sms.Inbound, TwilioStatus: sms.Status, WebChatSocket: chat.Socket,
	}}))
	t.Cleanup(chat.Close)
	t.Cleanup(srv.Close)
	return srv
}

func TestRunSMSComparesWebhookAndService(t *testing.T) {
	local, remote := newFixture(t), newFixture(t)
	localOrg, _ := local.org(t, true)
	_, key := remote.org(t, true)
	srv := serveChannels(t, remote)
	const clients = 3
	report, err := RunSMS(context.Background(), Config{Clients: clients, Duration: time.Second},
		&HTTPSMS{Client: client.New(srv.URL, key), BaseURL: srv.URL, HTTP: NewHTTPClient(clients)},
		&InProcessSMS{Service: local.svc, Org: localOrg})
	if err != nil {
		t.Fatal(err)
	}
	c := report.Comparisons[0]
	for _, s := range []Stats{c.HTTP, c.InProcess} {
		if s.Ops == 0 || s.Errors != 0 || s.P99 < s.P50 {
			t.Errorf("%s: %+v, want inbound messages without errors", s.Driver, s)
		}
	}
}

func TestRunWebChatRoundTrips(t *testing.T) {
	local, remote := newFixture(t), newFixture(t)
	localOrg, _ := local.org(t, true)
	_, key := remote.org(t, true)
	srv := serveChannels(t, remote)
	report, err := RunWebChat(context.Background(), WebChatConfig{Visitors: 4, Think: 250 * time.Millisecond, Duration: 2 * time.Second},
		WebChatTarget{BaseURLs: []string{srv.URL}, Client: client.New(srv.URL, key)},
		&InProcessWebChat{Service: local.svc, Org: localOrg})
	if err != nil {
		t.Fatal(err)
	}
	// About 8 messages per visitor: within the web chat's rate limit.
	for _, s := range []Stats{report.WebChat, report.InProcess} {
		if s.Ops == 0 || s.Errors != 0 || s.P99 < s.P50 {
			t.Errorf("%s: %+v, want messages answered without errors", s.Driver, s)
		}
	}
	var out strings.Builder
	if err := report.Print(&out); err != nil || !strings.Contains(out.String(), "web chat p99 / in-process p99") {
		t.Errorf("printed report (%v):\n%s", err, out.String())
	}
}

func TestRunIdleSocketsReadsServerMemory(t *testing.T) {
	f := newFixture(t)
	_, key := f.org(t, true)
	srv := serveChannels(t, f)
	report, err := RunIdleSockets(context.Background(), IdleConfig{Sockets: 20, Dialers: 4, Hold: 100 * time.Millisecond},
		WebChatTarget{BaseURLs: []string{srv.URL}, Client: client.New(srv.URL, key)})
	if err != nil {
		t.Fatal(err)
	}
	if report.Opened != 20 || report.StillOpen != 20 || report.After.OpenSockets != 20 || report.Before.RSS <= 0 {
		t.Errorf("report %+v: want 20 sockets open on the server and its memory read", report)
	}
}
