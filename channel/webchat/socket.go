package webchat

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/service"
)

// frame is every frame of the protocol (docs/WEBCHAT.md); type says which
// fields are used.
type frame struct {
	Type string `json:"type"`
	// hello
	Visitor      string `json:"visitor,omitempty"`
	Conversation string `json:"conversation,omitempty"`
	After        int64  `json:"after,omitempty"`
	Identifier   string `json:"identifier,omitempty"`
	Signature    string `json:"signature,omitempty"`
	// message, ack
	ClientID string `json:"clientId,omitempty"`
	Text     string `json:"text,omitempty"`
	Seq      int64  `json:"seq,omitempty"`
	ID       string `json:"id,omitempty"`
	Author   string `json:"author,omitempty"`
	At       string `json:"at,omitempty"`
	// error
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
}

// helloTimeout bounds the wait for the first frame.
const helloTimeout = 10 * time.Second

// Socket upgrades to the web chat WebSocket of the resource. A page of an
// origin that is not allowed gets 403 before any upgrade.
func (s *Server) Socket(w http.ResponseWriter, r *http.Request) error {
	s.init()
	ch, err := s.Service.LoadChannel(r.Context(), domain.ResourceID(r.PathValue("resourceId")), domain.ResourceWebChat)
	if err != nil {
		return err
	}
	if !originAllowed(r, ch.AllowedOrigins) {
		return domain.Errorf(domain.CodeForbidden, "origin %q may not open the web chat of resource %s: add it to the resource's allowedOrigins", r.Header.Get("Origin"), ch.Resource.ID)
	}
	// The server's read and write timeouts must not end a long-lived socket.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true}) // origin checked above
	if err != nil {
		return nil // Accept answered the request
	}
	conn.SetReadLimit(s.Limits.MaxFrame)
	s.Metrics.SocketOpened()
	defer s.Metrics.SocketClosed()
	sess := &session{srv: s, ch: ch, conn: conn, wakeCh: make(chan struct{}, 1)}
	if !s.hub.add(sess) {
		conn.Close(websocket.StatusGoingAway, "server shutting down")
		return nil
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	sess.cancel = cancel
	defer cancel()
	sess.run(ctx)
	return nil
}

// session is one open socket.
type session struct {
	srv    *Server
	ch     service.Channel
	conn   *websocket.Conn
	wakeCh chan struct{}
	cancel context.CancelFunc

	visitor, destination, identifier string

	mu       sync.Mutex
	conv     domain.ConversationID
	lastSent int64
	closing  bool
}

func (s *session) wake() {
	select {
	case s.wakeCh <- struct{}{}:
	default:
	}
}

func (s *session) goAway() {
	s.close(websocket.StatusGoingAway, "server shutting down")
}

// close closes the socket once with a code and reason.
func (s *session) close(code websocket.StatusCode, reason string) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return
	}
	s.closing = true
	s.mu.Unlock()
	_ = s.conn.Close(code, reason)
	s.cancel()
}

// run serves the socket until it closes.
func (s *session) run(ctx context.Context) {
	defer func() {
		s.mu.Lock()
		conv := s.conv
		s.mu.Unlock()
		s.srv.hub.remove(s, conv)
		s.conn.CloseNow()
	}()
	if err := s.hello(ctx); err != nil {
		return
	}
	go s.deliver(ctx)
	s.read(ctx)
}

// readFrame reads one text frame as JSON; protocol violations close the
// socket with a code and reason and return an error.
func (s *session) readFrame(ctx context.Context) (frame, error) {
	var f frame
	typ, data, err := s.conn.Read(ctx)
	if err != nil {
		// Too big (1009), the peer's close, or a dead connection: the
		// library closes with the right code.
		return f, err
	}
	switch {
	case typ != websocket.MessageText:
		s.close(websocket.StatusUnsupportedData, "frames must be JSON text")
	case !utf8.Valid(data):
		s.close(websocket.StatusInvalidFramePayloadData, "invalid UTF-8")
	case json.Unmarshal(data, &f) != nil || f.Type == "":
		s.close(websocket.StatusPolicyViolation, "malformed frame: expected a JSON object with a type")
	default:
		return f, nil
	}
	return f, errors.New("closed")
}

// hello reads the visitor's hello, verifies its identity and answers
// welcome.
func (s *session) hello(ctx context.Context) error {
	hctx, cancel := context.WithTimeout(ctx, helloTimeout)
	defer cancel()
	f, err := s.readFrame(hctx)
	if err != nil {
		if hctx.Err() != nil && ctx.Err() == nil {
			s.close(websocket.StatusPolicyViolation, "no hello frame")
		}
		return err
	}
	if f.Type != "hello" {
		s.close(websocket.StatusPolicyViolation, "the first frame must be hello")
		return errors.New("closed")
	}
	if f.Identifier != "" {
		secrets := s.ch.VerifyingSecrets(domain.SecretWebChatSigning, s.srv.Service.Now())
		if !verifyIdentity(f.Identifier, f.Signature, secrets) {
			s.srv.Metrics.Message("webchat", "in", "refused_identity")
			s.close(websocket.StatusPolicyViolation, "customer identifier signature invalid")
			return errors.New("closed")
		}
		s.identifier = f.Identifier
	} else if f.Signature != "" {
		s.close(websocket.StatusPolicyViolation, "signature without a customer identifier")
		return errors.New("closed")
	}
	s.visitor = f.Visitor
	if !tokenPattern.MatchString(s.visitor) {
		s.visitor = newVisitorToken()
	}
	s.destination = destination(s.visitor, s.identifier)
	conv, found, err := s.srv.Service.RoutedConversation(ctx, s.ch.Resource.OrgID, s.ch.Resource.ID, s.destination)
	if err != nil {
		s.close(websocket.StatusInternalError, "try again")
		return err
	}
	if found {
		after := int64(0)
		if f.Conversation == string(conv.ID) && f.After > 0 {
			after = f.After
		}
		s.switchTo(conv.ID, after)
	}
	return s.write(ctx, frame{Type: "welcome", Visitor: s.visitor, Conversation: string(s.conversation())})
}

