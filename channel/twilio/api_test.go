package twilio_test

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/parleyhq/parley/channel/twilio"
	"github.com/parleyhq/parley/channel/twilio/twiliotest"
)

func TestClientVerdicts(t *testing.T) {
	srv := twiliotest.New("AC123", "secret-token")
	defer srv.Close()
	creds := twilio.Credentials{AccountSID: "AC123", AuthToken: "secret-token"}
	msg := twilio.Outgoing{From: "+15550100000", To: "+15550100001", Body: "hello", StatusCallback: "http://127.0.0.1/cb"}
	ctx := context.Background()
	c := &twilio.Client{BaseURL: srv.URL}

	a, err := c.Send(ctx, creds, msg)
	if err != nil || a.SID == "" || a.Status != "queued" {
		t.Fatalf("Send = %+v, %v; want an accepted message", a, err)
	}
	if got := srv.Messages(); len(got) != 1 || got[0].Body != "hello" || got[0].StatusCallback != msg.StatusCallback || got[0].SID != a.SID {
		t.Fatalf("server recorded %+v", got)
	}

	verdict := func(err error) string {
		se, ok := twilio.AsSendError(err)
		switch {
		case !ok:
			return "not a SendError"
		case se.Retryable:
			return "retryable"
		case se.Ambiguous:
			return "ambiguous"
		default:
			return "refused"
		}
	}
	srv.FailNext(http.StatusInternalServerError, http.StatusTooManyRequests)
	for _, want := range []string{"retryable", "retryable"} {
		if _, err := c.Send(ctx, creds, msg); verdict(err) != want {
			t.Errorf("scripted failure: %v is %s, want %s", err, verdict(err), want)
		}
	}
	if _, err := c.Send(ctx, twilio.Credentials{AccountSID: "AC123", AuthToken: "wrong"}, msg); verdict(err) != "refused" {
		t.Errorf("bad auth: %v is %s, want refused", err, verdict(err))
	}
	srv.OptOut(msg.To)
	_, err = c.Send(ctx, creds, msg)
	if se, _ := twilio.AsSendError(err); se == nil || se.Code != twilio.ErrorUnsubscribed || se.Retryable || se.Ambiguous {
		t.Errorf("opted-out recipient: %v, want refusal with code 21610", err)
	}

	// Nothing listens: the request never left, so it may be retried.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := "http://" + ln.Addr().String()
	ln.Close()
	if _, err := (&twilio.Client{BaseURL: closed}).Send(ctx, creds, msg); verdict(err) != "retryable" {
		t.Errorf("connection refused: %v is %s, want retryable", err, verdict(err))
	}

	// The request arrived and no answer came: ambiguous, never retried.
	held, release := srv.Hold()
	defer release()
	quick := &twilio.Client{BaseURL: srv.URL, HTTP: &http.Client{Timeout: 300 * time.Millisecond}}
	_, err = quick.Send(ctx, creds, twilio.Outgoing{From: msg.From, To: "+15550100002", Body: "held"})
	<-held
	if verdict(err) != "ambiguous" {
		t.Errorf("timeout after sending: %v is %s, want ambiguous", err, verdict(err))
	}
	if srv.Refused() != 1 {
		t.Errorf("the server refused %d requests for auth or fields, want 1 (the wrong token)", srv.Refused())
	}
}
