package bench

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/service"
)

// Scenarios of parley bench.
const (
	// ScenarioOperations calls the data operations (Run).
	ScenarioOperations = "operations"
	// ScenarioBot converses with the example bot (RunBot).
	ScenarioBot = "bot"
)

// OpBotTurn names the bot scenario's measurement: one turn, a message sent
// (or a conversation started) and the bot's replies received.
const OpBotTurn = "bot turn"

// BotDriver converses with the example bot of examples/change-number.
type BotDriver interface {
	Name() string
	// SetupBot publishes the example bot to production and creates a web
	// chat channel resource for it.
	SetupBot(ctx context.Context) error
	// Start starts a conversation for destination and returns its id and
	// the bot's replies.
	Start(ctx context.Context, destination string) (string, []string, error)
	// Send sends the customer's text and returns the bot's replies and
	// whether the conversation is still live.
	Send(ctx context.Context, conversation, text string) ([]string, bool, error)
}

// botClient is one customer talking to the bot, over and over: start (the
// greeting and the question), an answer that is not a number (asked
// again), a new number (updated, goodbye, closed). Each of the three is a
// turn.
type botClient struct {
	driver       BotDriver
	id           int
	run          string
	conversation string
	numbers      int
	invalidSent  bool
}

// turn runs the client's next turn and checks the replies.
func (c *botClient) turn(ctx context.Context) error {
	if c.conversation == "" {
		conv, replies, err := c.driver.Start(ctx, fmt.Sprintf("bench-bot-%s-%d-%d", c.run, c.id, c.numbers))
		if err != nil {
			return err
		}
		c.conversation, c.invalidSent = conv, false
		return expectReplies(replies, "Hi!", "What is your new phone number?")
	}
	if !c.invalidSent {
		replies, _, err := c.driver.Send(ctx, c.conversation, "my number is the usual one")
		c.invalidSent = true
		if err != nil {
			return err
		}
		return expectReplies(replies, "Sorry, that does not look like a phone number")
	}
	// A number of its own: +1 and ten digits, unique per run, client and
	// round (another run's number is answered identifier_taken, which is
	// a turn all the same).
	c.numbers++
	number := fmt.Sprintf("+1 %s %03d %04d", c.run[:3], c.id%1000, c.numbers%10000)
	replies, live, err := c.driver.Send(ctx, c.conversation, number)
	c.invalidSent = false
	if err != nil {
		return err
	}
	if !live {
		c.conversation = ""
		return expectReplies(replies, "Done: we now know you by")
	}
	return expectReplies(replies, "That number belongs to another account", "What is your new phone number?")
}

func expectReplies(got []string, prefixes ...string) error {
	if len(got) != len(prefixes) {
		return fmt.Errorf("the bot replied %q, want %d replies starting %q", got, len(prefixes), prefixes)
	}
	for i, p := range prefixes {
		if !strings.HasPrefix(got[i], p) {
			return fmt.Errorf("the bot replied %q, want %q...", got[i], p)
		}
	}
	return nil
}

// RunBot measures bot turns: cfg.Clients customers converse with the
// example bot at once, in process and then over HTTP.
func RunBot(ctx context.Context, cfg Config, httpDriver, inProcess BotDriver) (Report, error) {
	if cfg.Clients <= 0 || cfg.Duration <= 0 {
		return Report{}, errors.New("bench: clients and duration must be positive")
	}
	report := Report{Clients: cfg.Clients, Duration: cfg.Duration}
	run, err := runDigits()
	if err != nil {
		return report, err
	}
	cmp := Comparison{Op: OpBotTurn}
	var failed error
	for _, d := range []BotDriver{inProcess, httpDriver} {
		progress(cfg, "setting up %s: the example bot", d.Name())
		if err := d.SetupBot(ctx); err != nil {
			return report, fmt.Errorf("bench: setting up %s: %w", d.Name(), err)
		}
		clients := make([]*botClient, cfg.Clients)
		for i := range clients {
			clients[i] = &botClient{driver: d, id: i, run: run}
		}
		progress(cfg, "measuring %s %s: %d clients for %s", d.Name(), OpBotTurn, cfg.Clients, cfg.Duration)
		s := measure(ctx, d.Name(), OpBotTurn, len(clients), cfg.Duration, func(ctx context.Context, i int) error {
			return clients[i].turn(ctx)
		})
		if s.FirstErr != nil && failed == nil {
			failed = fmt.Errorf("bench: %d of %d turns failed on %s, first: %w", s.Errors, s.Ops+s.Errors, s.Driver, s.FirstErr)
		}
		if d == inProcess {
			cmp.InProcess = s
		} else {
			cmp.HTTP = s
		}
	}
	report.Comparisons = append(report.Comparisons, cmp)
	return report, failed
}

