package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleyhq/parley/client"
)

// ScenarioSoak runs a steady mixed load for a long time while sampling the
// database and the server (RunSoak).
const ScenarioSoak = "soak"

// Calls of the soak, by kind.
const (
	SoakUpdate  = "update_customer_identifier"
	SoakFind    = "find_conversations_by_customer_identifier"
	SoakBotTurn = "bot turn"
	SoakEvents  = "event feed page"
)

// SoakConfig is one soak run.
type SoakConfig struct {
	// Clients share the load; each cycles through an update of its own
	// conversation's customer identifier, a find of it, and a turn of a
	// conversation with the example bot (a start, a message or a new
	// number, which closes the conversation).
	Clients int
	// Rate is the calls per second of all clients together, paced: each
	// client pauses a random time around Clients/Rate between two calls.
	Rate float64
	// Duration is how long the load runs; Sample the time between two
	// samples (the first is taken when the load starts, the last when it
	// ends).
	Duration, Sample time.Duration
	// Progress, when set, receives a line per phase and per sample.
	Progress io.Writer
}

// SoakTarget is the server under soak and its database.
type SoakTarget struct {
	// Client is authenticated with an admin API key of an org holding a
	// valid ENTERPRISE licence.
	Client *client.Client
	// Probe reads the server's database.
	Probe DBProbe
	// Webhooks subscribes a receiver in this process (on 127.0.0.1) to
	// every event, so that deliveries and attempts are written; the
	// server must allow loopback endpoints (--webhooks-allow-private).
	Webhooks bool
}

// soakRun is the state of one soak: the clients' conversations and the
// calls counted since the last sample.
type soakRun struct {
	cfg      SoakConfig
	target   SoakTarget
	ops      *workload
	bots     []*botClient
	results  map[string][]callResults // by kind, one per client (the feed follower's at 0)
	window   atomic.Int64             // calls since the last sample
	failures atomic.Int64             // failed calls since the last sample
	received atomic.Int64             // webhook requests received
}

// RunSoak sets up the example bot, the clients' conversations and (with
// target.Webhooks) a webhook endpoint, then runs the paced load and an
// event feed follower (one page a second) for cfg.Duration, sampling the
// database and the server every cfg.Sample. It returns the report, with an
// error when setup or a call failed, or a *SoakMiss when the verdict says
// something grew.
func RunSoak(ctx context.Context, cfg SoakConfig, target SoakTarget) (SoakReport, error) {
	report := SoakReport{Config: cfg}
	if cfg.Clients <= 0 || cfg.Rate <= 0 || cfg.Duration <= 0 || cfg.Sample <= 0 || target.Client == nil || target.Probe == nil {
		return report, errors.New("bench: soak clients, rate, duration, sample interval, client and probe are required")
	}
	r := &soakRun{cfg: cfg, target: target, results: map[string][]callResults{}}
	for _, kind := range []string{SoakUpdate, SoakFind, SoakBotTurn, SoakEvents} {
		r.results[kind] = make([]callResults, cfg.Clients)
	}
	if target.Webhooks {
		stop, err := r.subscribe(ctx)
		if err != nil {
			return report, fmt.Errorf("bench: soak webhook endpoint (is the server started with --webhooks-allow-private?): %w", err)
		}
		defer stop()
	}
	if err := r.setup(ctx); err != nil {
		return report, fmt.Errorf("bench: setting up the soak: %w", err)
	}
	report.Samples = r.drive(ctx)
	report.Calls = r.stats()
	report.WebhooksReceived = r.received.Load()
	report.Verdict = Judge(report.Samples)
	if err := report.failed(); err != nil {
		return report, err
	}
	return report, report.Verdict.Err()
}

// setup publishes the example bot and starts one conversation per client
// for its updates and finds.
func (r *soakRun) setup(ctx context.Context) error {
	note(r.cfg.Progress, "setting up: the example bot and %d conversations", r.cfg.Clients)
	runID, err := randomID()
	if err != nil {
		return err
	}
	area, err := runDigits()
	if err != nil {
		return err
	}
	bot := &soakBot{HTTPBot: HTTPBot{Client: r.target.Client}, run: runID}
	if err := bot.SetupBot(ctx); err != nil {
		return err
	}
	convs := make([]string, r.cfg.Clients)
	for i := range convs {
		if convs[i], _, err = bot.Start(ctx, fmt.Sprintf("soak-ops-%s-%d", runID, i)); err != nil {
			return err
		}
	}
	r.ops = newWorkload(newSoakOps(r.target.Client, bot.keys, convs), convs, runID)
	for i := range r.cfg.Clients {
		r.bots = append(r.bots, &botClient{driver: bot, id: i, run: area})
	}
	return nil
}

// drive runs the clients, the feed follower and the sampler until the
// duration is over, and returns the samples.
func (r *soakRun) drive(ctx context.Context) []SoakSample {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Duration)
	defer cancel()
	note(r.cfg.Progress, "soaking: %d clients, %.1f calls/s, for %s; a sample every %s", r.cfg.Clients, r.cfg.Rate, r.cfg.Duration, r.cfg.Sample)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range r.cfg.Clients {
		wg.Go(func() { r.client(ctx, i) })
	}
	wg.Go(func() { r.follow(ctx) })
	sampleCtx := context.WithoutCancel(ctx)
	samples := []SoakSample{r.sample(sampleCtx, start)}
	ticker := time.NewTicker(r.cfg.Sample)
	defer ticker.Stop()
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-ticker.C:
			samples = append(samples, r.sample(sampleCtx, start))
		}
	}
	wg.Wait()
	return append(samples, r.sample(sampleCtx, start))
}

