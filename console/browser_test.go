package console

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/domain"
)

// chromiumPath is Debian's chromium, which the browser tests drive.
const chromiumPath = "/usr/bin/chromium"

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
	if _, err := os.Stat(chromiumPath); err != nil {
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

	artifacts, err := filepath.Abs(filepath.Join("testdata", "artifacts"))
	must(t, err)
	must(t, os.MkdirAll(artifacts, 0o755))
	t.Logf("screenshots: %s", artifacts)

	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.WindowSize(1280, 900),
	)...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	// The first call starts the browser, without a timeout (it would stop
	// the browser); each step then has its own.
	_, err = chromedp.Call(bctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: viewerZone})
	must(t, err)

	b := &chrome{t: t, ctx: bctx, artifacts: artifacts, base: e.srv.URL}
	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }

	b.do("sign-in",
		chromedp.Navigate(b.url("/console/")),
		chromedp.WaitVisible(css("#key")),
		b.shot("01-sign-in"),
		chromedp.SendKeys(css("#key"), a.key.Secret),
		chromedp.Submit(css("#key")),
		chromedp.WaitVisible(css("#q")),
		b.shot("02-home"),
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
	b.do("search-as-of",
		chromedp.SendKeys(css("#q"), "tel:+1 (555) 010-0000"),
		chromedp.SetValue(css("#asof"), asOf),
		chromedp.Click(css("form.search button")),
		b.until(`document.querySelector("#result") && location.search.includes("asof=2")`),
		b.shot("03-search-as-of"),
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
	b.do("holders",
		chromedp.Click(css("a.button.secondary")),
		chromedp.WaitVisible(css("table.holders")),
		b.shot("03b-identifier-holders"),
	)
	holders := b.eval("holders", `[...document.querySelectorAll("table.holders tbody tr td:first-child")].map(e => e.textContent.trim()).join(",")`)
	if holders != customer+","+recycled.CustomerID {
		t.Errorf("holders of tel:+15550100000: %s, want %s then %s", holders, customer, recycled.CustomerID)
	}
	b.do("search-now",
		chromedp.Navigate(b.url("/console/")),
		chromedp.WaitVisible(css("#q")),
		chromedp.SetValue(css("#q"), "tel:+1 555 010 0001"),
		chromedp.SetValue(css("#asof"), ""),
		chromedp.Click(css("form.search button")),
		b.until(`document.querySelector("#result") && location.pathname == "/console/search"`),
		b.shot("04-search-now"),
	)
	result = b.text("search result", "main")
	for _, want := range []string{"Held now by", customer, live.ID, first.ID} {
		if !strings.Contains(result, want) {
			t.Errorf("search of the current number: page lacks %q:\n%s", want, result)
		}
	}

	b.do("timeline",
		chromedp.Click(css("a.button")),
		chromedp.WaitVisible(css("ol.timeline")),
		b.shot("05-customer-timeline"),
	)
	timeline := b.eval("timeline", `[...document.querySelectorAll("ol.timeline li strong")].map(e => e.textContent).join(",")`)
	if timeline != "tel:+15550100001,tel:+15550100000" {
		t.Errorf("timeline (newest first): %v", timeline)
	}
	shown := b.text("a time", "ol.timeline li time")
	utc := b.eval("a time's title", `document.querySelector("ol.timeline li time").title`)
	if !strings.HasSuffix(utc, "UTC") || strings.Contains(shown, "UTC") || !strings.Contains(shown, "EST") && !strings.Contains(shown, "EDT") {
		t.Errorf("time shown as %q (title %q), want the viewer's zone with UTC on hover", shown, utc)
	}

	// The timeline links each identifier to a search as of its start.
	b.do("timeline-link",
		chromedp.Click(css("ol.timeline li:last-child a")),
		b.until(`document.querySelector("#result") && location.search.includes("asof=")`),
	)
	if result := b.text("search from the timeline", "main"); !strings.Contains(result, "it was held by") || !strings.Contains(result, customer) {
		t.Errorf("the timeline's search link does not find the customer:\n%s", result)
	}

	// A message sent through the API appears on the open page.
	const message = `Hi <b>there</b> & <script>window.pwned = 1</script>`
	b.do("conversation",
		chromedp.Navigate(b.url("/console/conversations/"+live.ID)),
		chromedp.WaitVisible(css("#transcript[data-live]")),
		chromedp.Sleep(300*time.Millisecond), // the stream is open
		chromedp.Func(func(context.Context, *chromedp.Target) error {
			_, err := a.api.AddMessage(ctx, live.ID, client.AddMessageRequest{Text: message})
			return err
		}),
		chromedp.WaitVisible(css(`#transcript li[data-seq="1"]`)),
		b.shot("06-conversation-live"),
	)
	got := b.text("live message", `#transcript li[data-seq="1"] .text`)
	if pwned := b.eval("script ran", `String(window.pwned === 1)`); got != message || pwned != "false" {
		t.Errorf("live message shown as %q (script ran: %s), want the text %q", got, pwned, message)
	}
	b.do("operator-message",
		chromedp.SendKeys(css("#text"), "An operator here: we are on it."),
		chromedp.Submit(css("#text")),
		chromedp.WaitVisible(css("#transcript li.operator")),
		b.shot("07-conversation-operator"),
	)
	if got := b.text("operator message", "#transcript li.operator .text"); got != "An operator here: we are on it." {
		t.Errorf("operator message shown as %q", got)
	}

	// A conversation with a bot: its turns and traces, errors marked.
	botConv := e.startBot(a, "web-bot", "../examples/change-number/bot.json")
	_, err = a.api.AddMessage(ctx, botConv.ID, client.AddMessageRequest{Text: "+1 555 010 0002"})
	must(t, err)
	b.do("turns",
		chromedp.Navigate(b.url("/console/conversations/"+botConv.ID)),
		chromedp.WaitVisible(css("ol.turns")),
		chromedp.ScrollIntoView(css("#turns-h")),
		b.shot("06b-conversation-turns"),
	)
	if n := b.eval("turns", `String(document.querySelectorAll("ol.turns > li").length)`); n != "2" {
		t.Errorf("%s turns shown, want 2 (conversation_started, the answer)", n)
	}
	if code := b.eval("operation error", `[...document.querySelectorAll("ol.steps .badge.error")].map(e => e.textContent).join(",")`); code != "identifier_taken" {
		t.Errorf("operation errors highlighted in the trace: %q, want identifier_taken", code)
	}
	if bot := b.eval("bot", `document.querySelector("a[href^='/console/apps/']").textContent`); bot != "Number bot" {
		t.Errorf("the conversation's bot is shown as %q, want its app's name", bot)
	}

	b.do("identifier-taken",
		chromedp.Navigate(b.url("/console/customers/"+customer)),
		chromedp.WaitVisible(css("#identifier input[name=identifier]")),
		chromedp.SendKeys(css("#identifier input[name=identifier]"), "tel:+1 555 010 0002"),
		chromedp.Submit(css("#identifier input[name=identifier]")),
		chromedp.WaitVisible(css("#identifier .error")),
		chromedp.ScrollIntoView(css("#identifier")),
		b.shot("08-identifier-taken"),
	)
	if n := b.eval("customer column", `String(document.querySelectorAll("td[data-label=Customer]").length)`); n != "0" {
		t.Errorf("the customer's own page repeats the customer in %s conversation rows", n)
	}
	errText := b.text("identifier_taken error", "#identifier .error")
	holderLink := b.eval("holder link", `document.querySelector("#identifier .error a").getAttribute("href")`)
	if !strings.Contains(errText, other.CustomerID) || holderLink != "/console/customers/"+other.CustomerID {
		t.Errorf("identifier_taken shows %q linking %q, want the holder %s", errText, holderLink, other.CustomerID)
	}
	cus, err := a.api.GetCustomer(ctx, customer)
	must(t, err)
	if cus.Identifier == nil || *cus.Identifier != "tel:+15550100001" {
		t.Errorf("identifier after identifier_taken: %v", cus.Identifier)
	}

	// The identifier change made a delivery to the org's endpoint; replay it.
	b.do("webhooks",
		chromedp.Navigate(b.url("/console/webhooks")), chromedp.WaitVisible(css("table.list")), b.shot("15-webhooks"),
		chromedp.Click(css("table.list a")),
		chromedp.WaitVisible(css("table.deliveries")),
		chromedp.Click(css("table.deliveries button")),
		chromedp.WaitVisible(css(".notice")),
		b.shot("16-webhook-replayed"),
	)
	if notice := b.text("replay notice", ".notice"); !strings.Contains(notice, "evt_") {
		t.Errorf("replay notice %q does not name the event", notice)
	}

	b.do("other-pages",
		chromedp.Navigate(b.url("/console/runs")), chromedp.WaitVisible(css("table.runs")), b.shot("09-runs"),
		chromedp.Navigate(b.url("/console/customers")), chromedp.WaitVisible(css("table.customers")), b.shot("09b-customers"),
		chromedp.Navigate(b.url("/console/apps")), chromedp.WaitVisible(css("table.list")), b.shot("10-apps"),
		chromedp.Navigate(b.url("/console/apps/"+a.app)), chromedp.WaitVisible(css("ul.versions")), b.shot("11-app"),
		chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile),
		chromedp.Navigate(b.url("/console/customers/"+customer)), chromedp.WaitVisible(css("ol.timeline")), b.shot("12-phone-customer"),
		chromedp.Navigate(b.url("/console/conversations/"+live.ID)), chromedp.WaitVisible(css("#transcript")), b.shot("13-phone-conversation"),
		chromedp.EmulateViewport(1280, 900),
		chromedp.Navigate(b.url("/console/")), chromedp.WaitVisible(css("#q")),
	)

	cookies, err := chromedp.Call(b.timeout(), network.GetCookies, network.GetCookiesParams{})
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
	b.do("sign-out",
		chromedp.Click(css(".who button")),
		chromedp.WaitVisible(css("#key")),
		b.shot("14-signed-out"),
	)
	if _, err := e.svc.ConsoleSession(ctx, token); domain.ErrorCode(err) != domain.CodeUnauthorized {
		t.Errorf("session after signing out: %v", err)
	}
	b.do("after-sign-out",
		chromedp.Navigate(b.url("/console/customers/"+customer)),
		chromedp.WaitVisible(css("#key")),
	)
	if location, err := chromedp.Run(b.timeout(), chromedp.Location()); err != nil || !strings.Contains(location, "/console/sign-in") {
		t.Errorf("a page after signing out went to %s (%v), want the sign-in page", location, err)
	}
}

