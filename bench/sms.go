package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"

	"github.com/parleyhq/parley/channel/twilio"
	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/service"
)

// OpSMSInbound names the SMS scenario's measurement: Twilio's webhook for
// an incoming message answered, the message stored, the bot's turn run
// and its replies queued in the outbox, in one transaction.
const OpSMSInbound = "inbound SMS to replies queued"

// smsNumber is the Parley number of the benchmark's SMS resource.
const smsNumber = "+15550100000"

// SMSDriver receives inbound SMS on a resource bound to the example bot.
type SMSDriver interface {
	Name() string
	// SetupSMS publishes the example bot and creates an SMS resource bound
	// to it, identifying customers by their number, with Twilio
	// credentials.
	SetupSMS(ctx context.Context) error
	// Inbound receives one message and returns the bot's replies, or nil
	// when the driver cannot tell (Twilio's webhook answers an empty
	// document: Check looks at the replies afterwards).
	Inbound(ctx context.Context, from, sid, text string) (replies []string, err error)
	// Check verifies, after the measurement, that the bot's replies were
	// queued for sending.
	Check(ctx context.Context) error
}

// RunSMS measures inbound SMS: cfg.Clients customers text the example bot
// at once, each from a number of its own, in process and then through
// Twilio's webhook over HTTP.
func RunSMS(ctx context.Context, cfg Config, httpDriver, inProcess SMSDriver) (Report, error) {
	if cfg.Clients <= 0 || cfg.Clients > 10000 || cfg.Duration <= 0 {
		return Report{}, errors.New("bench: clients (at most 10000) and duration must be positive")
	}
	report := Report{Clients: cfg.Clients, Duration: cfg.Duration}
	area, err := runDigits()
	if err != nil {
		return report, err
	}
	run, err := randomID()
	if err != nil {
		return report, err
	}
	cmp := Comparison{Op: OpSMSInbound}
	var failed error
	for _, d := range []SMSDriver{inProcess, httpDriver} {
		progress(cfg, "setting up %s: the example bot and an SMS resource", d.Name())
		if err := d.SetupSMS(ctx); err != nil {
			return report, fmt.Errorf("bench: setting up %s: %w", d.Name(), err)
		}
		scripts := newScripts(cfg.Clients, area)
		var sids atomic.Int64
		progress(cfg, "measuring %s %s: %d clients for %s", d.Name(), OpSMSInbound, cfg.Clients, cfg.Duration)
		s := measure(ctx, d.Name(), OpSMSInbound, cfg.Clients, cfg.Duration, func(ctx context.Context, i int) error {
			text, want := scripts[i].next()
			sid := fmt.Sprintf("SM%s%022x", run, sids.Add(1))
			replies, err := d.Inbound(ctx, fmt.Sprintf("+1 %s 555 %04d", area, i), sid, text)
			if err == nil && replies != nil {
				err = expectReplies(replies, want...)
			}
			return err
		})
		if err := d.Check(ctx); err != nil && failed == nil {
			failed = fmt.Errorf("bench: checking %s: %w", d.Name(), err)
		}
		if s.FirstErr != nil && failed == nil {
			failed = fmt.Errorf("bench: %d of %d inbound messages failed on %s, first: %w", s.Errors, s.Ops+s.Errors, s.Driver, s.FirstErr)
		}
		if d == inProcess {
			cmp.InProcess = s
		} else {
			cmp.HTTP = s
		}
	}
	report.Comparisons = append(report.Comparisons, cmp)
	return report, failed
}

// HTTPSMS posts Twilio's signed inbound webhook to a server.
type HTTPSMS struct {
	// Client is authenticated with an admin API key of an org holding a
	// valid ENTERPRISE licence; it sets the resource up.
	Client *client.Client
	// BaseURL is the server's http://host:port, as the webhook is signed.
	BaseURL string
	// HTTP posts the webhooks.
	HTTP *http.Client

	resource, inboundURL, authToken string
}

var _ SMSDriver = (*HTTPSMS)(nil)

// Name returns "http".
func (d *HTTPSMS) Name() string { return "http" }

