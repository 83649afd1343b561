package webchat_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleyhq/parley/channel/webchat"
	"github.com/parleyhq/parley/clock"
	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/httpapi"
	"github.com/parleyhq/parley/identifier"
	"github.com/parleyhq/parley/ids"
	"github.com/parleyhq/parley/license"
	"github.com/parleyhq/parley/postgres"
	"github.com/parleyhq/parley/postgres/pgtestdb"
	"github.com/parleyhq/parley/service"
	"github.com/parleyhq/parley/sqlite"
)

const signingSecret = "s3cret-signing-key-0123456789"

type chatEnv struct {
	t   *testing.T
	svc *service.Service
	org domain.OrgID
	res domain.ChannelResource
	srv *httptest.Server
}

// newChatEnv serves the web chat of a resource bound to a published app
// over store.
func newChatEnv(t *testing.T, store domain.Store, n domain.Notifier) *chatEnv {
	t.Helper()
	return newChatEnvWith(t, store, n, webchat.Limits{})
}

// newChatEnvWith is newChatEnv with the server's limits (zero: defaults).
func newChatEnvWith(t *testing.T, store domain.Store, n domain.Notifier, limits webchat.Limits) *chatEnv {
	t.Helper()
	ctx := context.Background()
	svc, srv := serveChatWith(t, store, n, limits)
	org, _, err := svc.CreateOrg(ctx, "Acme")
	if err != nil {
		t.Fatal(err)
	}
	app, _ := svc.CreateApp(ctx, org.ID, "Chat bot")
	v, _ := svc.CreateVersion(ctx, org.ID, app.ID, nil)
	if _, err := svc.Publish(ctx, org.ID, app.ID, v.ID, domain.EnvProduction); err != nil {
		t.Fatal(err)
	}
	res, err := svc.CreateResource(ctx, org.ID, service.ResourceInput{Kind: domain.ResourceWebChat, Name: "Website",
		Address: "site", AppID: app.ID, Environment: domain.EnvProduction})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.UpdateResource(ctx, org.ID, res.ID, service.ResourceUpdate{Settings: service.ChannelSettingsInput{
		Secrets: map[domain.SecretName]string{domain.SecretWebChatSigning: signingSecret}, AllowedOrigins: []string{"https://shop.example"},
	}}); err != nil {
		t.Fatal(err)
	}
	return &chatEnv{t: t, svc: svc, org: org.ID, res: res, srv: srv}
}

// serveChat starts a server process's service and HTTP server on store.
func serveChat(t *testing.T, store domain.Store, n domain.Notifier) (*service.Service, *httptest.Server) {
	t.Helper()
	return serveChatWith(t, store, n, webchat.Limits{})
}

func serveChatWith(t *testing.T, store domain.Store, n domain.Notifier, limits webchat.Limits) (*service.Service, *httptest.Server) {
	t.Helper()
	pub, _, _ := license.GenerateKey()
	svc := service.New(service.Config{Store: store, Clock: clock.System{}, IDs: ids.Random{},
		Licenses: license.NewVerifier(pub), Identifiers: identifier.Normalizer{}})
	chat := &webchat.Server{Service: svc, Notifier: n, Limits: limits}
	t.Cleanup(chat.Close)
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Service: svc, Store: store, Metrics: prometheus.NewRegistry(),
		Channels: httpapi.Channels{WebChatWidget: chat.Widget, WebChatDemo: chat.Demo, WebChatSocket: chat.Socket}}))
	t.Cleanup(srv.Close)
	return svc, srv
}

