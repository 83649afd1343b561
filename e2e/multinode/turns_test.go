package multinode

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/e2e/proc"
	"github.com/parleyhq/parley/postgres/pgtestdb"
	"github.com/parleyhq/parley/storetest"
)

// Bot turns across processes: turnConversations conversations converse at
// once, each sending turnMessages messages at the same time, spread over
// the three nodes.
const (
	turnConversations = 200
	turnMessages      = 5
)

// countingBot answers every message with its count and the text.
const countingBot = `{"triggers": {"message_received": "count"}, "steps": {
	"count": {"set": {"count": "has(session.count) ? session.count + 1 : 1"}, "next": "reply"},
	"reply": {"say": "string(session.count) + ': ' + input.text"}}}`

// TestTurnsSerialized (multi-node part): every message is handled exactly
// once, one turn at a time per conversation, in sequence order, with
// gap-free numbers, while 200 conversations converse through three server
// processes on one PostgreSQL database.
func TestTurnsSerialized(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs three server processes")
	}
	c := newCluster(t, proc.Build(t), pgtestdb.New(t))
	ctx := context.Background()
	api := c.apis[0]
	app, err := api.CreateApp(ctx, client.CreateAppRequest{Name: "counting bot"})
	must(t, err)
	v, err := api.CreateVersion(ctx, app.ID, client.CreateVersionRequest{Definition: json.RawMessage(countingBot)})
	must(t, err)
	dep, err := api.Publish(ctx, app.ID, client.PublishRequest{VersionID: v.ID, Environment: client.EnvProduction})
	must(t, err)

	r := &race{}
	convs := make([]string, turnConversations)
	storetest.RunConcurrently(turnConversations, func(i int) {
		st, err := retryConflicts(r, func() (*client.StartedConversation, error) {
			return c.api(i).StartConversation(ctx, client.StartConversationRequest{
				DeploymentID: dep.ID, ResourceID: c.resource, CustomerDestination: fmt.Sprintf("web-turns-%d", i),
			})
		})
		if err != nil {
			t.Errorf("conversation %d: %v", i, err)
			return
		}
		convs[i] = st.Conversation.ID
	})
	if t.Failed() {
		t.FailNow()
	}
	started := time.Now()
	storetest.RunConcurrently(turnConversations*turnMessages, func(k int) {
		i, m := k%turnConversations, k/turnConversations
		got, err := retryConflicts(r, func() (*client.ReceivedMessage, error) {
			return c.api(k).AddMessage(ctx, convs[i], client.AddMessageRequest{Text: fmt.Sprintf("message %d", m)})
		})
		if err != nil || len(got.Replies) != 1 || got.Replies[0].Seq != got.Seq+1 {
			t.Errorf("conversation %d, message %d: %+v (%v)", i, m, got, err)
		}
	})
	t.Logf("%d turns in %v through %d nodes; %d requests repeated after a conflict answer",
		turnConversations*turnMessages, time.Since(started).Round(time.Millisecond), nodeCount, r.conflicts.Load())
	if t.Failed() {
		t.FailNow()
	}
	for i, conv := range convs {
		checkCounted(t, c.api(i), conv)
	}
	for _, n := range c.nodes {
		n.Stop(t)
	}
}

// checkCounted checks one conversation of the counting bot: 2 x
// turnMessages messages numbered 1.., each customer message followed by
// the reply counting it, each message once; and its turns numbered 1..
func checkCounted(t *testing.T, api *client.Client, conv string) {
	t.Helper()
	ctx := context.Background()
	msgs, err := api.ListMessages(ctx, conv, client.ListMessagesParams{Limit: 200})
	must(t, err)
	if len(msgs) != 2*turnMessages {
		t.Fatalf("%s: %d messages, want %d", conv, len(msgs), 2*turnMessages)
	}
	seen := map[string]bool{}
	for j := 0; j < len(msgs); j += 2 {
		in, out := msgs[j], msgs[j+1]
		want := strconv.Itoa(j/2+1) + ": " + in.Text
		if in.Seq != int64(j+1) || out.Seq != int64(j+2) || in.Author != "customer" || out.Author != "bot" || out.Text != want || seen[in.Text] {
			t.Fatalf("%s: messages %d and %d are %+v and %+v, want the reply %q", conv, j+1, j+2, in, out, want)
		}
		seen[in.Text] = true
	}
	turns, err := api.ListTurns(ctx, conv, client.ListTurnsParams{Limit: 200})
	must(t, err)
	if len(turns) != turnMessages+1 {
		t.Fatalf("%s: %d turns, want %d", conv, len(turns), turnMessages+1)
	}
	for j, turn := range turns {
		if turn.Number != int64(j+1) {
			t.Fatalf("%s: turn %d numbered %d", conv, j+1, turn.Number)
		}
	}
}
