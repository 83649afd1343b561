package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Limits of one delivery request.
const (
	// DefaultTimeout bounds a whole request, answer included.
	DefaultTimeout = 15 * time.Second
	// maxResponseRead is how much of an answer is read (the rest is
	// dropped with the connection).
	maxResponseRead = 64 << 10
	// excerptLen is how much of an answer the attempt log keeps.
	excerptLen = 1024
	userAgent  = "Parley-Webhooks/1"
)

// Sender makes the HTTP requests of deliveries: through the Guard's
// dialer, without proxies, without following redirects, reading at most
// 64 KiB of each answer, within a timeout.
type Sender struct {
	client *http.Client
}

// NewSender returns a Sender dialling through guard, each request bounded
// by timeout (DefaultTimeout when 0), keeping up to conns idle
// connections per host.
func NewSender(guard *Guard, timeout time.Duration, conns int) *Sender {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	transport := &http.Transport{
		Proxy:                 nil, // a proxy would hide the address the guard must check
		DialContext:           guard.DialContext,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: timeout,
		MaxIdleConns:          4 * conns,
		MaxIdleConnsPerHost:   conns,
		IdleConnTimeout:       90 * time.Second,
	}
	return &Sender{client: &http.Client{
		Transport: transport,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // a 3xx is an answer, and a failure
		},
	}}
}

// Message is one signed request of a delivery.
type Message struct {
	URL string
	// ID is the webhook-id (the event id), the same on every attempt.
	ID        string
	Timestamp time.Time
	Body      []byte
	// Secrets sign the message; the first is current, a second one is the
	// replaced secret during a rotation's overlap.
	Secrets []string
}

// Outcome is what one attempt got.
type Outcome struct {
	Status  int // 0 when no answer came
	Latency time.Duration
	Excerpt string // the start of the answer's body, valid UTF-8
	Err     error  // why no answer came, or the request could not be made
}

// OK reports whether the endpoint accepted the message (2xx).
func (o Outcome) OK() bool { return o.Err == nil && o.Status >= 200 && o.Status < 300 }

// Describe says why a failed attempt failed.
func (o Outcome) Describe() string {
	if o.Err != nil {
		return o.Err.Error()
	}
	return "HTTP " + strconv.Itoa(o.Status) + " " + http.StatusText(o.Status)
}

// Send POSTs m, signed with every secret of m.
func (s *Sender) Send(ctx context.Context, m Message) Outcome {
	signature, err := SignatureHeader(m.Secrets, m.ID, m.Timestamp, m.Body)
	if err != nil {
		return Outcome{Err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.URL, bytes.NewReader(m.Body))
	if err != nil {
		return Outcome{Err: fmt.Errorf("invalid request: %w", err)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("webhook-id", m.ID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(m.Timestamp.Unix(), 10))
	req.Header.Set("webhook-signature", signature)
	start := time.Now()
	resp, err := s.client.Do(req)
	if err != nil {
		return Outcome{Latency: time.Since(start), Err: describeError(err)}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseRead))
	return Outcome{Status: resp.StatusCode, Latency: time.Since(start), Excerpt: excerpt(body)}
}

// describeError shortens the client's error to its cause.
func describeError(err error) error {
	var urlErr interface{ Timeout() bool }
	if errors.As(err, &urlErr) && urlErr.Timeout() {
		return fmt.Errorf("timeout: %w", err)
	}
	return err
}

// excerpt returns the start of body as printable, valid UTF-8 without NUL
// (which PostgreSQL text cannot hold).
func excerpt(body []byte) string {
	if len(body) > excerptLen {
		body = body[:excerptLen] // a rune cut in two becomes U+FFFD below
	}
	text := strings.ToValidUTF8(string(body), "\uFFFD")
	return strings.ReplaceAll(text, "\x00", "\uFFFD")
}
