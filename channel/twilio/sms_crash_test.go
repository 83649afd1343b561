package twilio_test

import (
	"context"
	"maps"
	"net"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/parleyhq/parley/channel/twilio/twiliotest"
	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/e2e/proc"
	"github.com/parleyhq/parley/examples"
)

// crashEnv runs the built parley binary on one SQLite data directory,
// restarted as the test kills it, against a local Twilio-compatible API.
type crashEnv struct {
	t      *testing.T
	bin    string
	data   string
	key    string
	twilio *twiliotest.Server
	srv    *proc.Server
	api    *client.Client
	res    string
}

// start starts "parley serve" sending through twilioURL; a claim is
// leased for twice the 1 s send timeout.
func (e *crashEnv) start(twilioURL string) {
	e.t.Helper()
	e.srv = proc.Start(e.t, e.bin, "--data", e.data, "--twilio-base-url", twilioURL, "--sms-send-timeout", "1s")
	e.api = client.New(e.srv.URL(), e.key)
}

// setup creates an SMS resource bound to the example bot, identifying
// customers by their number, with the Twilio credentials.
func (e *crashEnv) setup() {
	e.t.Helper()
	ctx := context.Background()
	app, err := e.api.CreateApp(ctx, client.CreateAppRequest{Name: "SMS bot"})
	must(e.t, err)
	v, err := e.api.CreateVersion(ctx, app.ID, client.CreateVersionRequest{Definition: examples.ChangeNumberJSON})
	must(e.t, err)
	_, err = e.api.Publish(ctx, app.ID, client.PublishRequest{VersionID: v.ID, Environment: client.EnvProduction})
	must(e.t, err)
	res, err := e.api.CreateChannelResource(ctx, client.CreateChannelResourceRequest{
		Kind: client.KindSMS, Name: "Support line", Address: ourNumber,
		AppID: app.ID, Environment: client.EnvProduction, IdentifyBy: "destination",
	})
	must(e.t, err)
	e.res = res.ID
	_, err = e.api.UpdateChannelResource(ctx, e.res, client.UpdateChannelResourceRequest{
		Secrets: map[string]string{"twilioAccountSid": accountSID, "twilioAuthToken": authToken},
	})
	must(e.t, err)
}

// inbound posts a signed incoming SMS to the running server and returns
// the bot's replies to it, committed with it to the outbox.
func (e *crashEnv) inbound(sid, body string) []client.Message {
	e.t.Helper()
	ctx := context.Background()
	u := e.srv.URL() + "/channels/twilio/" + e.res + "/messages"
	resp, answer, err := twiliotest.Post(ctx, u, authToken, e.twilio.Inbound(sid, customer, ourNumber, body))
	if err != nil || resp.StatusCode != http.StatusOK {
		e.t.Fatalf("inbound %s: %v %v %s", sid, resp, err, answer)
	}
	page, err := e.api.ListConversations(ctx, client.ListConversationsParams{ResourceID: e.res, Limit: 1})
	must(e.t, err)
	if len(page.Items) != 1 {
		e.t.Fatalf("conversations of the SMS resource: %+v, want one", page.Items)
	}
	ms, err := e.api.ListMessages(ctx, page.Items[0].ID, client.ListMessagesParams{Limit: 200})
	must(e.t, err)
	var replies []client.Message
	for _, m := range ms {
		switch {
		case m.ClientID == sid:
			replies = []client.Message{}
		case replies != nil && m.Author == "bot":
			replies = append(replies, m)
		}
	}
	if len(replies) == 0 {
		e.t.Fatalf("no bot reply to %q in %+v", body, ms)
	}
	return replies
}

