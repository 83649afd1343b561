package twilio_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleyhq/parley/channel"
	"github.com/parleyhq/parley/channel/twilio"
	"github.com/parleyhq/parley/channel/twilio/twiliotest"
	"github.com/parleyhq/parley/clock"
	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/examples"
	"github.com/parleyhq/parley/httpapi"
	"github.com/parleyhq/parley/identifier"
	"github.com/parleyhq/parley/ids"
	"github.com/parleyhq/parley/license"
	"github.com/parleyhq/parley/service"
	"github.com/parleyhq/parley/sqlite"
)

const (
	accountSID = "AC0123456789abcdef0123456789abcdef"
	authToken  = "0123456789abcdef0123456789abcdef"
	ourNumber  = "+15550100000"
	customer   = "+15550100042"
)

// smsEnv is a Parley server (real SQLite file, the HTTP API with the
// Twilio channel, the outbox worker) and a local Twilio-compatible API.
type smsEnv struct {
	t      *testing.T
	svc    *service.Service
	store  *sqlite.DB
	org    domain.OrgID
	res    domain.ChannelResource
	twilio *twiliotest.Server
	srv    *httptest.Server
}

func newSMSEnv(t *testing.T) *smsEnv {
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "parley.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	pub, _, _ := license.GenerateKey()
	svc := service.New(service.Config{
		Store: store, Clock: clock.System{}, IDs: ids.Random{},
		Licenses: license.NewVerifier(pub), Identifiers: identifier.Normalizer{},
	})
	fake := twiliotest.New(accountSID, authToken)
	t.Cleanup(fake.Close)
	metrics := channel.NewMetrics(prometheus.NewRegistry())
	e := &smsEnv{t: t, svc: svc, store: store, twilio: fake}
	handler := &twilio.Handler{Service: svc, Metrics: metrics}
	e.srv = httptest.NewServer(httpapi.New(httpapi.Config{
		Service: svc, Store: store, Metrics: prometheus.NewRegistry(),
		Channels: httpapi.Channels{TwilioInbound: handler.Inbound, TwilioStatus: handler.Status},
	}))
	t.Cleanup(e.srv.Close)
	worker := &twilio.Worker{Service: svc, BaseURL: fake.URL, PublicBaseURL: e.srv.URL, Notifier: store,
		SendTimeout: 2 * time.Second, Metrics: metrics}
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); worker.Run(wctx) }()
	t.Cleanup(func() { stop(); <-done })

	org, _, err := svc.CreateOrg(ctx, "Acme")
	if err != nil {
		t.Fatal(err)
	}
	e.org = org.ID
	app, err := svc.CreateApp(ctx, e.org, "SMS bot")
	if err != nil {
		t.Fatal(err)
	}
	v, err := svc.CreateVersion(ctx, e.org, app.ID, examples.ChangeNumberJSON)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Publish(ctx, e.org, app.ID, v.ID, domain.EnvProduction); err != nil {
		t.Fatal(err)
	}
	e.res, err = svc.CreateResource(ctx, e.org, service.ResourceInput{
		Kind: domain.ResourceSMS, Name: "Support line", Address: ourNumber,
		AppID: app.ID, Environment: domain.EnvProduction, IdentifyBy: domain.IdentifyByDestination,
	})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = svc.UpdateResource(ctx, e.org, e.res.ID, service.ResourceUpdate{Settings: service.ChannelSettingsInput{
		Secrets: map[domain.SecretName]string{domain.SecretTwilioAccountSID: accountSID, domain.SecretTwilioAuthToken: authToken},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *smsEnv) inboundURL() string {
	return e.srv.URL + "/channels/twilio/" + string(e.res.ID) + "/messages"
}

// inbound posts a signed incoming SMS and returns the status.
func (e *smsEnv) inbound(sid, body string) int {
	e.t.Helper()
	resp, answer, err := twiliotest.Post(context.Background(), e.inboundURL(), authToken, e.twilio.Inbound(sid, customer, ourNumber, body))
	if err != nil {
		e.t.Fatal(err)
	}
	if resp.StatusCode == http.StatusOK && !strings.Contains(string(answer), "<Response></Response>") {
		e.t.Errorf("inbound answer %q, want an empty TwiML document", answer)
	}
	return resp.StatusCode
}

// conversation returns the live conversation of the customer.
func (e *smsEnv) conversation() domain.Conversation {
	e.t.Helper()
	cs, err := e.svc.ListConversations(context.Background(), e.org, domain.ConversationFilter{ResourceID: e.res.ID, Status: domain.StatusLive, Limit: 10})
	if err != nil || len(cs) != 1 {
		e.t.Fatalf("live conversations: %v, %v; want one", cs, err)
	}
	return cs[0]
}

// storedMessages counts the messages of every conversation of the
// resource.
func (e *smsEnv) storedMessages() int {
	e.t.Helper()
	cs, err := e.svc.ListConversations(context.Background(), e.org, domain.ConversationFilter{ResourceID: e.res.ID, Limit: 200})
	if err != nil {
		e.t.Fatal(err)
	}
	n := 0
	for _, c := range cs {
		n += len(e.messages(c.ID))
	}
	return n
}

func (e *smsEnv) messages(conv domain.ConversationID) []domain.Message {
	e.t.Helper()
	ms, err := e.svc.ListMessages(context.Background(), e.org, conv, 0, 200)
	if err != nil {
		e.t.Fatal(err)
	}
	return ms
}

// botReplies returns the bot's messages after seq in conv.
func (e *smsEnv) botReplies(conv domain.ConversationID, after int64) []domain.Message {
	e.t.Helper()
	var out []domain.Message
	for _, m := range e.messages(conv) {
		if m.Seq > after && m.Author == domain.AuthorBot {
			out = append(out, m)
		}
	}
	return out
}

// lastSeq is the sequence number of conv's last message.
func (e *smsEnv) lastSeq(conv domain.ConversationID) int64 {
	ms := e.messages(conv)
	return ms[len(ms)-1].Seq
}

// reply writes an operator's message, which the outbox sends.
func (e *smsEnv) reply(conv domain.ConversationID, text string) domain.MessageID {
	e.t.Helper()
	rec, err := e.svc.AddMessage(context.Background(), e.org, conv, domain.Outbound, text, "")
	if err != nil {
		e.t.Fatal(err)
	}
	return rec.Message.ID
}

// waitSMS waits until the outbox record of id satisfies ok.
func (e *smsEnv) waitSMS(id domain.MessageID, what string, ok func(domain.SMSOutbound) bool) domain.SMSOutbound {
	e.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		m, err := e.svc.GetSMS(context.Background(), e.org, id)
		if err == nil && ok(m) {
			return m
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("outbound %s never became %s: %+v, %v", id, what, m, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func accepted(m domain.SMSOutbound) bool { return m.State == domain.SMSAccepted }

// sentBodies returns the bodies the Twilio API accepted.
func (e *smsEnv) sentBodies() []string {
	var out []string
	for _, m := range e.twilio.Messages() {
		out = append(out, m.Body)
	}
	return out
}

// TestTwilioSMS runs the SMS channel, bound to the example bot
// (examples/change-number), against a local Twilio-compatible API: an
// inbound message to the bot's replies sent, a retried webhook stored
// once, refused requests and bad forms storing nothing, 500 then 201
// giving one send, status callbacks out of order, STOP and START, and
// 21610; and, with the built binary, kill -9 between commit and send
// giving one send after restart.
func TestTwilioSMS(t *testing.T) {
	e := newSMSEnv(t)
	ctx := context.Background()

	if got := e.inbound("SM00000000000000000000000000000001", "Hello"); got != http.StatusOK {
		t.Fatalf("inbound: HTTP %d", got)
	}
	conv := e.conversation()
	if conv.CustomerDestination != customer || conv.IdentifierAtStart != "tel:"+customer {
		t.Errorf("conversation %+v: want destination %s identified as tel:%s", conv, customer, customer)
	}
	// The bot answered in the webhook's transaction; the outbox sends it.
	greeting := e.botReplies(conv.ID, 0)
	if len(greeting) != 2 || !strings.HasPrefix(greeting[0].Text, "Hi!") || !strings.HasPrefix(greeting[1].Text, "What is your new phone number?") {
		t.Fatalf("the bot's replies: %+v, want its greeting and question", greeting)
	}
	for _, m := range greeting {
		e.waitSMS(m.ID, "accepted", accepted)
	}
	// One conversation's replies go out one at a time, in order.
	if got := e.sentBodies(); !slices.Equal(got, []string{greeting[0].Text, greeting[1].Text}) {
		t.Fatalf("the API accepted %q, want the bot's two replies once each, in order", got)
	}
	for _, m := range e.twilio.Messages() {
		if m.To != customer || m.From != ourNumber {
			t.Errorf("sent %+v, want from %s to %s", m, ourNumber, customer)
		}
	}
	// Twilio retries a webhook it got no answer for: same MessageSid.
	if got := e.inbound("SM00000000000000000000000000000001", "Hello"); got != http.StatusOK {
		t.Fatalf("retried inbound: HTTP %d", got)
	}
	if ms := e.messages(conv.ID); len(ms) != 3 || ms[0].Text != "Hello" || ms[0].ClientID != "SM00000000000000000000000000000001" {
		t.Fatalf("messages after a retried webhook: %+v, want the message and the bot's two replies", ms)
	}

	t.Run("refused requests store nothing", func(t *testing.T) {
		form := e.twilio.Inbound("SM00000000000000000000000000000002", customer, ourNumber, "forged")
		for _, tc := range []struct {
			name, url, signature, contentType string
			want                              int
		}{
			{"no signature", e.inboundURL(), "", "", http.StatusForbidden},
			{"wrong token", e.inboundURL(), twilio.Signature("not-the-token", e.inboundURL(), form), "", http.StatusForbidden},
			{"signed for another URL", e.inboundURL(), twilio.Signature(authToken, "https://elsewhere.example/x", form), "", http.StatusForbidden},
			{"unknown resource", e.srv.URL + "/channels/twilio/res_nope/messages", "x", "", http.StatusNotFound},
		} {
			resp, body, err := twiliotest.PostSigned(ctx, tc.url, form, tc.signature)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.want || !strings.Contains(resp.Header.Get("Content-Type"), "problem+json") {
				t.Errorf("%s: HTTP %d %s %s, want %d problem", tc.name, resp.StatusCode, resp.Header.Get("Content-Type"), body, tc.want)
			}
		}
		req, _ := http.NewRequest(http.MethodPost, e.inboundURL(), strings.NewReader(`{"Body":"json"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(twilio.SignatureHeader, "x")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("a JSON body: HTTP %d, want 400", resp.StatusCode)
		}
		if ms := e.messages(conv.ID); len(ms) != 3 {
			t.Errorf("refused requests stored messages: %+v", ms)
		}
	})

	t.Run("bad forms refused, nothing stored", func(t *testing.T) {
		before := e.storedMessages()
		with := func(name, value string) url.Values {
			form := e.twilio.Inbound("SM00000000000000000000000000000009", customer, ourNumber, "Hi")
			form.Set(name, value)
			if value == "" {
				form.Del(name)
			}
			return form
		}
		malformed := "MessageSid=SM1&From=%2B15550100042&Body=%zz"
		for _, tc := range []struct {
			name string
			raw  string     // an unsigned raw body, or
			form url.Values // a form signed with the auth token
			want int
		}{
			{"malformed form", malformed, nil, http.StatusBadRequest},
			{"oversized form", strings.Repeat("a", 70<<10), nil, http.StatusRequestEntityTooLarge},
			{"no MessageSid", "", with("MessageSid", ""), http.StatusBadRequest},
			{"no From", "", with("From", ""), http.StatusBadRequest},
			{"From not a phone number", "", with("From", "hello"), http.StatusBadRequest},
			{"Body not UTF-8", "", with("Body", "caf\xe9"), http.StatusBadRequest},
			{"MessageSid too long", "", with("MessageSid", "SM"+strings.Repeat("0", 300)), http.StatusBadRequest},
		} {
			body, sig := tc.raw, "x"
			if tc.form != nil {
				body, sig = tc.form.Encode(), twilio.Signature(authToken, e.inboundURL(), tc.form)
			}
			req, _ := http.NewRequest(http.MethodPost, e.inboundURL(), strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set(twilio.SignatureHeader, sig)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			answer, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want || !strings.Contains(resp.Header.Get("Content-Type"), "problem+json") {
				t.Errorf("%s: HTTP %d %s, want a %d problem", tc.name, resp.StatusCode, answer, tc.want)
			}
		}
		if after := e.storedMessages(); after != before {
			t.Errorf("bad forms stored %d messages", after-before)
		}
	})

	t.Run("status callbacks", func(t *testing.T) {
		id := greeting[0].ID
		m := e.waitSMS(id, "accepted", accepted)
		var sent []twiliotest.Message
		for _, msg := range e.twilio.Messages() {
			if msg.SID == m.ProviderID {
				sent = append(sent, msg)
			}
		}
		if len(sent) != 1 || sent[0].Body != greeting[0].Text {
			t.Fatalf("the API accepted %+v as %s, want the bot's greeting", sent, m.ProviderID)
		}
		if want := e.srv.URL + "/channels/twilio/" + string(e.res.ID) + "/status?m=" + url.QueryEscape(string(id)); sent[0].StatusCallback != want {
			t.Errorf("StatusCallback %q, want %q", sent[0].StatusCallback, want)
		}

		// Callbacks out of order: delivered first, then the older ones.
		for _, status := range []string{"delivered", "sent", "queued", "sending"} {
			resp, err := e.twilio.StatusCallback(ctx, sent[0], status, 0)
			if err != nil || resp.StatusCode != http.StatusNoContent {
				t.Fatalf("status callback %s: %v %v", status, resp, err)
			}
		}
		if m, _ := e.svc.GetSMS(ctx, e.org, id); m.Status != "delivered" {
			t.Errorf("status after callbacks delivered, sent, queued, sending: %q, want delivered", m.Status)
		}
		forged := sent[0]
		forged.StatusCallback = sent[0].StatusCallback
		resp, _, err := twiliotest.PostSigned(ctx, forged.StatusCallback, url.Values{"MessageSid": {forged.SID}, "MessageStatus": {"failed"}}, "forged")
		if err != nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("a forged status callback: %v %v, want 403", resp, err)
		}
	})

	t.Run("500 then 201 sends once", func(t *testing.T) {
		before := len(e.twilio.Messages())
		attempts := e.twilio.Attempts()
		e.twilio.FailNext(http.StatusInternalServerError, http.StatusTooManyRequests)
		id := e.reply(conv.ID, "After a failure")
		m := e.waitSMS(id, "accepted", accepted)
		if m.Attempts != 3 || e.twilio.Attempts()-attempts != 3 {
			t.Errorf("outbox attempts %d, API requests %d; want 3 (500, 429, 201)", m.Attempts, e.twilio.Attempts()-attempts)
		}
		if got := e.sentBodies()[before:]; len(got) != 1 || got[0] != "After a failure" {
			t.Errorf("the API accepted %q, want it once", got)
		}
	})

	t.Run("STOP and START", func(t *testing.T) {
		before := len(e.twilio.Messages())
		seq := e.lastSeq(conv.ID)
		if got := e.inbound("SM00000000000000000000000000000003", "stop "); got != http.StatusOK {
			t.Fatalf("STOP: HTTP %d", got)
		}
		// The bot still answers (STOP is not a phone number); the answer
		// is recorded and not sent, and so is an operator's.
		notSent := e.botReplies(conv.ID, seq)
		if len(notSent) != 1 {
			t.Fatalf("the bot's answer to STOP: %+v, want one", notSent)
		}
		opted := func(m domain.SMSOutbound) bool { return m.State == domain.SMSOptedOut }
		e.waitSMS(notSent[0].ID, "opted_out", opted)
		id := e.reply(conv.ID, "Not for someone who said STOP")
		if m := e.waitSMS(id, "opted_out", opted); m.ProviderID != "" || m.Attempts != 0 {
			t.Errorf("opted-out reply was attempted: %+v", m)
		}
		seq = e.lastSeq(conv.ID)
		if e.inbound("SM00000000000000000000000000000004", "START") != http.StatusOK {
			t.Fatal("START refused")
		}
		answer := e.botReplies(conv.ID, seq)
		if len(answer) != 1 {
			t.Fatalf("the bot's answer to START: %+v, want one", answer)
		}
		e.waitSMS(answer[0].ID, "accepted", accepted)
		id = e.reply(conv.ID, "Welcome back")
		e.waitSMS(id, "accepted", accepted)
		if got := e.sentBodies()[before:]; !sameSet(got, []string{answer[0].Text, "Welcome back"}) {
			t.Errorf("sent after STOP, replies, START, replies: %q, want only the replies after START", got)
		}
		// Twilio's own opt-out list: the API refuses with 21610.
		e.twilio.OptOut(customer)
		id = e.reply(conv.ID, "Refused by the API")
		e.waitSMS(id, "opted_out", func(m domain.SMSOutbound) bool { return m.State == domain.SMSOptedOut && m.ErrorCode == "21610" })
		id = e.reply(conv.ID, "Not even attempted")
		e.waitSMS(id, "opted_out", func(m domain.SMSOutbound) bool { return m.State == domain.SMSOptedOut && m.Attempts == 0 })
	})

	t.Run("kill -9 between commit and send", killBetweenCommitAndSend)
}

// sameSet reports whether got and want hold the same strings, as many
// times each, in any order (the outbox sends replies concurrently).
func sameSet(got, want []string) bool {
	return slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want)))
}
