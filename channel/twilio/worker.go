package twilio

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/parleyhq/parley/channel"
	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/service"
)

// Worker defaults.
const (
	DefaultSendTimeout = 30 * time.Second
	defaultPoll        = time.Second
	defaultConcurrency = 8
)

// Worker sends the SMS outbox through the Messages API, one message of a
// conversation at a time, in the conversation's order. Workers in
// several processes share the outbox: each message is claimed by one of
// them, with a lease of twice the send timeout, so a live worker always
// records its answer (or gives up on the request) before its lease ends;
// a claim whose lease ran out belongs to a worker that stopped, and its
// message is never sent again (service.ClaimSMS).
type Worker struct {
	Service *service.Service
	// BaseURL is the Messages API's (DefaultBaseURL when empty).
	BaseURL string
	// PublicBaseURL is where Twilio reaches this server, for the status
	// callback URL sent with each message; "" sends none.
	PublicBaseURL string
	// Notifier wakes the worker when a message is queued (optional: it
	// also polls every second).
	Notifier domain.Notifier
	// SendTimeout bounds one API request (DefaultSendTimeout when 0).
	SendTimeout time.Duration
	// Concurrency is how many requests run at once (8 when 0).
	Concurrency int
	Logger      *slog.Logger
	Metrics     *channel.Metrics
}

// Run sends until ctx ends, then waits for the requests in flight.
func (w *Worker) Run(ctx context.Context) {
	log := w.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	timeout := w.SendTimeout
	if timeout <= 0 {
		timeout = DefaultSendTimeout
	}
	concurrency := w.Concurrency
	if concurrency <= 0 {
		concurrency = defaultConcurrency
	}
	client := &Client{BaseURL: w.BaseURL, HTTP: &http.Client{Timeout: timeout}}
	wake := make(chan struct{}, 1)
	if w.Notifier != nil {
		cancel := w.Notifier.Subscribe(domain.TopicSMS, func(string) {
			select {
			case wake <- struct{}{}:
			default:
			}
		})
		defer cancel()
	}
	slots := make(chan struct{}, concurrency)
	var inflight sync.WaitGroup
	defer inflight.Wait()
	poll := time.NewTicker(defaultPoll)
	defer poll.Stop()
	for {
		free := concurrency - len(slots)
		var claimed []domain.SMSOutbound
		if free > 0 {
			var err error
			claimed, err = w.Service.ClaimSMS(ctx, newClaim(), 2*timeout, free)
			if err != nil && ctx.Err() == nil {
				log.Warn("sms outbox: claiming failed", "err", err)
			}
		}
		for _, m := range claimed {
			slots <- struct{}{}
			inflight.Add(1)
			go func() {
				defer func() { <-slots; inflight.Done() }()
				w.send(context.WithoutCancel(ctx), client, m, log)
				// The conversation's next message may be claimed now.
				select {
				case wake <- struct{}{}:
				default:
				}
			}()
		}
		if len(claimed) > 0 && len(claimed) == free {
			continue // more may be due
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-poll.C:
		}
	}
}

// send makes one attempt and records it. Its context is not the worker's:
// a request in flight at shutdown finishes (within SendTimeout) and its
// answer is recorded.
func (w *Worker) send(ctx context.Context, client *Client, m domain.SMSOutbound, log *slog.Logger) {
	attempt := w.attempt(ctx, client, m)
	status := "sent"
	switch {
	case attempt.ProviderID != "":
	case attempt.OptedOut:
		status = "opted_out"
	case attempt.Ambiguous:
		status = "unknown"
	case attempt.Retry:
		status = "retry"
	default:
		status = "failed"
	}
	w.Metrics.Message("sms", "out", status)
	if status != "sent" {
		log.Warn("sms outbox: send attempt failed", "message", m.MessageID, "org", m.OrgID,
			"attempt", m.Attempts, "outcome", status, "error", attempt.ErrorMessage)
	}
	if err := w.Service.RecordSMSAttempt(ctx, m, attempt); err != nil {
		log.Error("sms outbox: recording an attempt failed; its lease will mark it unknown", "message", m.MessageID, "err", err)
	}
}

// attempt sends m once.
func (w *Worker) attempt(ctx context.Context, client *Client, m domain.SMSOutbound) service.SMSAttempt {
	ch, err := w.Service.LoadChannel(ctx, m.ResourceID, domain.ResourceSMS)
	if err != nil {
		return service.SMSAttempt{Retry: true, ErrorMessage: "loading the resource: " + err.Error()}
	}
	creds := Credentials{AccountSID: ch.Secret(domain.SecretTwilioAccountSID), AuthToken: ch.Secret(domain.SecretTwilioAuthToken)}
	if creds.AccountSID == "" || creds.AuthToken == "" {
		return service.SMSAttempt{Retry: true, ErrorMessage: "the resource has no twilioAccountSid and twilioAuthToken secrets; set them with PATCH /v1/channel-resources/" + string(m.ResourceID)}
	}
	start := time.Now()
	accepted, err := client.Send(ctx, creds, Outgoing{From: m.From, To: m.To, Body: m.Body, StatusCallback: w.statusCallback(m)})
	w.Metrics.Sent("sms", time.Since(start))
	if err == nil {
		return service.SMSAttempt{ProviderID: accepted.SID, Status: accepted.Status}
	}
	se, _ := AsSendError(err)
	if se == nil {
		se = &SendError{Message: err.Error(), Ambiguous: true}
	}
	a := service.SMSAttempt{
		Retry: se.Retryable, Ambiguous: se.Ambiguous, RetryAfter: se.RetryAfter,
		OptedOut: se.Code == ErrorUnsubscribed, ErrorMessage: se.Error(),
	}
	if se.Code != 0 {
		a.ErrorCode = strconv.Itoa(se.Code)
	}
	return a
}

// statusCallback is the URL Twilio reports m's status changes to.
func (w *Worker) statusCallback(m domain.SMSOutbound) string {
	if w.PublicBaseURL == "" {
		return ""
	}
	return strings.TrimRight(w.PublicBaseURL, "/") + "/channels/twilio/" + url.PathEscape(string(m.ResourceID)) +
		"/status?m=" + url.QueryEscape(string(m.MessageID))
}

func newClaim() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