// client runs client i's calls, paced, until ctx ends.
func (r *soakRun) client(ctx context.Context, i int) {
	think := time.Duration(float64(r.cfg.Clients) / r.cfg.Rate * float64(time.Second))
	wait := rand.N(think + 1)
	for step := 0; ; step++ {
		if pause(ctx, wait) != nil {
			return
		}
		kind := []string{SoakUpdate, SoakFind, SoakBotTurn}[step%3]
		t0 := time.Now()
		var err error
		switch kind {
		case SoakBotTurn:
			err = r.bots[i].turn(ctx)
		case SoakUpdate:
			err = r.ops.call(ctx, OpUpdate, r.ops.clients[i])
		default:
			err = r.ops.call(ctx, OpFind, r.ops.clients[i])
		}
		if ctx.Err() != nil {
			return // the call was cut short by the end of the soak
		}
		r.count(kind, i, t0, err)
		wait = think/2 + rand.N(think+1)
	}
}

func (r *soakRun) count(kind string, i int, t0 time.Time, err error) {
	r.results[kind][i].add(t0, err)
	r.window.Add(1)
	if err != nil {
		r.failures.Add(1)
	}
}

// follow reads the event feed from its start, a page a second, as an
// integration polling GET /v1/events?after= would.
func (r *soakRun) follow(ctx context.Context) {
	var after int64
	for pause(ctx, time.Second) == nil {
		t0 := time.Now()
		page, err := r.target.Client.ListEvents(ctx, client.ListEventsParams{After: after, Limit: 200})
		if ctx.Err() != nil {
			return
		}
		r.count(SoakEvents, 0, t0, err)
		if err == nil && page.Next > after {
			after = page.Next
		}
	}
}

// stats summarizes the calls of each kind.
func (r *soakRun) stats() []Stats {
	var out []Stats
	for _, kind := range []string{SoakUpdate, SoakFind, SoakBotTurn, SoakEvents} {
		s := summarize("http", kind, time.Now(), r.results[kind])
		s.Elapsed = r.cfg.Duration
		out = append(out, s)
	}
	return out
}

// subscribe starts a webhook receiver on 127.0.0.1 answering 204 and
// creates an endpoint for it subscribed to every event type.
func (r *soakRun) subscribe(ctx context.Context) (stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		r.received.Add(1)
		w.WriteHeader(http.StatusNoContent)
	})}
	go func() { _ = srv.Serve(ln) }()
	stop = func() { _ = srv.Close() }
	note(r.cfg.Progress, "setting up: a webhook endpoint at http://%s/hook for every event", ln.Addr())
	if _, err := r.target.Client.CreateWebhookEndpoint(ctx, client.CreateWebhookEndpointRequest{
		URL: "http://" + ln.Addr().String() + "/hook", Description: "parley bench soak",
	}); err != nil {
		stop()
		return nil, err
	}
	return stop, nil
}

// soakKeys hands out Idempotency-Keys, as a careful client sends with
// every write (they are what idempotency retention prunes).
type soakKeys struct {
	run  string
	next atomic.Int64
}

func (k *soakKeys) key() string { return fmt.Sprintf("soak-%s-%d", k.run, k.next.Add(1)) }

// soakBot is HTTPBot with an Idempotency-Key on every write.
type soakBot struct {
	HTTPBot
	run  string
	keys *soakKeys
}

// SetupBot publishes the example bot.
func (d *soakBot) SetupBot(ctx context.Context) error {
	d.keys = &soakKeys{run: d.run}
	return d.HTTPBot.SetupBot(ctx)
}

// Start starts a conversation with the bot.
func (d *soakBot) Start(ctx context.Context, destination string) (string, []string, error) {
	st, err := d.Client.StartConversation(ctx, client.StartConversationRequest{
		DeploymentID: d.deployment, ResourceID: d.resource, CustomerDestination: destination, IdempotencyKey: d.keys.key(),
	})
	if err != nil {
		return "", nil, err
	}
	return st.Conversation.ID, messageTexts(st.Replies), nil
}

// Send sends the customer's message.
func (d *soakBot) Send(ctx context.Context, conversation, text string) ([]string, bool, error) {
	got, err := d.Client.AddMessage(ctx, conversation, client.AddMessageRequest{Text: text, IdempotencyKey: d.keys.key()})
	if err != nil {
		return nil, false, err
	}
	return messageTexts(got.Replies), got.ConversationStatus == "live", nil
}

// soakOps runs the data operations: updates with an Idempotency-Key,
// finds as HTTP does.
type soakOps struct {
	*HTTP
	keys *soakKeys
}

var _ Driver = (*soakOps)(nil)

// newSoakOps drives the conversations convs through c.
func newSoakOps(c *client.Client, keys *soakKeys, convs []string) *soakOps {
	d := &soakOps{HTTP: &HTTP{Client: c, node: map[string]*client.Client{}}, keys: keys}
	for _, conv := range convs {
		d.node[conv] = c
	}
	return d
}

// Setup is not used: the soak starts its conversations with the bot.
func (d *soakOps) Setup(context.Context, int) ([]string, error) {
	return nil, errors.New("bench: the soak starts its conversations with the bot")
}

// Update runs update_customer_identifier with an Idempotency-Key.
func (d *soakOps) Update(ctx context.Context, conversation, identifier string) error {
	return httpUpdate(ctx, d.Client, conversation, identifier, d.keys.key())
}
