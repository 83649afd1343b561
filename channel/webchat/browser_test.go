package webchat_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleyhq/parley/channel/webchat"
	"github.com/parleyhq/parley/clock"
	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/examples"
	"github.com/parleyhq/parley/httpapi"
	"github.com/parleyhq/parley/identifier"
	"github.com/parleyhq/parley/ids"
	"github.com/parleyhq/parley/internal/browsertest"
	"github.com/parleyhq/parley/license"
	"github.com/parleyhq/parley/service"
)

// TestWebChatBrowser talks to the example bot (examples/change-number) on
// the demo page in a real headless chromium, to the end of the
// conversation: the connection drops while the bot replies, the visitor
// sends while disconnected, the widget reconnects. The page's transcript
// must equal the store's, in order, nothing missing, nothing twice; so
// must a reloaded page's. Screenshots go to testdata/artifacts (a failed
// step saves failed-<step>.png).
func TestWebChatBrowser(t *testing.T) {
	if _, err := os.Stat(browsertest.ChromiumPath); err != nil {
		t.Skip("chromium is not installed; install it with: apt-get update && apt-get install -y chromium")
	}
	e := newBrowserEnv(t)
	b := newBrowser(t)
	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }

	b.Do("open-demo",
		chromedp.Navigate(e.srv.URL+"/webchat/"+string(e.res)+"/demo"),
		chromedp.WaitVisible(css(`.parley-status[data-status="online"]`)),
		b.Shot("01-demo-open"),
	)
	b.send("greeting", "Hello", 3) // and the bot's greeting and question
	b.Do("greeting-shown", b.Shot("02-greeting"))

	// The network goes down as the bot's answer is being written to the
	// socket: the answer is stored, the page has not got it.
	cut := e.net.cutWhenWritten("Sorry, that does not look like a phone number")
	b.Do("answer-while-replying",
		chromedp.SendKeys(css(".parley-input"), "my old number"),
		chromedp.Click(css(".parley-form button")),
	)
	select {
	case <-cut:
	case <-time.After(30 * time.Second):
		b.Fail("network-cut", errors.New("the bot's answer was never written to the socket"))
	}
	// Offline, the visitor sends another message: it waits on the page.
	b.Do("send-while-offline",
		b.Until(`document.querySelector(".parley-status").dataset.status !== "online"`),
		chromedp.SendKeys(css(".parley-input"), "are you still there?"),
		chromedp.Click(css(".parley-form button")),
		chromedp.WaitVisible(css(".parley-msg.parley-pending")),
		b.Shot("03-offline-pending"),
	)
	if n := e.storedAfter("my old number"); n != 1 {
		t.Errorf("while offline, the store holds %d messages from the bot's answer on, want its answer only", n)
	}
	e.net.restore()
	// The widget reconnects by itself, gets the answer it missed, resends
	// the waiting message and shows the bot's answer to it.
	b.Do("reconnected",
		chromedp.WaitVisible(css(`.parley-status[data-status="online"]`)),
		b.Until(`!document.querySelector(".parley-pending") && document.querySelectorAll(".parley-msg[data-seq]").length === 7`),
		b.Shot("04-reconnected"),
	)
	b.send("new-number", "+1 555 010 0177", 9)
	b.Do("goodbye", b.Shot("05-goodbye"))

	conv := e.conversation()
	if conv.Status != domain.StatusClosed {
		t.Errorf("conversation %s is %s, want closed by the bot's goodbye", conv.ID, conv.Status)
	}
	if got, want := b.transcript(), e.transcript(conv.ID); got != want {
		t.Errorf("the page's transcript differs from the store's:\npage:\n%s\nstore:\n%s", got, want)
	}
	if last := e.lastText(conv.ID); last != "Done: we now know you by +15550100177. Goodbye!" {
		t.Errorf("the bot's last message %q, want its goodbye", last)
	}

	// A reload shows the whole conversation again, from the store.
	b.Do("reload",
		chromedp.Reload(),
		chromedp.WaitVisible(css(`.parley-status[data-status="online"]`)),
		b.Until(`document.querySelectorAll(".parley-msg[data-seq]").length === 9`),
		b.Shot("06-reloaded"),
	)
	if got, want := b.transcript(), e.transcript(conv.ID); got != want {
		t.Errorf("after a reload, the page's transcript differs from the store's:\npage:\n%s\nstore:\n%s", got, want)
	}

	// After the close, the next message starts a new conversation; on a
	// resource bound to nothing it is refused, and the page says so.
	e.bind(service.ResourceBinding{})
	b.Do("refused",
		chromedp.SendKeys(css(".parley-input"), "Hello again"),
		chromedp.Click(css(".parley-form button")),
		chromedp.WaitVisible(css(`.parley-msg[data-error="not_deployed"]`)),
		b.Shot("07-refused-not-deployed"),
	)
	e.bind(service.ResourceBinding{AppID: e.app, Environment: domain.EnvProduction})
	b.send("new-conversation", "Hello again", 12)
	b.Do("new-conversation-shown", b.Shot("08-new-conversation"))
	newest := e.conversation()
	if newest.ID == conv.ID || newest.Status != domain.StatusLive {
		t.Fatalf("newest conversation %+v, want a new live one", newest)
	}
	page := b.transcript()
	if want := "9 bot: Done: we now know you by +15550100177. Goodbye!\nnot sent (not_deployed) customer: Hello again\n-- New conversation\n" +
		e.transcript(newest.ID); !strings.HasSuffix(page, want) {
		t.Errorf("the page after the new conversation:\n%s\nwant it to end with:\n%s", page, want)
	}
}

