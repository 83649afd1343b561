package multinode

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/e2e/proc"
	"github.com/parleyhq/parley/postgres/pgtestdb"
	"github.com/parleyhq/parley/storetest"
)

// Sizes of the multi-node webhook test: two rounds of events, the second
// with a node killed while it delivers.
const (
	webhookRoundEvents = 1000
	webhookClients     = 24
	webhookConcurrency = 8
)

// TestMultiNodeWebhooks runs three servers on one PostgreSQL database,
// all delivering webhooks to one receiver. Round one: 1,000 events, each
// with exactly one successful attempt although three workers race for
// them, and an event arrives twice only after an attempt the worker saw
// fail (a timeout of the 1 s request under load). Round two:
// 1,000 more while node 2 is killed (SIGKILL) mid-delivery: every event is
// still delivered, and an event arrives twice only if the dead process
// had sent it before the kill without recording the attempt (it is sent
// again when its lease expires) or after a failed attempt.
func TestMultiNodeWebhooks(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs three server processes")
	}
	c := newCluster(t, proc.Build(t), pgtestdb.New(t), "--webhooks-allow-private", "--webhooks-timeout", "1s",
		"--webhooks-concurrency", fmt.Sprint(webhookConcurrency))
	ctx := context.Background()
	recv := proc.NewReceiver(t, 5*time.Millisecond)
	endpoint, err := c.apis[0].CreateWebhookEndpoint(ctx, client.CreateWebhookEndpointRequest{
		URL: recv.URL + "/parley", EventTypes: []string{"conversation.started"},
	})
	must(t, err)
	recv.SetSecret(t, endpoint.Secret)

	// Round one: every node up.
	start := time.Now()
	startConversations(t, c, "one", len(c.apis))
	if t.Failed() {
		t.FailNow()
	}
	ids := startedEvents(t, c.apis[0])
	if len(ids) != webhookRoundEvents {
		t.Fatalf("%d conversation.started events, want %d", len(ids), webhookRoundEvents)
	}
	recv.WaitFor(t, ids, 2*time.Minute)
	proc.WaitDrained(t, c.apis[0], endpoint.ID, time.Minute)
	// With no process dying, an event arrives twice only after an attempt
	// the worker saw fail (a timeout while the receiver answered).
	dupIDs, extra := recv.CheckDuplicates(t, c.apis[0], endpoint.ID, time.Time{})
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("round one: %d events delivered by 3 servers in %s; %d arrived twice after a failed attempt (%d extra)",
		len(ids), time.Since(start).Round(time.Millisecond), len(dupIDs), extra)

	// Round two: node 2 dies while delivering; clients use nodes 0 and 1.
	generated := make(chan struct{})
	go func() {
		defer close(generated)
		startConversations(t, c, "two", 2)
	}()
	var kill *time.Time
	before, _ := recv.Received()
	deadline := time.Now().Add(time.Minute)
	for accepted := before; accepted < before+webhookRoundEvents/4 && time.Now().Before(deadline); accepted, _ = recv.Received() {
		time.Sleep(2 * time.Millisecond)
	}
	if time.Now().Before(deadline) {
		c.nodes[2].Kill(t)
		now := time.Now()
		kill = &now
	}
	<-generated
	if t.Failed() {
		t.FailNow()
	}
	ids = startedEvents(t, c.apis[0])
	if len(ids) != 2*webhookRoundEvents {
		t.Fatalf("%d conversation.started events, want %d", len(ids), 2*webhookRoundEvents)
	}
	recv.WaitFor(t, ids, 2*time.Minute)
	proc.WaitDrained(t, c.apis[0], endpoint.ID, time.Minute)
	if kill == nil {
		t.Fatal("node 2 was not killed: deliveries too fast for the test")
	}
	dupIDs, extra = recv.CheckDuplicates(t, c.apis[0], endpoint.ID, *kill)
	if _, invalid := recv.Received(); invalid > 0 {
		t.Errorf("%d deliveries had an invalid signature", invalid)
	}
	t.Logf("round two: %d events delivered; node 2 killed mid-delivery; %d events delivered twice (%d extra deliveries)",
		webhookRoundEvents, len(dupIDs), extra)
	c.nodes[0].Stop(t)
	c.nodes[1].Stop(t)
}

// startConversations starts webhookRoundEvents conversations from
// webhookClients clients spread over the first nodes nodes; failures are
// reported with t.Errorf (it may run in a goroutine of its own).
func startConversations(t *testing.T, c *cluster, round string, nodes int) {
	var next atomic.Int64
	storetest.RunConcurrently(webhookClients, func(k int) {
		api := c.apis[k%nodes]
		for n := next.Add(1); n <= webhookRoundEvents; n = next.Add(1) {
			var err error
			for try := 0; try <= maxConflictRetries; try++ {
				_, err = api.StartConversation(context.Background(), client.StartConversationRequest{
					DeploymentID: c.deployment, ResourceID: c.resource, CustomerDestination: fmt.Sprintf("web-%s-%d", round, n),
				})
				if client.Code(err) != "conflict" { // conflict: retries ran out, nothing changed
					break
				}
			}
			if err != nil {
				t.Errorf("starting conversation %d: %v", n, err)
				return
			}
		}
	})
}

// startedEvents returns the ids of every conversation.started event.
func startedEvents(t *testing.T, api *client.Client) []string {
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