// openPostgres opens n stores on one fresh database, as n processes.
func openPostgres(t *testing.T, n int) []*postgres.DB {
	t.Helper()
	url := pgtestdb.New(t)
	stores := make([]*postgres.DB, n)
	for i := range stores {
		db, err := postgres.Open(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		stores[i] = db
	}
	if err := stores[0].Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return stores
}

func openSQLite(t *testing.T) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "parley.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}

type frame map[string]any

type client struct {
	t    *testing.T
	conn *websocket.Conn
}

func (e *chatEnv) socketURL() string {
	return "ws" + strings.TrimPrefix(e.srv.URL, "http") + "/webchat/" + string(e.res.ID) + "/socket"
}

func (e *chatEnv) dial(origin string) (*client, *http.Response, error) {
	h := http.Header{}
	if origin != "" {
		h.Set("Origin", origin)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, e.socketURL(), &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		return nil, resp, err
	}
	e.t.Cleanup(func() { conn.CloseNow() })
	return &client{t: e.t, conn: conn}, resp, nil
}

func (c *client) send(f frame) {
	c.t.Helper()
	data, _ := json.Marshal(f)
	if err := c.conn.Write(context.Background(), websocket.MessageText, data); err != nil {
		c.t.Fatal(err)
	}
}

// next returns the next frame other than a ping, or the close error.
func (c *client) next() (frame, error) {
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, data, err := c.conn.Read(ctx)
		cancel()
		if err != nil {
			return nil, err
		}
		var f frame
		if err := json.Unmarshal(data, &f); err != nil {
			c.t.Fatalf("frame %q: %v", data, err)
		}
		if f["type"] != "ping" {
			return f, nil
		}
	}
}

// expect returns the next frame of type typ; with skip, frames of type
// skip before it are passed over.
func (c *client) expect(typ string, skip ...string) frame {
	c.t.Helper()
	if len(skip) == 1 {
		typ, skip = skip[0], []string{"message"}
	}
	for {
		f, err := c.next()
		if err != nil {
			c.t.Fatalf("waiting for %s: %v", typ, err)
		}
		if len(skip) > 0 && f["type"] == skip[0] {
			continue
		}
		if f["type"] != typ {
			c.t.Fatalf("got %v, want a %s frame", f, typ)
		}
		return f
	}
}

func (c *client) expectClose(code websocket.StatusCode, reason string) {
	c.t.Helper()
	for {
		_, err := c.next()
		if err == nil {
			continue
		}
		if got := websocket.CloseStatus(err); got != code {
			c.t.Fatalf("closed with %v (%v), want %d", got, err, code)
		}
		var ce websocket.CloseError
		if reason != "" && (!asClose(err, &ce) || !strings.Contains(ce.Reason, reason)) {
			c.t.Errorf("close reason %q, want %q", ce.Reason, reason)
		}
		return
	}
}

func asClose(err error, ce *websocket.CloseError) bool { return errors.As(err, ce) }

