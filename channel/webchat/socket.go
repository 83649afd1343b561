package webchat

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
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
// origin that is not allowed gets 403 before any upgrade. Once upgraded,
// the socket is served by a goroutine of its own and the request returns,
// so an idle socket holds nothing of the HTTP request.
func (s *Server) Socket(w http.ResponseWriter, r *http.Request) error {
	s.init()
	ch, err := s.Service.LoadChannel(r.Context(), domain.ResourceID(r.PathValue("resourceId")), domain.ResourceWebChat)
	if err != nil {
		return err
	}
	if !originAllowed(r, ch.AllowedOrigins) {
		return domain.Errorf(domain.CodeForbidden, "origin %q may not open the web chat of resource %s: add it to the resource's allowedOrigins", r.Header.Get("Origin"), ch.Resource.ID)
	}
	conn, err := websocket.Accept(leanHijacker{w}, r, &websocket.AcceptOptions{InsecureSkipVerify: true}) // origin checked above
	if err != nil {
		return nil // Accept answered the request
	}
	conn.SetReadLimit(s.Limits.MaxFrame)
	ctx, cancel := context.WithCancel(context.Background())
	sess := &session{srv: s, ch: ch, conn: conn, cancel: cancel}
	sess.heard.Store(time.Now().UnixNano())
	if !s.hub.add(sess, s.Limits.Ping) {
		cancel()
		conn.Close(websocket.StatusGoingAway, "server shutting down")
		return nil
	}
	go sess.run(ctx)
	return nil
}

// session is one open socket. Its goroutine only reads frames: the store
// calls run on short-lived goroutines (offStack, deliver), so the deep
// stacks they need are not kept for as long as the socket stays open.
type session struct {
	srv    *Server
	ch     service.Channel
	conn   *websocket.Conn
	cancel context.CancelFunc

	visitor, destination, identifier string
	heard                            atomic.Int64 // when the last frame came, Unix ns

	mu         sync.Mutex
	conv       domain.ConversationID
	lastSent   int64
	closing    bool
	delivering bool // a deliver goroutine runs
	newMsgs    bool // messages may be waiting to be sent
	pingDue    bool
}

// wake makes the session send the messages it has not sent yet.
func (s *session) wake() { s.kick(false) }

// ping makes the session send a ping frame.
func (s *session) ping() { s.kick(true) }

