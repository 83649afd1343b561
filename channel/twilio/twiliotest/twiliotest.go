// Package twiliotest is a local Twilio-compatible server for tests: it
// speaks the Messages API's wire format (POST
// /2010-04-01/Accounts/{AccountSid}/Messages.json, form fields To, From,
// Body and StatusCallback, HTTP Basic auth, JSON answers and errors) and
// signs the status callbacks and inbound webhooks it sends the way Twilio
// does. It can be told to fail, to hold requests, and that a recipient
// opted out.
package twiliotest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/parleyhq/parley/channel/twilio"
)

// Message is a message the server accepted.
type Message struct {
	SID, AccountSID, From, To, Body, StatusCallback string
	At                                              time.Time
}

// Server is a running fake Messages API.
type Server struct {
	*httptest.Server
	AccountSID, AuthToken string

	mu        sync.Mutex
	messages  []Message
	failures  []int           // statuses to answer before accepting
	optedOut  map[string]bool // recipients that replied STOP
	refused   int             // requests refused for bad auth or fields
	attempts  int             // every POST to the Messages resource
	hold      chan struct{}   // non-nil: requests wait until it closes
	holding   chan struct{}   // receives once per held request
	callbacks *http.Client
}

// New starts a server for one account; call Close when done.
func New(accountSID, authToken string) *Server {
	s := &Server{
		AccountSID: accountSID, AuthToken: authToken,
		optedOut:  map[string]bool{},
		callbacks: &http.Client{Timeout: 10 * time.Second},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /2010-04-01/Accounts/{account}/Messages.json", s.createMessage)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
	})
	s.Server = httptest.NewServer(mux)
	return s
}

// FailNext makes the next requests answer these HTTP statuses, in order,
// before requests are accepted again.
func (s *Server) FailNext(statuses ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, statuses...)
}

// OptOut makes sends to the number answer Twilio's error 21610.
func (s *Server) OptOut(number string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.optedOut[number] = true
}

// Hold makes the following requests wait, after they were received and
// before they are answered, until release is called; each held request is
// signalled on the returned channel. Accepted messages are recorded when
// released.
func (s *Server) Hold() (held <-chan struct{}, release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hold = make(chan struct{})
	s.holding = make(chan struct{}, 100)
	hold := s.hold
	var once sync.Once
	return s.holding, func() {
		once.Do(func() {
			s.mu.Lock()
			s.hold = nil
			s.mu.Unlock()
			close(hold)
		})
	}
}

// Messages returns the accepted messages, oldest first.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// Attempts is how many requests reached the Messages resource.
func (s *Server) Attempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts
}

// Refused is how many requests were refused for bad credentials or
// missing fields (a correct client makes none).
func (s *Server) Refused() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refused
}

func (s *Server) createMessage(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.attempts++
	hold, holding := s.hold, s.holding
	s.mu.Unlock()
	if msg, ok := s.check(w, r); ok {
		if hold != nil {
			holding <- struct{}{}
			<-hold
		}
		s.answer(w, msg)
	}
}

// check validates auth and fields like the real API, answering its
// errors; ok is false when it answered.
func (s *Server) check(w http.ResponseWriter, r *http.Request) (Message, bool) {
	refuse := func(status, code int, message string) (Message, bool) {
		s.mu.Lock()
		s.refused++
		s.mu.Unlock()
		writeError(w, status, code, message)
		return Message{}, false
	}
	user, pass, ok := r.BasicAuth()
	if !ok || user != s.AccountSID || pass != s.AuthToken {
		return refuse(http.StatusUnauthorized, 20003, "Authenticate")
	}
	if r.PathValue("account") != s.AccountSID {
		return refuse(http.StatusForbidden, 20005, "Account not active")
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		return refuse(http.StatusBadRequest, 20001, "Content-Type must be application/x-www-form-urlencoded")
	}
	if err := r.ParseForm(); err != nil {
		return refuse(http.StatusBadRequest, 20001, "Malformed form")
	}
	msg := Message{
		AccountSID: s.AccountSID, To: r.PostForm.Get("To"), From: r.PostForm.Get("From"),
		Body: r.PostForm.Get("Body"), StatusCallback: r.PostForm.Get("StatusCallback"),
	}
	switch {
	case msg.To == "":
		return refuse(http.StatusBadRequest, 21604, "A 'To' phone number is required.")
	case msg.From == "":
		return refuse(http.StatusBadRequest, 21603, "A 'From' phone number is required.")
	case msg.Body == "":
		return refuse(http.StatusBadRequest, 21602, "Message body is required.")
	case msg.StatusCallback != "":
		if u, err := url.Parse(msg.StatusCallback); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
			return refuse(http.StatusBadRequest, 21609, "Invalid StatusCallback")
		}
	}
	return msg, true
}