// TestWebChatProtocol checks the protocol without a browser.
func TestWebChatProtocol(t *testing.T) {
	db := openSQLite(t)
	e := newChatEnv(t, db, db)
	ctx := context.Background()

	c, _, err := e.dial("")
	if err != nil {
		t.Fatal(err)
	}
	c.send(frame{"type": "hello"})
	welcome := c.expect("welcome")
	visitor, _ := welcome["visitor"].(string)
	if len(visitor) != 32 || welcome["conversation"] != nil && welcome["conversation"] != "" {
		t.Fatalf("welcome %v: want a new visitor token and no conversation", welcome)
	}
	c.send(frame{"type": "message", "clientId": "c1", "text": "Hello"})
	// The ack and the echo of the stored message, in either order.
	got := map[any]frame{}
	for range 2 {
		f, err := c.next()
		if err != nil {
			t.Fatal(err)
		}
		got[f["type"]] = f
	}
	ack := got["ack"]
	conv := domain.ConversationID(ack["conversation"].(string))
	if ack["clientId"] != "c1" || ack["seq"] != float64(1) || conv == "" {
		t.Fatalf("ack %v", ack)
	}
	if m := got["message"]; m["seq"] != float64(1) || m["text"] != "Hello" || m["author"] != "customer" || m["clientId"] != "c1" {
		t.Fatalf("echo %v", m)
	}
	// A resent client id is stored once.
	c.send(frame{"type": "message", "clientId": "c1", "text": "Hello"})
	if ack := c.expect("ack"); ack["seq"] != float64(1) {
		t.Fatalf("ack of a resent message %v, want seq 1", ack)
	}
	// An operator's message through the API reaches the socket.
	if _, err := e.svc.AddMessage(ctx, e.org, conv, domain.Outbound, "From an operator", ""); err != nil {
		t.Fatal(err)
	}
	if m := c.expect("message"); m["seq"] != float64(2) || m["author"] != "operator" {
		t.Fatalf("operator message %v", m)
	}
	if ms, _ := e.svc.ListMessages(ctx, e.org, conv, 0, 100); len(ms) != 2 {
		t.Fatalf("stored %d messages, want 2", len(ms))
	}

	t.Run("resume after N", func(t *testing.T) {
		for i := range 3 {
			if _, err := e.svc.AddMessage(ctx, e.org, conv, domain.Outbound, "missed "+string(rune('a'+i)), ""); err != nil {
				t.Fatal(err)
			}
		}
		c2, _, err := e.dial("")
		if err != nil {
			t.Fatal(err)
		}
		c2.t = t
		c2.send(frame{"type": "hello", "visitor": visitor, "conversation": string(conv), "after": 2})
		if w := c2.expect("welcome"); w["conversation"] != string(conv) {
			t.Fatalf("resumed welcome %v", w)
		}
		for seq := 3; seq <= 5; seq++ {
			if m := c2.expect("message"); m["seq"] != float64(seq) {
				t.Fatalf("resume: got %v, want seq %d", m, seq)
			}
		}
	})

	t.Run("refused origin", func(t *testing.T) {
		_, resp, err := e.dial("https://evil.example")
		if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("dial from a refused origin: %v %v, want 403", resp, err)
		}
		if _, _, err := e.dial("https://shop.example"); err != nil {
			t.Fatalf("an allowed origin: %v", err)
		}
	})

	t.Run("oversized frame", func(t *testing.T) {
		c3, _, err := e.dial("")
		if err != nil {
			t.Fatal(err)
		}
		c3.t = t
		c3.send(frame{"type": "hello", "visitor": visitor})
		c3.expect("welcome")
		big, _ := json.Marshal(frame{"type": "message", "clientId": "big", "text": strings.Repeat("x", 64<<10)})
		// The server may close before the whole frame is written.
		_ = c3.conn.Write(ctx, websocket.MessageText, big)
		c3.expectClose(websocket.StatusMessageTooBig, "")
	})

	t.Run("invalid UTF-8", func(t *testing.T) {
		c4, _, err := e.dial("")
		if err != nil {
			t.Fatal(err)
		}
		c4.t = t
		c4.send(frame{"type": "hello"})
		c4.expect("welcome")
		if err := c4.conn.Write(ctx, websocket.MessageText, []byte("{\"type\":\"message\",\"text\":\"\xff\"}")); err != nil {
			t.Fatal(err)
		}
		c4.expectClose(websocket.StatusInvalidFramePayloadData, "UTF-8")
	})

	t.Run("forged or unsigned identifier", func(t *testing.T) {
		for _, sig := range []string{"", webchat.Sign("wrong-secret-0123456789", "mailto:ann@example.com"), "zz"} {
			c5, _, err := e.dial("")
			if err != nil {
				t.Fatal(err)
			}
			c5.t = t
			c5.send(frame{"type": "hello", "identifier": "mailto:ann@example.com", "signature": sig})
			c5.expectClose(websocket.StatusPolicyViolation, "signature")
		}
		c6, _, err := e.dial("")
		if err != nil {
			t.Fatal(err)
		}
		c6.t = t
		c6.send(frame{"type": "hello", "identifier": "mailto:ann@example.com", "signature": webchat.Sign(signingSecret, "mailto:ann@example.com")})
		c6.expect("welcome")
		c6.send(frame{"type": "message", "clientId": "id1", "text": "I am Ann"})
		// The ack and the message's echo may come in either order.
		ack := c6.expect("", "ack")
		got, err := e.svc.GetConversation(ctx, e.org, domain.ConversationID(ack["conversation"].(string)))
		if err != nil || got.IdentifierAtStart != "mailto:ann@example.com" {
			t.Fatalf("signed conversation %+v, %v: want it to join mailto:ann@example.com", got, err)
		}
	})

	t.Run("delivery across two server processes on PostgreSQL", func(t *testing.T) {
		stores := openPostgres(t, 2) // skips without PARLEY_TEST_POSTGRES
		a := newChatEnv(t, stores[0], stores[0])
		_, srvB := serveChat(t, stores[1], stores[1])
		b := &chatEnv{t: t, svc: a.svc, org: a.org, res: a.res, srv: srvB}
		c, _, err := b.dial("")
		if err != nil {
			t.Fatal(err)
		}
		c.t = t
		c.send(frame{"type": "hello"})
		c.expect("welcome")
		c.send(frame{"type": "message", "clientId": "pg1", "text": "Hello from B"})
		ack := c.expect("", "ack")
		conv := domain.ConversationID(ack["conversation"].(string))
		// Process A writes; the socket is held by process B.
		for i := range 3 {
			if _, err := a.svc.AddMessage(ctx, a.org, conv, domain.Outbound, fmt.Sprint("from A ", i), ""); err != nil {
				t.Fatal(err)
			}
		}
		seen := map[float64]bool{}
		for len(seen) < 4 {
			m := c.expect("message")
			if seen[m["seq"].(float64)] {
				t.Fatalf("seq %v delivered twice", m["seq"])
			}
			seen[m["seq"].(float64)] = true
		}
		for seq := 1; seq <= 4; seq++ {
			if !seen[float64(seq)] {
				t.Errorf("seq %d never delivered by process B", seq)
			}
		}
	})
}

