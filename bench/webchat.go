package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/service"
)

// OpWebChatRoundTrip names the web chat measurement: a visitor's message
// sent on its socket until the ack and all of the bot's replies to it
// arrived on the socket.
const OpWebChatRoundTrip = "web chat round trip"

// WebChatConfig is the round trip measurement.
type WebChatConfig struct {
	// Visitors converse at once, each on its socket and conversation.
	Visitors int
	// Think is each visitor's mean pause between two messages (the load
	// is about Visitors/Think messages per second).
	Think    time.Duration
	Duration time.Duration
	Progress io.Writer
}

// RoundTripReport puts the web chat round trip beside the in-process turn
// under the same load.
type RoundTripReport struct {
	Visitors           int
	Think              time.Duration
	WebChat, InProcess Stats
}

// RunWebChat measures round trips: cfg.Visitors customers converse with
// the example bot, each pausing about cfg.Think between messages, first
// in process (service.Receive on a resource of the in-process store: the
// turn alone), then over web chat sockets on the target.
func RunWebChat(ctx context.Context, cfg WebChatConfig, target WebChatTarget, inProcess *InProcessWebChat) (RoundTripReport, error) {
	r := RoundTripReport{Visitors: cfg.Visitors, Think: cfg.Think}
	if cfg.Visitors <= 0 || cfg.Think <= 0 || cfg.Duration <= 0 {
		return r, errors.New("bench: visitors, think time and duration must be positive")
	}
	area, err := runDigits()
	if err != nil {
		return r, err
	}
	note(cfg.Progress, "setting up in-process: the example bot and a web chat resource")
	if err := inProcess.Setup(ctx); err != nil {
		return r, fmt.Errorf("bench: setting up in-process: %w", err)
	}
	scripts := newScripts(cfg.Visitors, area)
	note(cfg.Progress, "measuring in-process turns: %d visitors, one message every %s each, for %s", cfg.Visitors, cfg.Think, cfg.Duration)
	r.InProcess = paced(ctx, "in-process", OpWebChatRoundTrip, cfg.Visitors, cfg.Duration, cfg.Think, func(ctx context.Context, i int) error {
		text, want := scripts[i].next()
		replies, err := inProcess.Send(ctx, i, text)
		if err != nil {
			return err
		}
		return expectReplies(replies, want...)
	})

	note(cfg.Progress, "setting up web chat: the example bot and a web chat resource")
	resource, err := target.setup(ctx)
	if err != nil {
		return r, fmt.Errorf("bench: setting up web chat: %w", err)
	}
	note(cfg.Progress, "opening %d sockets", cfg.Visitors)
	visitors, err := dialAll(ctx, target.BaseURLs, resource, cfg.Visitors)
	defer func() {
		for _, v := range visitors {
			if v != nil {
				v.conn.CloseNow()
			}
		}
	}()
	if err != nil {
		return r, err
	}
	scripts = newScripts(cfg.Visitors, area)
	note(cfg.Progress, "measuring web chat round trips: %d visitors, one message every %s each, for %s", cfg.Visitors, cfg.Think, cfg.Duration)
	r.WebChat = paced(ctx, "webchat", OpWebChatRoundTrip, cfg.Visitors, cfg.Duration, cfg.Think, func(ctx context.Context, i int) error {
		text, want := scripts[i].next()
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		replies, err := visitors[i].Send(sctx, text, len(want))
		if err != nil {
			return err
		}
		return expectReplies(replies, want...)
	})
	for _, s := range []Stats{r.InProcess, r.WebChat} {
		if s.FirstErr != nil {
			return r, fmt.Errorf("bench: %d of %d messages failed on %s, first: %w", s.Errors, s.Ops+s.Errors, s.Driver, s.FirstErr)
		}
	}
	return r, nil
}

// dialAll opens n visitor sockets, 32 at a time, visitor i on
// baseURLs[i % len(baseURLs)].
func dialAll(ctx context.Context, baseURLs []string, resource string, n int) ([]*Visitor, error) {
	visitors := make([]*Visitor, n)
	var next atomic.Int64
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for range min(32, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				dctx, cancel := context.WithTimeout(ctx, time.Minute)
				v, err := DialVisitor(dctx, baseURLs[i%len(baseURLs)], resource)
				cancel()
				mu.Lock()
				visitors[i] = v
				if err != nil && first == nil {
					first = fmt.Errorf("bench: opening socket %d: %w", i, err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return visitors, first
}

// Print writes the report: the web chat round trip beside the in-process
// turn.
func (r RoundTripReport) Print(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "measurement\tvisitors\tmessages\terrors\tmessages/s\tp50\tp99\n")
	for _, s := range []Stats{r.WebChat, r.InProcess} {
		fmt.Fprintf(tw, "%s %s\t%d\t%d\t%d\t%.0f\t%s\t%s\n", s.Op, s.Driver, s.Clients, s.Ops, s.Errors, s.Throughput(),
			formatLatency(s.P50), formatLatency(s.P99))
	}
	if r.InProcess.P99 > 0 {
		fmt.Fprintf(tw, "web chat p99 / in-process p99\t%.2f\n", float64(r.WebChat.P99)/float64(r.InProcess.P99))
	}
	return tw.Flush()
}

// InProcessWebChat hands visitors' messages to the service as the web
// chat socket does (service.Receive), for the in-process figure.
type InProcessWebChat struct {
	Service *service.Service
	// Org must hold a valid ENTERPRISE licence.
	Org domain.OrgID

	resource domain.ResourceID
}

// Setup publishes the example bot and creates a web chat resource bound
// to it.
func (d *InProcessWebChat) Setup(ctx context.Context) error {
	app, _, err := publishInProcess(ctx, d.Service, d.Org, "bench web chat")
	if err != nil {
		return err
	}
	res, err := d.Service.CreateResource(ctx, d.Org, service.ResourceInput{
		Kind: domain.ResourceWebChat, Name: "bench web chat", Address: "bench-webchat",
		AppID: app.ID, Environment: domain.EnvProduction,
	})
	d.resource = res.ID
	return err
}

// Send receives visitor i's message and returns the bot's replies.
func (d *InProcessWebChat) Send(ctx context.Context, i int, text string) ([]string, error) {
	rec, err := d.Service.Receive(ctx, d.Org, service.Inbound{
		ResourceID: d.resource, Destination: fmt.Sprintf("web:bench-%d", i), Text: text, ClientID: newClientID(),
	})
	if err != nil {
		return nil, err
	}
	return domainTexts(rec.Replies), nil
}