func (s *session) conversation() domain.ConversationID {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conv
}

// switchTo makes the session deliver conv's messages after seq.
func (s *session) switchTo(conv domain.ConversationID, after int64) {
	s.mu.Lock()
	old := s.conv
	if old == conv {
		s.mu.Unlock()
		return
	}
	s.conv, s.lastSent = conv, after
	s.mu.Unlock()
	s.srv.hub.watch(s, old, conv)
	s.wake()
}

func (s *session) write(ctx context.Context, f frame) error {
	data, err := json.Marshal(f)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return s.conn.Write(wctx, websocket.MessageText, data)
}

// read handles the visitor's frames until the socket closes.
func (s *session) read(ctx context.Context) {
	for {
		rctx, cancel := context.WithTimeout(ctx, 3*s.srv.Limits.Ping)
		f, err := s.readFrame(rctx)
		timedOut := rctx.Err() != nil && ctx.Err() == nil
		cancel()
		if err != nil {
			if timedOut {
				s.close(websocket.StatusPolicyViolation, "no frame for too long")
			}
			return
		}
		switch f.Type {
		case "pong", "ping":
		case "message":
			if !s.message(ctx, f) {
				return
			}
		default:
			s.close(websocket.StatusPolicyViolation, "unknown frame type "+f.Type)
			return
		}
	}
}

// message receives one visitor message and acknowledges it; false when
// the socket was closed.
func (s *session) message(ctx context.Context, f frame) bool {
	if f.ClientID == "" {
		s.close(websocket.StatusPolicyViolation, "a message needs a clientId")
		return false
	}
	if !s.srv.limiters.allow(s.destination, time.Now()) {
		s.srv.Metrics.Message("webchat", "in", "refused_rate")
		s.close(websocket.StatusPolicyViolation, "rate limit: too many messages")
		return false
	}
	rec, err := s.srv.Service.Receive(ctx, s.ch.Resource.OrgID, service.Inbound{
		ResourceID: s.ch.Resource.ID, Destination: s.destination, Text: f.Text,
		ClientID: f.ClientID, CustomerIdentifier: s.identifier,
	})
	if err != nil {
		s.srv.Metrics.Message("webchat", "in", "refused")
		code := domain.ErrorCode(err)
		msg := domain.ErrorMessage(err)
		if code == domain.CodeInternal {
			s.srv.Logger.Error("webchat: receiving a message failed", "resource", s.ch.Resource.ID, "err", err)
			msg = "internal error; send again"
		}
		return s.write(ctx, frame{Type: "error", ClientID: f.ClientID, Code: code, Message: msg}) == nil
	}
	if rec.Duplicate {
		s.srv.Metrics.Message("webchat", "in", "duplicate")
	} else {
		s.srv.Metrics.Message("webchat", "in", "stored")
	}
	s.switchTo(rec.Conversation.ID, 0)
	return s.write(ctx, frame{Type: "ack", ClientID: f.ClientID, Conversation: string(rec.Conversation.ID), Seq: rec.Message.Seq}) == nil
}

// deliver writes the watched conversation's messages in order, each once,
// whenever the hub wakes the session, and pings.
func (s *session) deliver(ctx context.Context) {
	ping := time.NewTicker(s.srv.Limits.Ping)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ping.C:
			if s.write(ctx, frame{Type: "ping"}) != nil {
				return
			}
		case <-s.wakeCh:
			if err := s.catchUp(ctx); err != nil {
				if ctx.Err() == nil {
					s.srv.Logger.Warn("webchat: delivering messages failed", "resource", s.ch.Resource.ID, "err", err)
					s.close(websocket.StatusInternalError, "try again")
				}
				return
			}
		}
	}
}

// catchUp sends every message after the last one sent.
func (s *session) catchUp(ctx context.Context) error {
	for {
		s.mu.Lock()
		conv, after := s.conv, s.lastSent
		s.mu.Unlock()
		if conv == "" {
			return nil
		}
		ms, err := s.srv.Service.ListMessages(ctx, s.ch.Resource.OrgID, conv, after, service.MaxPageSize)
		if err != nil {
			return err
		}
		for _, m := range ms {
			start := time.Now()
			err := s.write(ctx, frame{
				Type: "message", Conversation: string(conv), Seq: m.Seq, ID: string(m.ID),
				Author: string(m.Author), Text: m.Text, ClientID: m.ClientID, At: m.CreatedAt.Format(time.RFC3339Nano),
			})
			if err != nil {
				return err
			}
			s.srv.Metrics.Sent("webchat", time.Since(start))
			if m.Author != domain.AuthorCustomer {
				s.srv.Metrics.Message("webchat", "out", "delivered")
			}
			s.mu.Lock()
			if s.conv != conv {
				s.mu.Unlock()
				break // switched: start over on the new conversation
			}
			s.lastSent = m.Seq
			s.mu.Unlock()
		}
		if len(ms) < service.MaxPageSize {
			s.mu.Lock()
			same := s.conv == conv
			s.mu.Unlock()
			if same {
				return nil
			}
		}
	}
}
