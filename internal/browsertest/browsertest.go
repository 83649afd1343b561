// Package browsertest drives Debian's chromium, headless through chromedp,
// for the browser tests of the web chat and the console: the skip when it
// is missing, the launch flags, steps that save a screenshot when they
// fail, waiting for a condition on the page, and screenshots kept as test
// artifacts. Only tests import it.
package browsertest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// ChromiumPath is Debian's chromium (apt-get install chromium).
const ChromiumPath = "/usr/bin/chromium"

// stepTimeout bounds one step of a test.
const stepTimeout = 30 * time.Second

// Tab is one browser tab of a test.
type Tab struct {
	T testing.TB
	// Ctx is the tab's context, without a timeout (Timeout gives a step's).
	Ctx context.Context
	// Artifacts is the absolute folder of the screenshots.
	Artifacts string
	// Describe, when set, adds what the page shows to a failed step's
	// message.
	Describe func() string
}

// Start skips t when chromium is not installed; otherwise it starts a
// headless chromium window of the given size, with the flags CI needs,
// and screenshots in testdata/artifacts (its absolute path logged).
func Start(t testing.TB, width, height int) *Tab {
	t.Helper()
	if _, err := os.Stat(ChromiumPath); err != nil {
		t.Skip("chromium is not installed; install it with: apt-get update && apt-get install -y chromium")
	}
	artifacts, err := filepath.Abs(filepath.Join("testdata", "artifacts"))
	if err == nil {
		err = os.MkdirAll(artifacts, 0o755)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots: %s", artifacts)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(ChromiumPath), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.WindowSize(width, height),
	)...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(cancel)
	// The first action starts the browser, without a timeout (it would
	// stop the browser); each step then has its own.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return &Tab{T: t, Ctx: ctx, Artifacts: artifacts}
}

// Timeout is the context of one step.
func (b *Tab) Timeout() context.Context {
	ctx, cancel := context.WithTimeout(b.Ctx, stepTimeout)
	b.T.Cleanup(cancel)
	return ctx
}

// Do runs the actions of a step; when one fails, Fail.
func (b *Tab) Do(name string, steps ...chromedp.Action[chromedp.Void]) {
	b.T.Helper()
	if err := chromedp.Do(b.Timeout(), steps...); err != nil {
		b.Fail(name, err)
	}
}

// Fail saves a screenshot failed-<name>.png and fails the test with err.
func (b *Tab) Fail(name string, err error) {
	b.T.Helper()
	path := filepath.Join(b.Artifacts, "failed-"+name+".png")
	if png, serr := chromedp.Run(b.Timeout(), chromedp.FullScreenshot(100)); serr == nil {
		_ = os.WriteFile(path, png, 0o644)
	}
	page := ""
	if b.Describe != nil {
		page = "; the page shows:\n" + b.Describe()
	}
	b.T.Fatalf("%s: %v (screenshot %s%s)", name, err, path, page)
}

// Until waits for a JavaScript condition to hold on the current page,
// across navigations (a page being replaced does not answer yet).
func (b *Tab) Until(condition string) chromedp.Action[chromedp.Void] {
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

// Shot saves a full-page screenshot as <name>.png once the page has
// loaded and is laid out.
func (b *Tab) Shot(name string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		if _, err := b.Until(`document.readyState === "complete" && document.body.offsetWidth > 0`)(ctx, t); err != nil {
			return chromedp.Void{}, err
		}
		png, err := chromedp.FullScreenshot(100)(ctx, t)
		if err != nil {
			return chromedp.Void{}, err
		}
		return chromedp.Void{}, os.WriteFile(filepath.Join(b.Artifacts, name+".png"), png, 0o644)
	}
}

// Eval evaluates a JavaScript expression of string value; what names it
// in a failure.
func (b *Tab) Eval(what, expr string) string {
	b.T.Helper()
	v, err := chromedp.Run(b.Timeout(), chromedp.Evaluate[string](expr))
	if err != nil {
		b.T.Fatalf("evaluating %s: %v", what, err)
	}
	return v
}