// answer fails the request as scripted, or accepts the message.
func (s *Server) answer(w http.ResponseWriter, msg Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.failures) > 0 {
		status := s.failures[0]
		s.failures = s.failures[1:]
		if status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "1")
			writeError(w, status, 20429, "Too Many Requests")
		} else {
			writeError(w, status, 20500, "Internal Server Error")
		}
		return
	}
	if s.optedOut[msg.To] {
		writeError(w, http.StatusBadRequest, twilio.ErrorUnsubscribed, "Attempt to send to unsubscribed recipient")
		return
	}
	msg.SID, msg.At = NewSID("SM"), time.Now().UTC()
	s.messages = append(s.messages, msg)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"sid": msg.SID, "account_sid": msg.AccountSID, "to": msg.To, "from": msg.From,
		"body": msg.Body, "status": "queued", "direction": "outbound-api", "num_segments": "1",
		"date_created": msg.At.Format(time.RFC1123Z), "error_code": nil, "error_message": nil,
		"uri": "/2010-04-01/Accounts/" + msg.AccountSID + "/Messages/" + msg.SID + ".json",
	})
}

func writeError(w http.ResponseWriter, status, code int, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"code": code, "message": message, "status": status,
		"more_info": fmt.Sprintf("https://www.twilio.com/docs/errors/%d", code),
	})
}

// NewSID returns a random Twilio-style sid with the prefix ("SM" for a
// message).
func NewSID(prefix string) string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// Post sends a form to a Parley webhook at fullURL signed with authToken,
// as Twilio does, and returns the response (body read and closed).
func Post(ctx context.Context, fullURL, authToken string, form url.Values) (*http.Response, []byte, error) {
	return PostSigned(ctx, fullURL, form, twilio.Signature(authToken, fullURL, form))
}

// PostSigned sends a form with the given X-Twilio-Signature ("" for none).
func PostSigned(ctx context.Context, fullURL string, form url.Values, signature string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, fullURL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if signature != "" {
		req.Header.Set(twilio.SignatureHeader, signature)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	_, err = body.ReadFrom(resp.Body)
	return resp, body.Bytes(), err
}

// Inbound is the form Twilio posts for an incoming SMS.
func (s *Server) Inbound(messageSID, from, to, body string) url.Values {
	return url.Values{
		"MessageSid": {messageSID}, "SmsSid": {messageSID}, "SmsMessageSid": {messageSID},
		"AccountSid": {s.AccountSID}, "From": {from}, "To": {to}, "Body": {body},
		"NumMedia": {"0"}, "NumSegments": {"1"}, "SmsStatus": {"received"}, "ApiVersion": {"2010-04-01"},
	}
}

// StatusCallback posts a status change of an accepted message to its
// StatusCallback URL, signed; errorCode 0 sends no ErrorCode.
func (s *Server) StatusCallback(ctx context.Context, msg Message, status string, errorCode int) (*http.Response, error) {
	form := url.Values{
		"MessageSid": {msg.SID}, "SmsSid": {msg.SID}, "AccountSid": {s.AccountSID},
		"From": {msg.From}, "To": {msg.To}, "MessageStatus": {status}, "SmsStatus": {status},
		"ApiVersion": {"2010-04-01"},
	}
	if errorCode != 0 {
		form.Set("ErrorCode", fmt.Sprint(errorCode))
	}
	resp, _, err := Post(ctx, msg.StatusCallback, s.AuthToken, form)
	return resp, err
}
