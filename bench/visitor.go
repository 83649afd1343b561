package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// webChatFrame is a frame of the web chat protocol (docs/WEBCHAT.md).
type webChatFrame struct {
	Type         string `json:"type"`
	Visitor      string `json:"visitor,omitempty"`
	Conversation string `json:"conversation,omitempty"`
	ClientID     string `json:"clientId,omitempty"`
	Text         string `json:"text,omitempty"`
	Seq          int64  `json:"seq,omitempty"`
	Author       string `json:"author,omitempty"`
	Code         string `json:"code,omitempty"`
	Message      string `json:"message,omitempty"`
}

// Visitor is one web chat visitor on an open socket: it answers the
// server's pings, and sends messages and waits for the bot's replies as
// the widget would.
type Visitor struct {
	conn *websocket.Conn

	mu      sync.Mutex
	changed chan struct{} // closed and replaced whenever a frame arrives
	bot     []string      // the bot's messages received, in order
	acked   map[string]webChatFrame
	closed  error
}

// DialVisitor opens the web chat socket of a resource at baseURL
// (http://host:port) as a new anonymous visitor and waits for the welcome.
func DialVisitor(ctx context.Context, baseURL, resource string) (*Visitor, error) {
	u := "ws" + strings.TrimPrefix(baseURL, "http") + "/webchat/" + resource + "/socket"
	conn, _, err := websocket.Dial(ctx, u, nil)
	if err != nil {
		return nil, err
	}
	v := &Visitor{conn: conn, changed: make(chan struct{}), acked: map[string]webChatFrame{}}
	if err := v.write(ctx, webChatFrame{Type: "hello"}); err != nil {
		conn.CloseNow()
		return nil, err
	}
	var welcome webChatFrame
	if err := v.read(ctx, &welcome); err != nil || welcome.Type != "welcome" {
		conn.CloseNow()
		return nil, fmt.Errorf("expected welcome, got %+v (%v)", welcome, err)
	}
	go v.readLoop()
	return v, nil
}

// Close closes the socket normally.
func (v *Visitor) Close() error { return v.conn.Close(websocket.StatusNormalClosure, "") }

func (v *Visitor) write(ctx context.Context, f webChatFrame) error {
	data, err := json.Marshal(f)
	if err != nil {
		return err
	}
	return v.conn.Write(ctx, websocket.MessageText, data)
}

func (v *Visitor) read(ctx context.Context, f *webChatFrame) error {
	_, data, err := v.conn.Read(ctx)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, f)
}

// readLoop records acks and the bot's messages, and answers pings, until
// the socket closes.
func (v *Visitor) readLoop() {
	ctx := context.Background()
	for {
		var f webChatFrame
		err := v.read(ctx, &f)
		v.mu.Lock()
		switch {
		case err != nil:
			v.closed = err
		case f.Type == "ack" || f.Type == "error":
			v.acked[f.ClientID] = f
		case f.Type == "message" && f.Author == "bot":
			v.bot = append(v.bot, f.Text)
		}
		close(v.changed)
		v.changed = make(chan struct{})
		v.mu.Unlock()
		if err != nil {
			return
		}
		if f.Type == "ping" {
			_ = v.write(ctx, webChatFrame{Type: "pong"})
		}
	}
}

// Send sends text with a new client id and waits until it is acknowledged
// and the bot's next replies arrived, n of them; it returns their texts.
func (v *Visitor) Send(ctx context.Context, text string, n int) ([]string, error) {
	id := newClientID()
	v.mu.Lock()
	before := len(v.bot)
	v.mu.Unlock()
	if err := v.write(ctx, webChatFrame{Type: "message", ClientID: id, Text: text}); err != nil {
		return nil, err
	}
	for {
		v.mu.Lock()
		ack, acked := v.acked[id]
		got := len(v.bot) - before
		closed, changed := v.closed, v.changed
		var replies []string
		if acked && got >= n {
			replies = append(replies, v.bot[before:before+n]...)
			delete(v.acked, id)
		}
		v.mu.Unlock()
		switch {
		case acked && ack.Type == "error":
			return nil, fmt.Errorf("message refused: %s: %s", ack.Code, ack.Message)
		case replies != nil || (acked && n == 0):
			return replies, nil
		case closed != nil:
			return nil, fmt.Errorf("socket closed: %w", closed)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for the ack and %d replies (%d arrived): %w", n, got, ctx.Err())
		case <-changed:
		}
	}
}

// Err is the error that closed the socket, nil while it is open.
func (v *Visitor) Err() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.closed
}

func newClientID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// pause waits d or until ctx ends.
func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// note writes a progress line when w is set.
func note(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, "# "+format+"\n", args...)
	}
}
