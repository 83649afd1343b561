package console

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/client"
)

// TestConsoleLiveStream reads the live transcript stream as a browser's
// EventSource does: messages after the cursor (Last-Event-ID wins over
// ?after), new ones as they are written, and a status event that ends the
// stream when the conversation closes.
func TestConsoleLiveStream(t *testing.T) {
	e := newEnv(t)
	e.catchUp()
	a := e.newTenant("a")
	conv := e.start(a, "web-1", "")
	ctx := t.Context()
	for _, text := range []string{"one", "two"} {
		_, err := a.api.AddMessage(ctx, conv.ID, client.AddMessageRequest{Text: text})
		must(t, err)
	}
	br := e.browser()
	if r := br.signIn(a.key.Secret); r.status != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", r.status)
	}
	req, err := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/console/conversations/"+conv.ID+"/live?after=0", nil)
	must(t, err)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Last-Event-ID", "1") // a reconnecting browser saw message 1
	resp, err := br.hc.Do(req)
	must(t, err)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	events := make(chan string, 16)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(resp.Body)
		var ev []string
		for sc.Scan() {
			if line := sc.Text(); line != "" {
				ev = append(ev, line)
				continue
			}
			if len(ev) > 0 && !strings.HasPrefix(ev[0], "retry:") {
				events <- strings.Join(ev, "|")
			}
			ev = nil
		}
	}()
	next := func() string {
		t.Helper()
		ev, ok := <-events
		if !ok {
			t.Fatal("the stream ended early")
		}
		return ev
	}
	if ev := next(); !strings.HasPrefix(ev, "id: 2|event: message|") || !strings.Contains(ev, `"text":"two"`) {
		t.Errorf("first event after Last-Event-ID 1: %s", ev)
	}
	_, err = a.api.AddMessage(ctx, conv.ID, client.AddMessageRequest{Text: "<three>", Direction: "outbound"})
	must(t, err)
	if ev := next(); !strings.HasPrefix(ev, "id: 3|event: message|") || !strings.Contains(ev, `"author":"operator"`) ||
		!strings.Contains(ev, `"text":"\u003cthree\u003e"`) {
		t.Errorf("event of a new message: %s", ev)
	}
	_, err = a.api.CloseConversation(ctx, conv.ID)
	must(t, err)
	if ev := next(); ev != `event: status|data: {"status":"closed"}` {
		t.Errorf("event of the close: %s", ev)
	}
	if ev, ok := <-events; ok {
		t.Errorf("the stream goes on after the close: %s", ev)
	}
}

// TestConsoleLiveNotified checks that with the store's notifier a new
// message reaches an open stream at once, long before the next poll.
func TestConsoleLiveNotified(t *testing.T) {
	e := newEnvPolling(t, time.Hour, true)
	e.catchUp()
	a := e.newTenant("a")
	conv := e.start(a, "web-1", "")
	br := e.browser()
	if r := br.signIn(a.key.Secret); r.status != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", r.status)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/console/conversations/"+conv.ID+"/live?after=0", nil)
	must(t, err)
	resp, err := br.hc.Do(req)
	must(t, err)
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() && sc.Text() != "" { // the retry preamble: the stream is open
	}
	start := time.Now()
	_, err = a.api.AddMessage(t.Context(), conv.ID, client.AddMessageRequest{Text: "hello"})
	must(t, err)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "data: ") {
			if !strings.Contains(sc.Text(), `"text":"hello"`) {
				t.Errorf("event %s", sc.Text())
			}
			t.Logf("message streamed %v after it was written", time.Since(start))
			return
		}
	}
	t.Fatalf("no message event before the timeout (the poll is an hour): %v", sc.Err())
}