// kick records work and starts the deliver goroutine unless it runs.
func (s *session) kick(ping bool) {
	s.mu.Lock()
	if ping {
		s.pingDue = true
	} else {
		s.newMsgs = true
	}
	start := !s.delivering && !s.closing
	s.delivering = s.delivering || start
	s.mu.Unlock()
	if start {
		go s.deliver()
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

// run serves the socket until it closes. Its goroutine only reads frames:
// each is handled on a goroutine of its own (offStack), so the deep
// stacks of decoding, the store and the bot's turn are never kept for as
// long as the socket stays open.
func (s *session) run(ctx context.Context) {
	s.srv.Metrics.SocketOpened()
	defer func() {
		s.srv.Metrics.SocketClosed()
		s.mu.Lock()
		conv := s.conv
		s.closing = true
		s.mu.Unlock()
		s.srv.hub.remove(s, conv)
		s.conn.CloseNow()
		s.cancel()
	}()
	defer s.recoverPanic()
	hctx, cancel := context.WithTimeout(ctx, helloTimeout)
	typ, data, err := s.conn.Read(hctx)
	timedOut := hctx.Err() != nil && ctx.Err() == nil
	cancel()
	if err != nil {
		if timedOut {
			s.close(websocket.StatusPolicyViolation, "no hello frame")
		}
		return
	}
	open := false
	s.offStack(func() { open = s.hello(ctx, typ, data) })
	// A socket silent for three ping intervals is closed by the hub.
	for open {
		typ, data, err := s.conn.Read(ctx)
		if err != nil {
			// Too big (1009), the peer's close, or a dead connection:
			// the library closes with the right code.
			return
		}
		s.heard.Store(time.Now().UnixNano())
		s.offStack(func() { open = s.handle(ctx, typ, data) })
	}
}

// recoverPanic closes the socket (1011) instead of letting a panic take
// the process down; deferred by every goroutine of the session.
func (s *session) recoverPanic() {
	if p := recover(); p != nil {
		s.srv.Logger.Error("webchat: panic serving a socket", "resource", s.ch.Resource.ID, "panic", p, "stack", string(debug.Stack()))
		s.close(websocket.StatusInternalError, "internal error")
	}
}

// offStack runs fn on a goroutine of its own and waits for it.
func (s *session) offStack(fn func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer s.recoverPanic()
		fn()
	}()
	<-done
}

// decode checks and parses a frame; protocol violations close the socket
// with a code and reason (ok false).
func (s *session) decode(typ websocket.MessageType, data []byte) (f frame, ok bool) {
	switch {
	case typ != websocket.MessageText:
		s.close(websocket.StatusUnsupportedData, "frames must be JSON text")
	case !utf8.Valid(data):
		s.close(websocket.StatusInvalidFramePayloadData, "invalid UTF-8")
	case json.Unmarshal(data, &f) != nil || f.Type == "":
		s.close(websocket.StatusPolicyViolation, "malformed frame: expected a JSON object with a type")
	default:
		return f, true
	}
	return f, false
}

// hello handles the visitor's first frame: it must be hello; the identity
// is verified and the server answers welcome. False when the socket was
// closed.
func (s *session) hello(ctx context.Context, typ websocket.MessageType, data []byte) bool {
	f, ok := s.decode(typ, data)
	if !ok {
		return false
	}
	if f.Type != "hello" {
		s.close(websocket.StatusPolicyViolation, "the first frame must be hello")
		return false
	}
	if f.Identifier != "" {
		secrets := s.ch.VerifyingSecrets(domain.SecretWebChatSigning, s.srv.Service.Now())
		if !verifyIdentity(f.Identifier, f.Signature, secrets) {
			s.srv.Metrics.Message("webchat", "in", "refused_identity")
			s.close(websocket.StatusPolicyViolation, "customer identifier signature invalid")
			return false
		}
		s.identifier = f.Identifier
	} else if f.Signature != "" {
		s.close(websocket.StatusPolicyViolation, "signature without a customer identifier")
		return false
	}
	s.visitor = f.Visitor
	if !tokenPattern.MatchString(s.visitor) {
		s.visitor = newVisitorToken()
	}
	s.destination = destination(s.visitor, s.identifier)
	conv, found, err := s.srv.Service.RoutedConversation(ctx, s.ch.Resource.OrgID, s.ch.Resource.ID, s.destination)
	if err != nil {
		s.srv.Logger.Warn("webchat: looking up the visitor's conversation failed", "resource", s.ch.Resource.ID, "err", err)
		s.close(websocket.StatusInternalError, "try again")
		return false
	}
	if found {
		after := int64(0)
		if f.Conversation == string(conv.ID) && f.After > 0 {
			after = f.After
		}
		s.switchTo(conv.ID, after, false)
	}
	if s.write(ctx, frame{Type: "welcome", Visitor: s.visitor, Conversation: string(s.conversation())}) != nil {
		return false
	}
	s.wake() // the messages after the client's, once welcome went out
	return true
}

// handle handles a frame after hello; false when the socket was closed.
func (s *session) handle(ctx context.Context, typ websocket.MessageType, data []byte) bool {
	f, ok := s.decode(typ, data)
	if !ok {
		return false
	}
	switch f.Type {
	case "pong", "ping":
		return true
	case "message":
		return s.message(ctx, f)
	}
	s.close(websocket.StatusPolicyViolation, "unknown frame type "+f.Type)
	return false
}

func (s *session) conversation() domain.ConversationID {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conv
}

// switchTo makes the session deliver conv's messages after seq, from now
// when wake is set.
func (s *session) switchTo(conv domain.ConversationID, after int64, wake bool) {
	s.mu.Lock()
	old := s.conv
	if old == conv {
		s.mu.Unlock()
		return
	}
	s.conv, s.lastSent = conv, after
	s.mu.Unlock()
	s.srv.hub.watch(s, old, conv)
	if wake {
		s.wake()
	}
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
	s.switchTo(rec.Conversation.ID, 0, true)
	return s.write(ctx, frame{Type: "ack", ClientID: f.ClientID, Conversation: string(rec.Conversation.ID), Seq: rec.Message.Seq}) == nil
}

// deliver sends what kick asked for (a ping, the messages not sent yet)
// until nothing is left, then ends: an idle session has no deliver
// goroutine.
func (s *session) deliver() {
	defer s.recoverPanic()
	ctx := context.Background()
	for {
		s.mu.Lock()
		ping, msgs := s.pingDue, s.newMsgs
		s.pingDue, s.newMsgs = false, false
		if (!ping && !msgs) || s.closing {
			s.delivering = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		if ping && s.write(ctx, frame{Type: "ping"}) != nil {
			s.close(websocket.StatusGoingAway, "ping failed")
			continue
		}
		if msgs {
			if err := s.catchUp(ctx); err != nil {
				s.srv.Logger.Warn("webchat: delivering messages failed", "resource", s.ch.Resource.ID, "err", err)
				s.close(websocket.StatusInternalError, "try again")
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

// socketBuffer is the size of a socket's read and write buffers. Frames
// are small chat messages; net/http's 4 KiB buffers would be most of an
// idle socket's memory.
const socketBuffer = 1 << 10

// leanHijacker hands the WebSocket library smaller buffers than net/http's
// when it hijacks the connection (nothing is lost: bytes the client sent
// early are carried over, and net/http's writer is empty by then).
type leanHijacker struct{ http.ResponseWriter }

func (l leanHijacker) Unwrap() http.ResponseWriter { return l.ResponseWriter }

func (l leanHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(l.ResponseWriter).Hijack()
	if err != nil || brw.Reader.Buffered() > socketBuffer || brw.Writer.Buffered() > 0 {
		return conn, brw, err
	}
	early, _ := brw.Reader.Peek(brw.Reader.Buffered())
	// r holds the early bytes (Peek reads them, and no further), then
	// reads the connection.
	r := bufio.NewReaderSize(io.MultiReader(bytes.NewReader(bytes.Clone(early)), conn), socketBuffer)
	if _, err := r.Peek(len(early)); err != nil {
		return conn, brw, nil
	}
	return conn, bufio.NewReadWriter(r, bufio.NewWriterSize(conn, socketBuffer)), nil
}