// waitSMS polls the outbox record of message id through the API until ok.
func (e *crashEnv) waitSMS(id, what string, ok func(client.SMSDelivery) bool) client.SMSDelivery {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		d, err := e.api.GetSMS(context.Background(), id)
		if err == nil && ok(*d) {
			return *d
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("SMS of message %s never became %s: %+v, %v", id, what, d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sent counts the messages the Twilio API accepted with each body.
func (e *crashEnv) sent() map[string]int {
	n := map[string]int{}
	for _, m := range e.twilio.Messages() {
		n[m.Body]++
	}
	return n
}

// killBetweenCommitAndSend kills the parley process (SIGKILL) while the
// bot's replies to an inbound SMS, committed with it, wait to be sent,
// restarts it, and checks that each reply is sent exactly once: first
// with the API unreachable until the crash (nothing left before it), then
// with the API holding the request when the process dies (it may have
// been accepted, so it is never sent again, and a status callback
// settles it).
func killBetweenCommitAndSend(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the parley binary")
	}
	e := &crashEnv{t: t, bin: proc.Build(t), data: t.TempDir(), twilio: twiliotest.New(accountSID, authToken)}
	t.Cleanup(e.twilio.Close)
	// Nothing listens there: an attempt fails before a byte is sent.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	unreachable := "http://" + ln.Addr().String()
	ln.Close()

	e.start(unreachable) // creates the database
	e.key = proc.ShellVars(proc.Run(t, e.bin, "org", "create", "--data", e.data, "--name", "Acme", "--plan", "enterprise"))["PARLEY_KEY"]
	e.api = client.New(e.srv.URL(), e.key)
	e.setup()
	greeting := e.inbound("SM00000000000000000000000000000101", "Hello")
	if len(greeting) != 2 {
		t.Fatalf("the bot's greeting: %+v, want two replies", greeting)
	}
	first := e.waitSMS(greeting[0].ID, "pending after a failed attempt", func(d client.SMSDelivery) bool {
		return d.State == "pending" && d.Attempts >= 1
	})
	// The second reply waits for the first: one conversation's replies go
	// out in order.
	if d, err := e.api.GetSMS(context.Background(), greeting[1].ID); err != nil || d.State != "pending" || d.Attempts != 0 {
		t.Errorf("the second reply while the first waits for a retry: %+v, %v; want pending, never attempted", d, err)
	}
	e.srv.Kill(t)
	if n := e.twilio.Attempts(); n != 0 {
		t.Fatalf("the API got %d requests before the crash, want none", n)
	}

	e.start(e.twilio.URL)
	for i, m := range greeting {
		d := e.waitSMS(m.ID, "accepted after the restart", func(d client.SMSDelivery) bool { return d.State == "accepted" })
		if i == 0 && d.Attempts <= first.Attempts || d.ProviderMessageID == nil {
			t.Errorf("after the restart: %+v; want it accepted (the first reply after more attempts than its %d before the crash)", d, first.Attempts)
		}
	}
	if got := e.twilio.Messages(); len(got) != 2 || got[0].Body != greeting[0].Text || got[1].Body != greeting[1].Text {
		t.Errorf("the API accepted %+v, want the greeting's two replies in order", got)
	}

	// The API holds the next request; the process dies while it waits.
	held, release := e.twilio.Hold()
	retry := e.inbound("SM00000000000000000000000000000102", "my old number")
	select {
	case <-held:
	case <-time.After(20 * time.Second):
		t.Fatal("the reply never reached the API")
	}
	e.srv.Kill(t)
	release() // the API accepts it, as Twilio would have
	for deadline := time.Now().Add(10 * time.Second); e.sent()[retry[0].Text] == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the held request was never accepted")
		}
	}

	e.start(e.twilio.URL)
	e.waitSMS(retry[0].ID, "unknown once the dead worker's lease ran out", func(d client.SMSDelivery) bool { return d.State == "unknown" })
	accepted := e.twilio.Messages()[len(e.twilio.Messages())-1]
	accepted.StatusCallback = e.srv.URL() + "/channels/twilio/" + e.res + "/status?m=" + retry[0].ID
	resp, err := e.twilio.StatusCallback(context.Background(), accepted, "delivered", 0)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("status callback: %v %v", resp, err)
	}
	d := e.waitSMS(retry[0].ID, "accepted by the status callback", func(d client.SMSDelivery) bool { return d.State == "accepted" })
	if d.Status == nil || *d.Status != "delivered" || d.ProviderMessageID == nil || *d.ProviderMessageID != accepted.SID {
		t.Errorf("after the status callback: %+v, want delivered with the provider's sid %s", d, accepted.SID)
	}

	// A later reply goes out: the worker has run since, and sent nothing
	// twice.
	done := e.inbound("SM00000000000000000000000000000103", "+1 555 010 0123")
	e.waitSMS(done[0].ID, "accepted", func(d client.SMSDelivery) bool { return d.State == "accepted" })
	want := map[string]int{}
	for _, m := range slices.Concat(greeting, retry, done) {
		want[m.Text]++
	}
	if got := e.sent(); !maps.Equal(got, want) || len(want) != 4 {
		t.Errorf("the API accepted %v, want each of the bot's 4 replies once: %v", got, want)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