// bind changes the resource's binding.
func (e *browserEnv) bind(b service.ResourceBinding) {
	e.t.Helper()
	if _, _, err := e.svc.UpdateResource(context.Background(), e.org, e.res, service.ResourceUpdate{Binding: &b}); err != nil {
		e.t.Fatal(err)
	}
}

// browserEnv is a Parley server (real SQLite file, the API and the web
// chat) whose web chat resource is bound to the example bot, behind a
// network the test can cut.
type browserEnv struct {
	t   *testing.T
	svc *service.Service
	org domain.OrgID
	app domain.AppID
	res domain.ResourceID
	srv *httptest.Server
	net *cuttableNetwork
}

func newBrowserEnv(t *testing.T) *browserEnv {
	t.Helper()
	ctx := context.Background()
	db := openSQLite(t)
	pub, priv, err := license.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	svc := service.New(service.Config{Store: db, Clock: clock.System{}, IDs: ids.Random{},
		Licenses: license.NewVerifier(pub), Identifiers: identifier.Normalizer{}})
	org, _, err := svc.CreateOrg(ctx, "Acme")
	if err != nil {
		t.Fatal(err)
	}
	// The bot's update_customer_identifier needs an ENTERPRISE licence.
	now := time.Now()
	token, err := license.Issue(priv, domain.License{OrgID: org.ID, Plan: domain.PlanEnterprise, IssuedAt: now, ExpiresAt: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.InstallLicense(ctx, org.ID, token); err != nil {
		t.Fatal(err)
	}
	app, err := svc.CreateApp(ctx, org.ID, "Change number")
	if err != nil {
		t.Fatal(err)
	}
	v, err := svc.CreateVersion(ctx, org.ID, app.ID, examples.ChangeNumberJSON)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Publish(ctx, org.ID, app.ID, v.ID, domain.EnvProduction); err != nil {
		t.Fatal(err)
	}
	res, err := svc.CreateResource(ctx, org.ID, service.ResourceInput{Kind: domain.ResourceWebChat, Name: "Acme support",
		Address: "site", AppID: app.ID, Environment: domain.EnvProduction})
	if err != nil {
		t.Fatal(err)
	}
	chat := &webchat.Server{Service: svc, Notifier: db}
	t.Cleanup(chat.Close)
	srv := httptest.NewUnstartedServer(httpapi.New(httpapi.Config{Service: svc, Store: db, Metrics: prometheus.NewRegistry(),
		Channels: httpapi.Channels{WebChatWidget: chat.Widget, WebChatDemo: chat.Demo, WebChatSocket: chat.Socket}}))
	network := &cuttableNetwork{Listener: srv.Listener, conns: map[net.Conn]bool{}}
	srv.Listener = network
	srv.Start()
	t.Cleanup(srv.Close)
	return &browserEnv{t: t, svc: svc, org: org.ID, app: app.ID, res: res.ID, srv: srv, net: network}
}

// conversation returns the resource's newest conversation.
func (e *browserEnv) conversation() domain.Conversation {
	e.t.Helper()
	cs, err := e.svc.ListConversations(context.Background(), e.org, domain.ConversationFilter{ResourceID: e.res, Limit: 1})
	if err != nil || len(cs) != 1 {
		e.t.Fatalf("conversations of the resource: %+v, %v; want one", cs, err)
	}
	return cs[0]
}

func (e *browserEnv) messages(conv domain.ConversationID) []domain.Message {
	e.t.Helper()
	ms, err := e.svc.ListMessages(context.Background(), e.org, conv, 0, service.MaxPageSize)
	if err != nil {
		e.t.Fatal(err)
	}
	return ms
}

// transcript is the store's transcript, one "seq author: text" line per
// message, as transcript shows the page's.
func (e *browserEnv) transcript(conv domain.ConversationID) string {
	var lines []string
	for _, m := range e.messages(conv) {
		lines = append(lines, fmt.Sprintf("%d %s: %s", m.Seq, m.Author, m.Text))
	}
	return strings.Join(lines, "\n")
}

func (e *browserEnv) lastText(conv domain.ConversationID) string {
	ms := e.messages(conv)
	return ms[len(ms)-1].Text
}

// storedAfter counts the messages stored after the customer's message
// text (the bot's answer to it included).
func (e *browserEnv) storedAfter(text string) int {
	ms := e.messages(e.conversation().ID)
	for i, m := range ms {
		if m.Text == text {
			return len(ms) - i - 1
		}
	}
	return -1
}

// cuttableNetwork is a listener whose connections the test cuts as a lost
// network would: every open connection is closed without a goodbye, and
// new ones are refused until restore.
type cuttableNetwork struct {
	net.Listener
	mu    sync.Mutex
	conns map[net.Conn]bool
	down  bool
	// trigger, when set, cuts the network as the server writes it.
	trigger []byte
	cut     chan struct{}
}

func (n *cuttableNetwork) Accept() (net.Conn, error) {
	for {
		c, err := n.Listener.Accept()
		if err != nil {
			return nil, err
		}
		n.mu.Lock()
		if n.down {
			n.mu.Unlock()
			c.Close()
			continue
		}
		n.conns[c] = true
		n.mu.Unlock()
		return &cuttableConn{Conn: c, net: n}, nil
	}
}

// cutWhenWritten cuts the network when the server writes text to a
// connection (instead of writing it); the channel closes then.
func (n *cuttableNetwork) cutWhenWritten(text string) <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.trigger, n.cut = []byte(text), make(chan struct{})
	return n.cut
}

// restore accepts connections again.
func (n *cuttableNetwork) restore() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.down = false
}