// SetupSMS sets the bot and the resource up through the API.
func (d *HTTPSMS) SetupSMS(ctx context.Context) error {
	app, _, err := publishOverAPI(ctx, d.Client, "bench SMS")
	if err != nil {
		return err
	}
	res, err := d.Client.CreateChannelResource(ctx, client.CreateChannelResourceRequest{
		Kind: client.KindSMS, Name: "bench SMS", Address: smsNumber,
		AppID: app.ID, Environment: client.EnvProduction, IdentifyBy: string(domain.IdentifyByDestination),
	})
	if err != nil {
		return err
	}
	d.authToken = newSecret()
	_, err = d.Client.UpdateChannelResource(ctx, res.ID, client.UpdateChannelResourceRequest{
		Secrets: map[string]string{string(domain.SecretTwilioAccountSID): "AC" + newSecret(), string(domain.SecretTwilioAuthToken): d.authToken},
	})
	d.resource = res.ID
	d.inboundURL = strings.TrimRight(d.BaseURL, "/") + "/channels/twilio/" + url.PathEscape(res.ID) + "/messages"
	return err
}

// Inbound posts the webhook as Twilio does, signed, and checks the empty
// TwiML answer.
func (d *HTTPSMS) Inbound(ctx context.Context, from, sid, text string) ([]string, error) {
	form := url.Values{
		"MessageSid": {sid}, "SmsSid": {sid}, "From": {from}, "To": {smsNumber}, "Body": {text},
		"NumMedia": {"0"}, "NumSegments": {"1"}, "SmsStatus": {"received"}, "ApiVersion": {"2010-04-01"},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.inboundURL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(twilio.SignatureHeader, twilio.Signature(d.authToken, d.inboundURL, form))
	resp, err := d.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte("<Response></Response>")) {
		return nil, fmt.Errorf("webhook answered %d %s", resp.StatusCode, body)
	}
	return nil, nil
}

// Check reads the newest conversations of the resource through the API:
// every customer message is followed by the bot's replies, each queued in
// the SMS outbox.
func (d *HTTPSMS) Check(ctx context.Context) error {
	page, err := d.Client.ListConversations(ctx, client.ListConversationsParams{ResourceID: d.resource, Limit: 20})
	if err != nil {
		return err
	}
	if len(page.Items) == 0 {
		return errors.New("no conversation on the SMS resource")
	}
	for _, c := range page.Items {
		ms, err := d.Client.ListMessages(ctx, c.ID, client.ListMessagesParams{Limit: 200})
		if err != nil {
			return err
		}
		for i, m := range ms {
			if m.Author == "customer" && (i+1 == len(ms) || ms[i+1].Author != "bot") {
				return fmt.Errorf("conversation %s: no bot reply after %q", c.ID, m.Text)
			}
			if m.Author != "bot" {
				continue
			}
			if _, err := d.Client.GetSMS(ctx, m.ID); err != nil {
				return fmt.Errorf("the bot's reply %s is not in the SMS outbox: %w", m.ID, err)
			}
		}
	}
	return nil
}

// InProcessSMS hands inbound messages to the service as the webhook does
// (service.ReceiveSMS), for the in-process figure.
type InProcessSMS struct {
	Service *service.Service
	// Org must hold a valid ENTERPRISE licence.
	Org domain.OrgID

	resource domain.ResourceID
}

var _ SMSDriver = (*InProcessSMS)(nil)

// Name returns "in-process".
func (d *InProcessSMS) Name() string { return "in-process" }

// SetupSMS sets the bot and the resource up through the service.
func (d *InProcessSMS) SetupSMS(ctx context.Context) error {
	app, _, err := publishInProcess(ctx, d.Service, d.Org, "bench SMS")
	if err != nil {
		return err
	}
	res, err := d.Service.CreateResource(ctx, d.Org, service.ResourceInput{
		Kind: domain.ResourceSMS, Name: "bench SMS", Address: smsNumber,
		AppID: app.ID, Environment: domain.EnvProduction, IdentifyBy: domain.IdentifyByDestination,
	})
	if err != nil {
		return err
	}
	_, _, err = d.Service.UpdateResource(ctx, d.Org, res.ID, service.ResourceUpdate{Settings: service.ChannelSettingsInput{
		Secrets: map[domain.SecretName]string{domain.SecretTwilioAccountSID: "AC" + newSecret(), domain.SecretTwilioAuthToken: newSecret()},
	}})
	d.resource = res.ID
	return err
}

// Inbound receives the message through the service.
func (d *InProcessSMS) Inbound(ctx context.Context, from, sid, text string) ([]string, error) {
	rec, err := d.Service.ReceiveSMS(ctx, d.Org, service.Inbound{ResourceID: d.resource, Destination: from, Text: text, ClientID: sid})
	if err != nil {
		return nil, err
	}
	return domainTexts(rec.Replies), nil
}

// Check has nothing to do: Inbound saw the replies.
func (d *InProcessSMS) Check(context.Context) error { return nil }

func newSecret() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