// chrome drives one browser tab for a test, saving screenshots.
type chrome struct {
	t         *testing.T
	ctx       context.Context
	artifacts string
	base      string
}

func (b *chrome) url(path string) string { return b.base + path }

// timeout bounds one step.
func (b *chrome) timeout() context.Context {
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	b.t.Cleanup(cancel)
	return ctx
}

// do runs the actions of a step; when one fails it saves a screenshot
// failed-<name>.png and fails the test.
func (b *chrome) do(name string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.timeout(), steps...); err != nil {
		if png, serr := chromedp.Run(b.timeout(), chromedp.FullScreenshot(100)); serr == nil {
			_ = os.WriteFile(filepath.Join(b.artifacts, "failed-"+name+".png"), png, 0o644)
		}
		b.t.Fatalf("%s: %v (screenshot %s)", name, err, filepath.Join(b.artifacts, "failed-"+name+".png"))
	}
}

// until waits for a JavaScript condition to hold on the current page,
// across navigations (a page being replaced does not answer yet).
func (b *chrome) until(condition string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		for {
			ok, err := chromedp.Evaluate[bool](`document.readyState !== "loading" && Boolean(`+condition+")")(ctx, t)
			if err == nil && ok {
				return chromedp.Void{}, nil
			}
			select {
			case <-ctx.Done():
				return chromedp.Void{}, fmt.Errorf("waiting for %s: %w (last error %v)", condition, ctx.Err(), err)
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
}

// shot saves a full-page screenshot as <name>.png.
func (b *chrome) shot(name string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		if _, err := b.until(`document.readyState === "complete" && document.body.offsetWidth > 0`)(ctx, t); err != nil {
			return chromedp.Void{}, err
		}
		png, err := chromedp.FullScreenshot(100)(ctx, t)
		if err != nil {
			return chromedp.Void{}, err
		}
		return chromedp.Void{}, os.WriteFile(filepath.Join(b.artifacts, name+".png"), png, 0o644)
	}
}

func (b *chrome) text(what, sel string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.timeout(), chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("reading %s (%s): %v", what, sel, err)
	}
	return v
}

func (b *chrome) value(what, sel string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.timeout(), chromedp.Value(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("reading %s (%s): %v", what, sel, err)
	}
	return v
}

func (b *chrome) eval(what, expr string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.timeout(), chromedp.Evaluate[string](expr))
	if err != nil {
		b.t.Fatalf("evaluating %s: %v", what, err)
	}
	return v
}

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	must(t, err)
	return loc
}
