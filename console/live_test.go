package console

import (
	"bufio"
	"net/http"
	"strings"
	"testing"

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