type cuttableConn struct {
	net.Conn
	net *cuttableNetwork
}

var errCut = errors.New("network cut by the test")

func (c *cuttableConn) Write(p []byte) (int, error) {
	n := c.net
	n.mu.Lock()
	if n.down {
		n.mu.Unlock()
		return 0, errCut
	}
	if n.trigger != nil && bytes.Contains(p, n.trigger) {
		n.down, n.trigger = true, nil
		for conn := range n.conns {
			conn.Close()
		}
		n.conns = map[net.Conn]bool{}
		close(n.cut)
		n.mu.Unlock()
		return 0, errCut
	}
	n.mu.Unlock()
	return c.Conn.Write(p)
}

func (c *cuttableConn) Close() error {
	c.net.mu.Lock()
	delete(c.net.conns, c.Conn)
	c.net.mu.Unlock()
	return c.Conn.Close()
}

// browser drives one headless chromium tab, saving screenshots.
type browser struct {
	*browsertest.Tab
}

// newBrowser starts chromium; a failed step's message carries the page's
// transcript.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	b := &browser{browsertest.Start(t, 900, 760)}
	b.Describe = b.transcript
	return b
}

// send types text into the widget, sends it, and waits until the page
// shows shown messages and none is waiting to be sent.
func (b *browser) send(step, text string, shown int) {
	b.T.Helper()
	b.Do(step,
		chromedp.SendKeys(chromedp.CSS(".parley-input"), text),
		chromedp.Click(chromedp.CSS(".parley-form button")),
		b.Until(fmt.Sprintf(`!document.querySelector(".parley-pending") && document.querySelectorAll(".parley-msg[data-seq]").length === %d`, shown)),
	)
}

// transcript is the page's transcript in document order, one "seq
// author: text" line per message (seq "-" for one waiting to be sent,
// "not sent (code)" for a refused one), "-- text" for a divider.
func (b *browser) transcript() string {
	v, err := chromedp.Run(b.Timeout(), chromedp.Evaluate[string](
		`[...document.querySelectorAll(".parley-transcript li")].map(li => li.classList.contains("parley-divider") ? "-- " + li.textContent :
			(li.dataset.seq || (li.dataset.error ? "not sent (" + li.dataset.error + ")" : "-")) + " " + li.dataset.author + ": " + li.textContent).join("\n")`))
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	return v
}
