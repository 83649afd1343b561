package e2e

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/e2e/proc"
)

// Crash test sizes: conversations started (each a conversation.started
// event) while the server delivers to a receiver slow enough that
// requests are in flight when the server is killed.
const (
	crashEvents       = 300
	crashConcurrency  = 8
	crashReceiverWait = 40 * time.Millisecond
)

// TestWebhookCrash kills the server (SIGKILL) while it delivers webhooks,
// restarts it on the same data, and checks that every event was
// delivered at least once, with valid signatures. It counts the events
// delivered twice: only a request the killed process had sent but not yet
// recorded may be sent again (after its lease expires), or one the worker
// saw fail (a timeout) although the receiver got it, so each duplicate
// must have one successful attempt in the log and have first arrived
// before the kill or have its failed attempt logged
// (proc.Receiver.CheckDuplicates).
func TestWebhookCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and kills a server process")
	}
	bin := proc.Build(t)
	data := t.TempDir()
	flags := []string{"--data", data, "--webhooks-allow-private", "--webhooks-timeout", "1s",
		"--webhooks-concurrency", fmt.Sprint(crashConcurrency)}
	srv := proc.Start(t, bin, flags...)
	ctx := context.Background()
	acme := createOrg(t, bin, data, "PARLEY", "--name", "Acme", "--plan", "enterprise")
	api := client.New(srv.URL(), acme.key)
	dep, res := publishWithResource(t, api)

	recv := proc.NewReceiver(t, crashReceiverWait)
	endpoint, err := api.CreateWebhookEndpoint(ctx, client.CreateWebhookEndpointRequest{
		URL: recv.URL + "/parley", EventTypes: []string{"conversation.started"},
	})
	must(t, err)
	recv.SetSecret(t, endpoint.Secret)

	// Start conversations from four clients until the server dies.
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 4 {
		wg.Go(func() {
			for n := next.Add(1); n <= crashEvents; n = next.Add(1) {
				_, err := api.StartConversation(ctx, client.StartConversationRequest{
					DeploymentID: dep, ResourceID: res, CustomerDestination: fmt.Sprintf("web-%d", n),
				})
				if err != nil {
					return // the server was killed
				}
			}
		})
	}
	deadline := time.Now().Add(time.Minute)
	for accepted, _ := recv.Received(); accepted < crashEvents/3; accepted, _ = recv.Received() {
		if time.Now().After(deadline) {
			t.Fatalf("only %d deliveries after a minute", accepted)
		}
		time.Sleep(5 * time.Millisecond)
	}
	srv.Kill(t)
	killedAt := time.Now()
	wg.Wait()
	before, _ := recv.Received()

	srv = proc.Start(t, bin, flags...)
	api = client.New(srv.URL(), acme.key)
	ids := startedEventIDs(t, api)
	if len(ids) < crashEvents/3 {
		t.Fatalf("only %d conversation.started events stored", len(ids))
	}
	recv.WaitFor(t, ids, time.Minute)
	proc.WaitDrained(t, api, endpoint.ID, time.Minute)

	dupIDs, extra := recv.CheckDuplicates(t, api, endpoint.ID, killedAt)
	if _, invalid := recv.Received(); invalid > 0 {
		t.Errorf("%d deliveries had an invalid signature", invalid)
	}
	t.Logf("TestWebhookCrash: %d events, %d delivered before the kill -9; after the restart every event was delivered; "+
		"%d events delivered twice (%d extra deliveries)", len(ids), before, len(dupIDs), extra)
	srv.Stop(t)
}

// publishWithResource publishes an app to production and creates a web
// chat resource; it returns their ids.
func publishWithResource(t *testing.T, api *client.Client) (deployment, resource string) {
	t.Helper()
	ctx := context.Background()
	app, err := api.CreateApp(ctx, client.CreateAppRequest{Name: "Support bot"})
	must(t, err)
	version, err := api.CreateVersion(ctx, app.ID, client.CreateVersionRequest{})
	must(t, err)
	dep, err := api.Publish(ctx, app.ID, client.PublishRequest{VersionID: version.ID, Environment: client.EnvProduction})
	must(t, err)
	res, err := api.CreateChannelResource(ctx, client.CreateChannelResourceRequest{Kind: client.KindWebChat, Name: "Website", Address: "site-widget"})
	must(t, err)
	return dep.ID, res.ID
}

// startedEventIDs returns the ids of every conversation.started event.
func startedEventIDs(t *testing.T, api *client.Client) []string {
	t.Helper()
	var ids []string
	var after int64
	for {
		page, err := api.ListEvents(context.Background(), client.ListEventsParams{After: after, Limit: 200})
		must(t, err)
		for _, e := range page.Items {
			if e.Type == "conversation.started" {
				ids = append(ids, e.ID)
			}
		}
		if len(page.Items) == 0 {
			return ids
		}
		after = page.Next
	}
}