// runDigits returns three random digits (not starting with 0 or 1, as an
// area code) that tell this run's phone numbers from another run's.
func runDigits() (string, error) {
	id, err := randomID()
	if err != nil {
		return "", err
	}
	n := 0
	for _, c := range id {
		n = n*16 + strings.IndexRune("0123456789abcdef", c)
	}
	return fmt.Sprintf("%03d", 200+n%800), nil
}

// HTTPBot converses with the example bot through one or several servers.
type HTTPBot struct {
	// Client is authenticated with an admin API key of an org holding a
	// valid ENTERPRISE licence; it sets the bot up.
	Client *client.Client
	// Nodes, when set, are clients of several servers of one database:
	// benchmark client i talks to Nodes[i % len(Nodes)].
	Nodes []*client.Client

	deployment, resource string
	mu                   sync.Mutex
	node                 map[string]*client.Client // by conversation
}

var _ BotDriver = (*HTTPBot)(nil)

// Name returns "http".
func (d *HTTPBot) Name() string { return "http" }

// SetupBot publishes the example bot through the API.
func (d *HTTPBot) SetupBot(ctx context.Context) error {
	_, dep, err := publishOverAPI(ctx, d.Client, "bench change number")
	if err != nil {
		return err
	}
	res, err := d.Client.CreateChannelResource(ctx, client.CreateChannelResourceRequest{Kind: client.KindWebChat, Name: "bench bot", Address: "bench-bot-widget"})
	if err != nil {
		return err
	}
	d.deployment, d.resource = dep.ID, res.ID
	d.node = map[string]*client.Client{}
	return nil
}

// Start starts a conversation with the bot, on the node of the client.
func (d *HTTPBot) Start(ctx context.Context, destination string) (string, []string, error) {
	node := d.nodeFor(destination)
	st, err := node.StartConversation(ctx, client.StartConversationRequest{
		DeploymentID: d.deployment, ResourceID: d.resource, CustomerDestination: destination,
	})
	if err != nil {
		return "", nil, err
	}
	d.mu.Lock()
	d.node[st.Conversation.ID] = node
	d.mu.Unlock()
	return st.Conversation.ID, messageTexts(st.Replies), nil
}

// Send sends the customer's message over HTTP.
func (d *HTTPBot) Send(ctx context.Context, conversation, text string) ([]string, bool, error) {
	d.mu.Lock()
	node := d.node[conversation]
	d.mu.Unlock()
	got, err := node.AddMessage(ctx, conversation, client.AddMessageRequest{Text: text})
	if err != nil {
		return nil, false, err
	}
	return messageTexts(got.Replies), got.ConversationStatus == "live", nil
}

// nodeFor spreads destinations ("bench-bot-RUN-CLIENT-N") over the nodes
// by client.
func (d *HTTPBot) nodeFor(destination string) *client.Client {
	if len(d.Nodes) == 0 {
		return d.Client
	}
	h := 0
	if parts := strings.Split(destination, "-"); len(parts) >= 2 {
		fmt.Sscan(parts[len(parts)-2], &h)
	}
	return d.Nodes[h%len(d.Nodes)]
}

func messageTexts(ms []client.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Text
	}
	return out
}

// InProcessBot converses with the example bot through the service
// directly, for the in-process figure.
type InProcessBot struct {
	Service *service.Service
	// Org must hold a valid ENTERPRISE licence.
	Org domain.OrgID

	deployment domain.DeploymentID
	resource   domain.ResourceID
}

var _ BotDriver = (*InProcessBot)(nil)

// Name returns "in-process".
func (d *InProcessBot) Name() string { return "in-process" }

// SetupBot publishes the example bot through the service.
func (d *InProcessBot) SetupBot(ctx context.Context) error {
	_, dep, err := publishInProcess(ctx, d.Service, d.Org, "bench change number")
	if err != nil {
		return err
	}
	res, err := d.Service.CreateResource(ctx, d.Org, service.ResourceInput{Kind: domain.ResourceWebChat, Name: "bench bot", Address: "bench-bot-widget"})
	if err != nil {
		return err
	}
	d.deployment, d.resource = dep.ID, res.ID
	return nil
}

// Start starts a conversation with the bot through the service.
func (d *InProcessBot) Start(ctx context.Context, destination string) (string, []string, error) {
	st, err := d.Service.StartConversation(ctx, d.Org, service.StartInput{
		DeploymentID: d.deployment, Party: service.Party{ResourceID: d.resource, CustomerDestination: destination},
	})
	if err != nil {
		return "", nil, err
	}
	return string(st.Conversation.ID), domainTexts(st.Replies), nil
}

// Send hands the customer's message to the service.
func (d *InProcessBot) Send(ctx context.Context, conversation, text string) ([]string, bool, error) {
	rec, err := d.Service.ReceiveInConversation(ctx, d.Org, domain.ConversationID(conversation), text, "")
	if err != nil {
		return nil, false, err
	}
	return domainTexts(rec.Replies), rec.Conversation.Status == domain.StatusLive, nil
}

func domainTexts(ms []domain.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Text
	}
	return out
}