// dropping is a notifier that loses the notifications published while
// drop is set, as a process that dies between its commit and its
// notification would.
type dropping struct {
	domain.Notifier
	drop atomic.Bool
}

func (d *dropping) Subscribe(topic string, fn func(string)) func() {
	return d.Notifier.Subscribe(topic, func(p string) {
		if !d.drop.Load() {
			fn(p)
		}
	})
}

// TestWebChatMissedNotification: a socket that missed the notification of
// a message gets it with the conversation's next notification, in order.
func TestWebChatMissedNotification(t *testing.T) {
	db := openSQLite(t)
	n := &dropping{Notifier: db}
	e := newChatEnv(t, db, n)
	ctx := context.Background()
	c, _, err := e.dial("")
	if err != nil {
		t.Fatal(err)
	}
	c.send(frame{"type": "hello"})
	c.expect("welcome")
	c.send(frame{"type": "message", "clientId": "m1", "text": "Hello"})
	var conv domain.ConversationID
	for range 2 { // the ack and the echo, in either order
		f, err := c.next()
		if err != nil {
			t.Fatal(err)
		}
		if f["type"] == "ack" {
			conv = domain.ConversationID(f["conversation"].(string))
		}
	}
	n.drop.Store(true)
	if _, err := e.svc.AddMessage(ctx, e.org, conv, domain.Outbound, "lost notification", ""); err != nil {
		t.Fatal(err)
	}
	n.drop.Store(false)
	if _, err := e.svc.AddMessage(ctx, e.org, conv, domain.Outbound, "next notification", ""); err != nil {
		t.Fatal(err)
	}
	for _, want := range []struct {
		seq  float64
		text string
	}{{2, "lost notification"}, {3, "next notification"}} {
		m := c.expect("message")
		if m["seq"] != want.seq || m["text"] != want.text {
			t.Fatalf("got %v, want seq %v %q", m, want.seq, want.text)
		}
	}
}
