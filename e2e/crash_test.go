package e2e

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/e2e/proc"
	"github.com/parleyhq/parley/postgres/pgtestdb"
)

// TestIdempotentRetryAfterCrash kills the server with SIGKILL after two
// requests carrying an Idempotency-Key committed their change and before
// they answered (the test-only PARLEY_TEST_HOLD_ANSWERS hook holds them
// there), restarts it, and retries them: each retry must get the stored
// answer at once, and each change must be applied exactly once, even when
// later requests changed the same customer in between. On SQLite and on
// PostgreSQL.
func TestIdempotentRetryAfterCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the parley binary")
	}
	bin := proc.Build(t)
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		crashBetweenCommitAndAnswer(t, bin, []string{"--data", t.TempDir()})
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		crashBetweenCommitAndAnswer(t, bin, []string{"--data", t.TempDir(), "--database", pgtestdb.New(t)})
	})
}

func crashBetweenCommitAndAnswer(t *testing.T, bin string, storeArgs []string) {
	ctx := context.Background()
	held := filepath.Join(t.TempDir(), "held")
	srv := proc.StartEnv(t, bin, []string{"PARLEY_TEST_HOLD_ANSWERS=" + held}, storeArgs...)
	acme := createOrgOn(t, bin, storeArgs, "Acme")
	api := client.New(srv.URL(), acme.key)

	// Setup without Idempotency-Key: nothing is held.
	bot := proc.PublishBot(t, api)
	st, err := api.StartConversation(ctx, client.StartConversationRequest{
		DeploymentID: bot.Deployment.ID, ResourceID: bot.Resource.ID, CustomerDestination: "web-1", CustomerIdentifier: "tel:+15550100000",
	})
	must(t, err)

	create := client.Request{Method: "POST", Path: "/v1/apps", Body: map[string]string{"name": "Created once"}, IdempotencyKey: "create-1"}
	update := client.Request{Method: "POST", Path: "/v1/data-operations/" + client.OpUpdateCustomerIdentifier, IdempotencyKey: "update-1",
		Body: client.RunRequest{Inputs: map[string]any{"conversationId": st.Conversation.ID, "customerIdentifier": "tel:+15550100001"}}}

	// Both requests commit, then the server dies before answering.
	var wg sync.WaitGroup
	for _, req := range []client.Request{create, update} {
		wg.Go(func() {
			if _, err := api.Do(ctx, req, nil); err == nil {
				t.Errorf("%s %s answered; the hook should have held it", req.Method, req.Path)
			}
		})
	}
	waitForLines(t, srv, held, 2)
	srv.Kill(t)
	wg.Wait()

	srv = proc.Start(t, bin, storeArgs...)
	api = client.New(srv.URL(), acme.key)

	// A later change of the same customer, before the retry.
	later := runOp(t, api, client.OpUpdateCustomerIdentifier, client.RunRequest{
		Inputs: map[string]any{"conversationId": st.Conversation.ID, "customerIdentifier": "tel:+15550100002"},
	})
	if ok, err := later.Bool(); err != nil || !ok {
		t.Fatalf("later update = %s (%v), want true", later.Value, err)
	}

	// The retries replay the committed answers.
	var created client.App
	resp, err := api.Do(ctx, create, &created)
	if err != nil || !resp.Replayed || resp.Status != http.StatusCreated || created.Name != "Created once" {
		t.Fatalf("retried create = %+v %+v (%v), want the stored 201", resp, created, err)
	}
	var updated client.RunResult
	resp, err = api.Do(ctx, update, &updated)
	if err != nil || !resp.Replayed || resp.Status != http.StatusOK {
		t.Fatalf("retried update = %+v (%v), want the stored 200", resp, err)
	}
	if ok, err := updated.Bool(); err != nil || !ok || updated.Error != nil {
		t.Fatalf("retried update result = %s %+v (%v), want true", updated.Value, updated.Error, err)
	}

	// Each change happened once: one new app, and the customer keeps the
	// later identifier with three intervals in its history.
	apps, err := api.ListApps(ctx)
	must(t, err)
	var named []string
	for _, a := range apps {
		if a.Name == "Created once" {
			named = append(named, a.ID)
		}
	}
	if len(named) != 1 || named[0] != created.ID {
		t.Errorf("apps named \"Created once\" = %v, want exactly %s", named, created.ID)
	}
	customer, err := api.GetCustomer(ctx, st.Customer.ID)
	must(t, err)
	if deref(customer.Identifier) != "tel:+15550100002" {
		t.Errorf("customer identifier = %q, want the later tel:+15550100002", deref(customer.Identifier))
	}
	history, err := api.CustomerIdentifiers(ctx, st.Customer.ID)
	must(t, err)
	var held3 []string
	for _, iv := range history {
		held3 = append(held3, iv.Identifier)
	}
	if strings.Join(held3, " ") != "tel:+15550100000 tel:+15550100001 tel:+15550100002" {
		t.Errorf("identifier history = %v, want each identifier once, in order", held3)
	}
	srv.Stop(t)
}

// createOrgOn runs "parley org create --plan enterprise" on the store named
// by storeArgs.
func createOrgOn(t *testing.T, bin string, storeArgs []string, name string) orgCredentials {
	t.Helper()
	args := append([]string{"org", "create", "--name", name, "--plan", "enterprise"}, storeArgs...)
	vars := proc.ShellVars(proc.Run(t, bin, args...))
	c := orgCredentials{org: vars["PARLEY_ORG"], key: vars["PARLEY_KEY"]}
	if !isAPIKey(c.key) {
		t.Fatalf("parley org create printed %v, want PARLEY_ORG and PARLEY_KEY", vars)
	}
	return c
}

// waitForLines waits until the hook file has n lines: n requests are held
// after their commit.
func waitForLines(t *testing.T, srv *proc.Server, path string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		if strings.Count(string(b), "\n") >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d requests held after 30s, want %d (%q)\n%s", strings.Count(string(b), "\n"), n, b, srv.Logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
