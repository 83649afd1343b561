package twilio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultBaseURL is the real Messages API.
const DefaultBaseURL = "https://api.twilio.com"

// ErrorUnsubscribed is Twilio's error code for a message to a recipient
// who replied STOP ("Attempt to send to unsubscribed recipient").
const ErrorUnsubscribed = 21610

// Credentials authenticate Messages API requests (HTTP Basic auth).
type Credentials struct {
	AccountSID string
	AuthToken  string
}

// Outgoing is one message to send.
type Outgoing struct {
	From, To, Body string
	// StatusCallback is the URL Twilio posts the message's status
	// changes to ("" for none).
	StatusCallback string
}

// Accepted is the API's answer to an accepted message.
type Accepted struct {
	SID    string `json:"sid"`
	Status string `json:"status"`
}

// Client sends messages through a Twilio-compatible Messages API.
type Client struct {
	// BaseURL is the API's scheme and host, DefaultBaseURL when empty.
	BaseURL string
	// HTTP sends the requests; http.DefaultClient when nil. Its timeout
	// (or the context's) bounds a request.
	HTTP *http.Client
}

// SendError is a failed send. Exactly one of its verdicts holds:
// Retryable (the API certainly did not accept the message: a connection
// that never carried the whole request, 429, or 5xx), Ambiguous (the
// request was sent and no answer came back: the API may have accepted it,
// so sending again could deliver it twice), or neither: the API refused
// the message for good (4xx).
type SendError struct {
	HTTPStatus int    // 0 when no response came
	Code       int    // Twilio's error code, 0 when none
	Message    string // Twilio's or the transport's message
	Retryable  bool
	Ambiguous  bool
	// RetryAfter is the delay the API asked for (Retry-After), 0 if none.
	RetryAfter time.Duration
}

func (e *SendError) Error() string {
	switch {
	case e.HTTPStatus != 0 && e.Code != 0:
		return fmt.Sprintf("twilio: HTTP %d, error %d: %s", e.HTTPStatus, e.Code, e.Message)
	case e.HTTPStatus != 0:
		return fmt.Sprintf("twilio: HTTP %d: %s", e.HTTPStatus, e.Message)
	default:
		return "twilio: " + e.Message
	}
}

// Send posts msg to the account's Messages resource. A non-nil error is a
// *SendError saying whether the message may have been accepted.
func (c *Client) Send(ctx context.Context, creds Credentials, msg Outgoing) (Accepted, error) {
	form := url.Values{"To": {msg.To}, "From": {msg.From}, "Body": {msg.Body}}
	if msg.StatusCallback != "" {
		form.Set("StatusCallback", msg.StatusCallback)
	}
	base := c.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	endpoint := strings.TrimRight(base, "/") + "/2010-04-01/Accounts/" + url.PathEscape(creds.AccountSID) + "/Messages.json"
	// written is set once the whole request went out: from then on, a
	// failure leaves the outcome unknown.
	written := false
	trace := &httptrace.ClientTrace{WroteRequest: func(info httptrace.WroteRequestInfo) {
		written = written || info.Err == nil
	}}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return Accepted{}, &SendError{Message: err.Error()}
	}
	req.SetBasicAuth(creds.AccountSID, creds.AuthToken)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	// A request is never sent again on another connection by the
	// transport: that is this package's caller's decision.
	req.GetBody = nil
	httpClient := c.HTTP
	if httpClient == nil {
		httpClient = http.DefaultClient
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return Accepted{}, &SendError{Message: err.Error(), Retryable: !written, Ambiguous: written}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil && resp.StatusCode/100 == 2 {
		// Accepted, but the answer was cut: the sid is unknown.
		return Accepted{}, &SendError{HTTPStatus: resp.StatusCode, Message: "reading the answer: " + err.Error(), Ambiguous: true}
	}
	if resp.StatusCode/100 == 2 {
		var a Accepted
		if err := json.Unmarshal(body, &a); err != nil || a.SID == "" {
			return Accepted{}, &SendError{HTTPStatus: resp.StatusCode, Message: "answer without a message sid", Ambiguous: true}
		}
		return a, nil
	}
	return Accepted{}, refusal(resp, body)
}

// refusal describes a non-2xx answer.
func refusal(resp *http.Response, body []byte) *SendError {
	var e struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	_ = json.Unmarshal(body, &e)
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	se := &SendError{HTTPStatus: resp.StatusCode, Code: e.Code, Message: e.Message}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
		se.Retryable = true
		if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 {
			se.RetryAfter = time.Duration(secs) * time.Second
		}
	}
	return se
}

// AsSendError returns the *SendError in err's chain, if any.
func AsSendError(err error) (*SendError, bool) {
	var se *SendError
	ok := errors.As(err, &se)
	return se, ok
}
