package webchat_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/parleyhq/parley/channel/webchat"
	"github.com/parleyhq/parley/domain"
)

// storedMessages counts the messages of every conversation of the
// resource.
func (e *chatEnv) storedMessages() int {
	e.t.Helper()
	ctx := context.Background()
	convs, err := e.svc.ListConversations(ctx, e.org, domain.ConversationFilter{ResourceID: e.res.ID, Limit: 200})
	if err != nil {
		e.t.Fatal(err)
	}
	n := 0
	for _, c := range convs {
		ms, err := e.svc.ListMessages(ctx, e.org, c.ID, 0, 200)
		if err != nil {
			e.t.Fatal(err)
		}
		n += len(ms)
	}
	return n
}

// open dials and says hello, failing the test otherwise.
func (e *chatEnv) open(t *testing.T) *client {
	t.Helper()
	c, _, err := e.dial("")
	if err != nil {
		t.Fatal(err)
	}
	c.t = t
	c.send(frame{"type": "hello"})
	c.expect("welcome")
	return c
}

// TestWebChatRefusals sends bad input and floods: each gets a clear
// refusal (an HTTP status before the upgrade, an error frame, or a close
// code with a reason), stores nothing, and leaves the server serving.
func TestWebChatRefusals(t *testing.T) {
	db := openSQLite(t)
	e := newChatEnvWith(t, db, db, webchat.Limits{MaxFrame: 16 << 10, Burst: 5, Every: time.Hour, Ping: 200 * time.Millisecond})
	ctx := context.Background()

	t.Run("unknown resource", func(t *testing.T) {
		for _, path := range []string{"/webchat/res_nope/socket", "/webchat/res_nope/demo"} {
			resp, err := http.Get(e.srv.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNotFound || !strings.Contains(resp.Header.Get("Content-Type"), "problem+json") {
				t.Errorf("GET %s: %d %s, want a 404 problem", path, resp.StatusCode, resp.Header.Get("Content-Type"))
			}
		}
	})

	frames := []struct {
		name      string
		hello     bool // say hello first
		typ       websocket.MessageType
		data      string
		code      websocket.StatusCode
		reason    string
		errorCode string // an error frame instead of a close
	}{
		{"first frame not hello", false, websocket.MessageText, `{"type":"message","clientId":"a","text":"x"}`, websocket.StatusPolicyViolation, "first frame must be hello", ""},
		{"binary frame", true, websocket.MessageBinary, `{"type":"message"}`, websocket.StatusUnsupportedData, "JSON text", ""},
		{"not JSON", true, websocket.MessageText, `hello?`, websocket.StatusPolicyViolation, "malformed frame", ""},
		{"JSON without a type", true, websocket.MessageText, `{"text":"x"}`, websocket.StatusPolicyViolation, "malformed frame", ""},
		{"unknown type", true, websocket.MessageText, `{"type":"shout"}`, websocket.StatusPolicyViolation, "unknown frame type", ""},
		{"message without clientId", true, websocket.MessageText, `{"type":"message","text":"x"}`, websocket.StatusPolicyViolation, "clientId", ""},
		{"invalid UTF-8", true, websocket.MessageText, "{\"type\":\"message\",\"clientId\":\"u\",\"text\":\"\xc3\x28\"}", websocket.StatusInvalidFramePayloadData, "UTF-8", ""},
		{"oversized", true, websocket.MessageText, `{"type":"message","clientId":"big","text":"` + strings.Repeat("x", 20<<10) + `"}`, websocket.StatusMessageTooBig, "", ""},
		{"empty text", true, websocket.MessageText, `{"type":"message","clientId":"empty","text":""}`, 0, "", "invalid_argument"},
		{"over-long clientId", true, websocket.MessageText, `{"type":"message","clientId":"` + strings.Repeat("c", 300) + `","text":"x"}`, 0, "", "invalid_argument"},
	}
	for _, tc := range frames {
		t.Run(tc.name, func(t *testing.T) {
			before := e.storedMessages()
			c, _, err := e.dial("")
			if err != nil {
				t.Fatal(err)
			}
			c.t = t
			if tc.hello {
				c.send(frame{"type": "hello"})
				c.expect("welcome")
			}
			_ = c.conn.Write(ctx, tc.typ, []byte(tc.data)) // the server may close first
			if tc.errorCode != "" {
				if f := c.expect("error"); f["code"] != tc.errorCode || f["message"] == "" {
					t.Errorf("error frame %v, want code %s with a message", f, tc.errorCode)
				}
			} else {
				c.expectClose(tc.code, tc.reason)
			}
			if after := e.storedMessages(); after != before {
				t.Errorf("%d messages stored, want none", after-before)
			}
		})
	}

	t.Run("flood", func(t *testing.T) {
		before := e.storedMessages()
		c := e.open(t)
		for i := range 8 {
			data, _ := json.Marshal(frame{"type": "message", "clientId": fmt.Sprint("flood-", i), "text": "spam"})
			if c.conn.Write(ctx, websocket.MessageText, data) != nil {
				break
			}
		}
		c.expectClose(websocket.StatusPolicyViolation, "rate limit")
		if got := e.storedMessages() - before; got != 5 {
			t.Errorf("%d messages of the flood stored, want the burst of 5", got)
		}
		// The visitor's bucket is empty; other visitors still talk.
		other := e.open(t)
		other.send(frame{"type": "message", "clientId": "after-flood", "text": "still here"})
		other.expect("", "ack")
	})

	t.Run("silent socket closed, answering socket kept", func(t *testing.T) {
		silent := e.open(t)
		answering := e.open(t)
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			for {
				_, data, err := answering.conn.Read(ctx)
				if err != nil {
					return
				}
				if strings.Contains(string(data), `"ping"`) {
					_ = answering.conn.Write(ctx, websocket.MessageText, []byte(`{"type":"pong"}`))
				}
				select {
				case <-stop:
					return
				default:
				}
			}
		}()
		start := time.Now()
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		var err error
		for err == nil {
			_, _, err = silent.conn.Read(rctx) // pings, unanswered
		}
		var ce websocket.CloseError
		if !asClose(err, &ce) || ce.Code != websocket.StatusPolicyViolation || !strings.Contains(ce.Reason, "no frame for too long") {
			t.Fatalf("the silent socket ended with %v, want close 1008 no frame for too long", err)
		}
		if d := time.Since(start); d < 500*time.Millisecond {
			t.Errorf("a silent socket was closed after %s, before three ping intervals", d)
		}
		if err := answering.conn.Ping(ctx); err != nil {
			t.Errorf("the socket answering pings was closed: %v", err)
		}
	})

	t.Run("hello sent with the upgrade request", func(t *testing.T) {
		conn, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		key := make([]byte, 16)
		_, _ = rand.Read(key)
		req := "GET /webchat/" + string(e.res.ID) + "/socket HTTP/1.1\r\nHost: " + strings.TrimPrefix(e.srv.URL, "http://") +
			"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " +
			base64.StdEncoding.EncodeToString(key) + "\r\n\r\n"
		// One write: the request and a masked hello frame right behind it.
		if _, err := conn.Write(append([]byte(req), maskedTextFrame(`{"type":"hello"}`)...)); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("upgrade: %v %v", resp, err)
		}
		header := make([]byte, 2)
		if _, err := io.ReadFull(br, header); err != nil {
			t.Fatal(err)
		}
		payload := make([]byte, header[1]&0x7f)
		if _, err := io.ReadFull(br, payload); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(payload), `"type":"welcome"`) {
			t.Fatalf("first frame %q, want the welcome", payload)
		}
	})
}

// maskedTextFrame is a client's text frame (short payload, masked).
func maskedTextFrame(payload string) []byte {
	mask := []byte{1, 2, 3, 4}
	out := []byte{0x81, 0x80 | byte(len(payload))}
	out = append(out, mask...)
	for i := range len(payload) {
		out = append(out, payload[i]^mask[i%4])
	}
	return out
}
