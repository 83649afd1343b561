package console

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/internal/browsertest"
)

// viewerZone is the browser's time zone: the console shows times in it and
// reads "as of" in it.
const viewerZone = "America/New_York"

// TestConsoleBrowser drives the console in a real (headless) chromium as
// an operator would: sign in, find a customer by an old identifier as of a
// past date and by the current one, open the identifier timeline, follow a
// conversation live while a message arrives through the API, send an
// operator message, try an identifier another customer holds, and sign
// out. Screenshots of every page go to console/testdata/artifacts.
func TestConsoleBrowser(t *testing.T) {
	if _, err := os.Stat(browsertest.ChromiumPath); err != nil {
		t.Skip("chromium is not installed; install it with: apt-get update && apt-get install -y chromium")
	}
	e := newEnv(t)
	a := e.newTenant("acme")
	ctx := t.Context()

	// History: the customer starts under an old number, changes it ten
	// days later; another customer holds a third number.
	first := e.start(a, "web-1", "tel:+1 555 010 0000")
	oldNumberTime := e.clock.Now().Add(5 * 24 * time.Hour)
	e.clock.Advance(10 * 24 * time.Hour)
	res, err := a.api.RunDataOperation(ctx, "update_customer_identifier", client.RunRequest{Inputs: map[string]any{
		"conversationId": first.ID, "customerIdentifier": "tel:+1 555 010 0001",
	}})
	must(t, err)
	if res.Error != nil {
		t.Fatalf("update_customer_identifier: %+v", res.Error)
	}
	other := e.start(a, "web-9", "tel:+15550100002")
	// The old number is recycled: a new customer holds it now.
	recycled := e.start(a, "web-8", "tel:+15550100000")
	e.catchUp()
	live := e.start(a, "web-2", "tel:+15550100001")
	customer := first.CustomerID

	b := &chrome{Tab: browsertest.Start(t, 1280, 900), base: e.srv.URL}
	_, err = chromedp.Call(b.Ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: viewerZone})
	must(t, err)
	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }

	b.Do("sign-in",
		chromedp.Navigate(b.url("/console/")),
		chromedp.WaitVisible(css("#key")),
		b.Shot("01-sign-in"),
		chromedp.SendKeys(css("#key"), a.key.Secret),
		chromedp.Submit(css("#key")),
		chromedp.WaitVisible(css("#q")),
		b.Shot("02-home"),
	)
	if org := b.text("signed-in org", ".who .org"); org != "acme" {
		t.Errorf("signed in as %q, want acme", org)
	}

	// The old number, as of a day when the customer held it, typed in the
	// viewer's time zone.
	asOf := oldNumberTime.In(mustZone(t, viewerZone)).Format("2006-01-02T15:04")
	if tz := b.value("time zone field", "input[name=tz]"); tz != viewerZone {
		t.Errorf("the search form sends time zone %q, want %q", tz, viewerZone)
	}
	b.Do("search-as-of",
		chromedp.SendKeys(css("#q"), "tel:+1 (555) 010-0000"),
		chromedp.SetValue(css("#asof"), asOf),
		chromedp.Click(css("form.search button")),
		b.Until(`document.querySelector("#result") && location.search.includes("asof=2")`),
		b.Shot("03-search-as-of"),
	)
	result := b.text("search result", "main")
	for _, want := range []string{"tel:+15550100000", "it was held by", customer} {
		if !strings.Contains(result, want) {
			t.Errorf("search of the old number as of %s: page lacks %q:\n%s", asOf, want, result)
		}
	}
	if strings.Contains(result, recycled.CustomerID) {
		t.Errorf("search of the old number as of %s shows its new holder %s", asOf, recycled.CustomerID)
	}

	// Every holder of the old number, oldest first.
	b.Do("holders",
		chromedp.Click(css("a.button.secondary")),
		chromedp.WaitVisible(css("table.holders")),
		b.Shot("03b-identifier-holders"),
	)
	holders := b.Eval("holders", `[...document.querySelectorAll("table.holders tbody tr td:first-child")].map(e => e.textContent.trim()).join(",")`)
	if holders != customer+","+recycled.CustomerID {
		t.Errorf("holders of tel:+15550100000: %s, want %s then %s", holders, customer, recycled.CustomerID)
	}
	b.Do("search-now",
		chromedp.Navigate(b.url("/console/")),
		chromedp.WaitVisible(css("#q")),
		chromedp.SetValue(css("#q"), "tel:+1 555 010 0001"),
		chromedp.SetValue(css("#asof"), ""),
		chromedp.Click(css("form.search button")),
		b.Until(`document.querySelector("#result") && location.pathname == "/console/search"`),
		b.Shot("04-search-now"),
	)
	result = b.text("search result", "main")
	for _, want := range []string{"Held now by", customer, live.ID, first.ID} {
		if !strings.Contains(result, want) {
			t.Errorf("search of the current number: page lacks %q:\n%s", want, result)
		}
	}

	b.Do("timeline",
		chromedp.Click(css("a.button")),
		chromedp.WaitVisible(css("ol.timeline")),
		b.Shot("05-customer-timeline"),
	)
	timeline := b.Eval("timeline", `[...document.querySelectorAll("ol.timeline li strong")].map(e => e.textContent).join(",")`)
	if timeline != "tel:+15550100001,tel:+15550100000" {
		t.Errorf("timeline (newest first): %v", timeline)
	}
	shown := b.text("a time", "ol.timeline li time")
	utc := b.Eval("a time's title", `document.querySelector("ol.timeline li time").title`)
	if !strings.HasSuffix(utc, "UTC") || strings.Contains(shown, "UTC") || !strings.Contains(shown, "EST") && !strings.Contains(shown, "EDT") {
		t.Errorf("time shown as %q (title %q), want the viewer's zone with UTC on hover", shown, utc)
	}

	// The timeline links each identifier to a search as of its start.
	b.Do("timeline-link",
		chromedp.Click(css("ol.timeline li:last-child a")),
		b.Until(`document.querySelector("#result") && location.search.includes("asof=")`),
	)
	if result := b.text("search from the timeline", "main"); !strings.Contains(result, "it was held by") || !strings.Contains(result, customer) {
		t.Errorf("the timeline's search link does not find the customer:\n%s", result)
	}

	// A message sent through the API appears on the open page.
	const message = `Hi <b>there</b> & <script>window.pwned = 1</script>`
	b.Do("conversation",
		chromedp.Navigate(b.url("/console/conversations/"+live.ID)),
		chromedp.WaitVisible(css("#transcript[data-live]")),
		chromedp.Sleep(300*time.Millisecond), // the stream is open
		chromedp.Func(func(context.Context, *chromedp.Target) error {
			_, err := a.api.AddMessage(ctx, live.ID, client.AddMessageRequest{Text: message})
			return err
		}),
		chromedp.WaitVisible(css(`#transcript li[data-seq="1"]`)),
		b.Shot("06-conversation-live"),
	)
	got := b.text("live message", `#transcript li[data-seq="1"] .text`)
	if pwned := b.Eval("script ran", `String(window.pwned === 1)`); got != message || pwned != "false" {
		t.Errorf("live message shown as %q (script ran: %s), want the text %q", got, pwned, message)
	}
	b.Do("operator-message",
		chromedp.SendKeys(css("#text"), "An operator here: we are on it."),
		chromedp.Submit(css("#text")),
		chromedp.WaitVisible(css("#transcript li.operator")),
		b.Shot("07-conversation-operator"),
	)
	if got := b.text("operator message", "#transcript li.operator .text"); got != "An operator here: we are on it." {
		t.Errorf("operator message shown as %q", got)
	}

	// A conversation with a bot: its turns and traces, errors marked.
	botConv := e.startBot(a, "web-bot", "../examples/change-number/bot.json")
	_, err = a.api.AddMessage(ctx, botConv.ID, client.AddMessageRequest{Text: "+1 555 010 0002"})
	must(t, err)
	b.Do("turns",
		chromedp.Navigate(b.url("/console/conversations/"+botConv.ID)),
		chromedp.WaitVisible(css("ol.turns")),
		chromedp.ScrollIntoView(css("#turns-h")),
		b.Shot("06b-conversation-turns"),
	)
	if n := b.Eval("turns", `String(document.querySelectorAll("ol.turns > li").length)`); n != "2" {
		t.Errorf("%s turns shown, want 2 (conversation_started, the answer)", n)
	}
	if code := b.Eval("operation error", `[...document.querySelectorAll("ol.steps .badge.error")].map(e => e.textContent).join(",")`); code != "identifier_taken" {
		t.Errorf("operation errors highlighted in the trace: %q, want identifier_taken", code)
	}
	if bot := b.Eval("bot", `document.querySelector("a[href^='/console/apps/']").textContent`); bot != "Number bot" {
		t.Errorf("the conversation's bot is shown as %q, want its app's name", bot)
	}

	b.Do("identifier-taken",
		chromedp.Navigate(b.url("/console/customers/"+customer)),
		chromedp.WaitVisible(css("#identifier input[name=identifier]")),
		chromedp.SendKeys(css("#identifier input[name=identifier]"), "tel:+1 555 010 0002"),
		chromedp.Submit(css("#identifier input[name=identifier]")),
		chromedp.WaitVisible(css("#identifier .error")),
		chromedp.ScrollIntoView(css("#identifier")),
		b.Shot("08-identifier-taken"),
	)
	if n := b.Eval("customer column", `String(document.querySelectorAll("td[data-label=Customer]").length)`); n != "0" {
		t.Errorf("the customer's own page repeats the customer in %s conversation rows", n)
	}
	errText := b.text("identifier_taken error", "#identifier .error")
	holderLink := b.Eval("holder link", `document.querySelector("#identifier .error a").getAttribute("href")`)
	if !strings.Contains(errText, other.CustomerID) || holderLink != "/console/customers/"+other.CustomerID {
		t.Errorf("identifier_taken shows %q linking %q, want the holder %s", errText, holderLink, other.CustomerID)
	}
	cus, err := a.api.GetCustomer(ctx, customer)
	must(t, err)
	if cus.Identifier == nil || *cus.Identifier != "tel:+15550100001" {
		t.Errorf("identifier after identifier_taken: %v", cus.Identifier)
	}

	// The identifier change made a delivery to the org's endpoint; replay it.
	b.Do("webhooks",
		chromedp.Navigate(b.url("/console/webhooks")), chromedp.WaitVisible(css("table.list")), b.Shot("15-webhooks"),
		chromedp.Click(css("table.list a")),
		chromedp.WaitVisible(css("table.deliveries")),
		chromedp.Click(css("table.deliveries button")),
		chromedp.WaitVisible(css(".notice")),
		b.Shot("16-webhook-replayed"),
	)
	if notice := b.text("replay notice", ".notice"); !strings.Contains(notice, "evt_") {
		t.Errorf("replay notice %q does not name the event", notice)
	}

	b.Do("other-pages",
		chromedp.Navigate(b.url("/console/runs")), chromedp.WaitVisible(css("table.runs")), b.Shot("09-runs"),
		chromedp.Navigate(b.url("/console/customers")), chromedp.WaitVisible(css("table.customers")), b.Shot("09b-customers"),
		chromedp.Navigate(b.url("/console/apps")), chromedp.WaitVisible(css("table.list")), b.Shot("10-apps"),
		chromedp.Navigate(b.url("/console/apps/"+a.app)), chromedp.WaitVisible(css("ul.versions")), b.Shot("11-app"),
		chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile),
		chromedp.Navigate(b.url("/console/customers/"+customer)), chromedp.WaitVisible(css("ol.timeline")), b.Shot("12-phone-customer"),
		chromedp.Navigate(b.url("/console/conversations/"+live.ID)), chromedp.WaitVisible(css("#transcript")), b.Shot("13-phone-conversation"),
		chromedp.EmulateViewport(1280, 900),
		chromedp.Navigate(b.url("/console/")), chromedp.WaitVisible(css("#q")),
	)

	cookies, err := chromedp.Call(b.Timeout(), network.GetCookies, network.GetCookiesParams{})
	must(t, err)
	var token string
	for _, c := range cookies.Cookies {
		if c.Name == sessionCookie {
			token = c.Value
			if !c.HTTPOnly || c.SameSite != network.CookieSameSiteStrict {
				t.Errorf("session cookie %+v is not HttpOnly and SameSite=Strict", c)
			}
		}
	}
	if token == "" {
		t.Fatal("no session cookie while signed in")
	}
	b.Do("sign-out",
		chromedp.Click(css(".who button")),
		chromedp.WaitVisible(css("#key")),
		b.Shot("14-signed-out"),
	)
	if _, err := e.svc.ConsoleSession(ctx, token); domain.ErrorCode(err) != domain.CodeUnauthorized {
		t.Errorf("session after signing out: %v", err)
	}
	b.Do("after-sign-out",
		chromedp.Navigate(b.url("/console/customers/"+customer)),
		chromedp.WaitVisible(css("#key")),
	)
	if location, err := chromedp.Run(b.Timeout(), chromedp.Location()); err != nil || !strings.Contains(location, "/console/sign-in") {
		t.Errorf("a page after signing out went to %s (%v), want the sign-in page", location, err)
	}
}

// chrome drives one browser tab of the console's test.
type chrome struct {
	*browsertest.Tab
	base string
}

func (b *chrome) url(path string) string { return b.base + path }

func (b *chrome) text(what, sel string) string {
	b.T.Helper()
	v, err := chromedp.Run(b.Timeout(), chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.T.Fatalf("reading %s (%s): %v", what, sel, err)
	}
	return v
}

func (b *chrome) value(what, sel string) string {
	b.T.Helper()
	v, err := chromedp.Run(b.Timeout(), chromedp.Value(chromedp.CSS(sel)))
	if err != nil {
		b.T.Fatalf("reading %s (%s): %v", what, sel, err)
	}
	return v
}

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	must(t, err)
	return loc
}
