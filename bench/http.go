package bench

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/parleyhq/parley/client"
)

// HTTP drives one or several Parley servers (on one database) through the
// Go client.
type HTTP struct {
	// Client is authenticated with an API key of an org holding a valid
	// ENTERPRISE licence; it sets the benchmark up.
	Client *client.Client
	// Nodes, when set, are clients of several servers of the same
	// deployment: benchmark client i calls Nodes[i % len(Nodes)].
	Nodes []*client.Client

	node map[string]*client.Client // by conversation, filled by Setup
}

var _ Driver = (*HTTP)(nil)

// NewHTTPClient returns an HTTP client that keeps one idle connection per
// benchmark client, so connections are reused rather than re-dialled.
func NewHTTPClient(clients int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = clients * 2
	t.MaxIdleConnsPerHost = clients * 2
	return &http.Client{Transport: t, Timeout: 30 * time.Second}
}

// Name returns "http".
func (d *HTTP) Name() string { return "http" }

// Setup creates an app with one version published to production, a web
// chat channel resource and n conversations on them.
func (d *HTTP) Setup(ctx context.Context, n int) ([]string, error) {
	app, err := d.Client.CreateApp(ctx, client.CreateAppRequest{Name: "bench"})
	if err != nil {
		return nil, err
	}
	v, err := d.Client.CreateVersion(ctx, app.ID, client.CreateVersionRequest{})
	if err != nil {
		return nil, err
	}
	dep, err := d.Client.Publish(ctx, app.ID, client.PublishRequest{VersionID: v.ID, Environment: client.EnvProduction})
	if err != nil {
		return nil, err
	}
	res, err := d.Client.CreateChannelResource(ctx, client.CreateChannelResourceRequest{Kind: client.KindWebChat, Name: "bench", Address: "bench-widget"})
	if err != nil {
		return nil, err
	}
	convs := make([]string, n)
	d.node = make(map[string]*client.Client, n)
	for i := range convs {
		st, err := d.Client.StartConversation(ctx, client.StartConversationRequest{
			DeploymentID: dep.ID, ResourceID: res.ID, CustomerDestination: fmt.Sprintf("bench-session-%d", i),
		})
		if err != nil {
			return nil, err
		}
		convs[i] = st.Conversation.ID
		d.node[st.Conversation.ID] = d.Client
		if len(d.Nodes) > 0 {
			d.node[st.Conversation.ID] = d.Nodes[i%len(d.Nodes)]
		}
	}
	return convs, nil
}

// Update runs update_customer_identifier over HTTP.
func (d *HTTP) Update(ctx context.Context, conversation, identifier string) error {
	return httpUpdate(ctx, d.node[conversation], conversation, identifier, "")
}

// Find runs find_conversations_by_customer_identifier over HTTP.
func (d *HTTP) Find(ctx context.Context, identifier, conversation string) error {
	ids, err := httpFind(ctx, d.node[conversation], identifier)
	if err != nil {
		return err
	}
	return checkFound(ids, conversation)
}

// HTTPTarget is the HTTP API of one or several servers of one database,
// for seeded runs: client i calls Nodes[i % len(Nodes)].
type HTTPTarget struct {
	Nodes []*client.Client
}

var _ Target = HTTPTarget{}

// Name returns "http".
func (t HTTPTarget) Name() string { return "http" }

// Update runs update_customer_identifier over HTTP.
func (t HTTPTarget) Update(ctx context.Context, i int, conversation, identifier string) error {
	return httpUpdate(ctx, t.Nodes[i%len(t.Nodes)], conversation, identifier, "")
}

// Find runs find_conversations_by_customer_identifier over HTTP.
func (t HTTPTarget) Find(ctx context.Context, i int, identifier string) ([]string, error) {
	return httpFind(ctx, t.Nodes[i%len(t.Nodes)], identifier)
}

// httpUpdate runs update_customer_identifier over HTTP (with an
// Idempotency-Key unless key is "") and checks it changed the identifier.
func httpUpdate(ctx context.Context, c *client.Client, conversation, identifier, key string) error {
	res, err := c.RunDataOperation(ctx, OpUpdate, client.RunRequest{
		Inputs:         map[string]any{"conversationId": conversation, "customerIdentifier": identifier},
		IdempotencyKey: key,
	})
	if err != nil {
		return err
	}
	if res.Error != nil {
		return res.Error
	}
	ok, err := res.Bool()
	if err != nil {
		return err
	}
	return checkUpdated(ok)
}

func httpFind(ctx context.Context, c *client.Client, identifier string) ([]string, error) {
	res, err := c.RunDataOperation(ctx, OpFind, client.RunRequest{
		Inputs: map[string]any{"customerIdentifier": identifier},
	})
	if err != nil {
		return nil, err
	}
	if res.Error != nil {
		return nil, res.Error
	}
	return res.Strings()
}
