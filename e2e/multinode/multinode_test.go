// Package multinode runs three "parley serve" processes on one PostgreSQL
// database and races identifier updates and conversation starts across
// them, then checks every identifier guarantee of the design brief.
package multinode

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/e2e/proc"
	"github.com/parleyhq/parley/postgres"
	"github.com/parleyhq/parley/postgres/pgtestdb"
	"github.com/parleyhq/parley/storetest"
)

// The race: for each of identifiers shared identifiers, updatersPerIdent
// clients, each with a conversation of its own, try rounds times to update
// their customer to it, while startersPerIdent clients start rounds
// conversations with it; 300 clients in all, spread round-robin over the
// nodes. For identifiers of even index a winning updater at once moves on
// to an identifier of its own, freeing the shared one (so the history has
// several holders); for odd ones the first holder keeps it for good.
const (
	nodeCount        = 3
	identifiers      = 60
	updatersPerIdent = 3
	startersPerIdent = 2
	rounds           = 3
	// maxConflictRetries bounds how often a client repeats a request the
	// server refused with "conflict" (its transaction retries ran out;
	// nothing was changed).
	maxConflictRetries = 5
)

func sharedIdentifier(i int) string { return fmt.Sprintf("ext:shared-%02d", i) }

// releases reports whether winners of shared identifier i give it up.
func releases(i int) bool { return i%2 == 0 }

// cluster is the set-up world: nodes on one database, an org and a
// deployment to start conversations on.
type cluster struct {
	databaseURL string
	nodes       []*proc.Server
	org         domain.OrgID
	apis        []*client.Client // one per node, all with the org's admin key
	deployment  string
	resource    string
}

// api returns the client of the node that client number k talks to.
func (c *cluster) api(k int) *client.Client { return c.apis[k%len(c.apis)] }

func TestMultiNodeIdentifierRace(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs three server processes")
	}
	databaseURL := pgtestdb.New(t)
	c := newCluster(t, proc.Build(t), databaseURL)

	race := newRace(t, c)
	race.run(t, c)
	race.finalStarts(t, c)
	if t.Failed() {
		t.FailNow()
	}
	race.verify(t, c)

	for _, n := range c.nodes {
		n.Stop(t)
	}
}

// newCluster migrates the database once, starts the nodes (with
// serveFlags) trusting one operator key, creates an ENTERPRISE org with
// the admin command, and an app published to production with a web chat
// resource through node 0.
func newCluster(t *testing.T, bin, databaseURL string, serveFlags ...string) *cluster {
	t.Helper()
	ctx := context.Background()
	keyDir := t.TempDir()
	publicKey := proc.ShellVars(proc.Run(t, bin, "license", "keygen", "--out-dir", keyDir))["PARLEY_LICENSE_KEYS"]
	if publicKey == "" {
		t.Fatal("parley license keygen printed no PARLEY_LICENSE_KEYS line")
	}
	store := []string{"--database", databaseURL, "--license-keys", publicKey}
	proc.Run(t, bin, "migrate", "--data", t.TempDir(), "--database", databaseURL)

	c := &cluster{databaseURL: databaseURL}
	// Many clients share each node: keep their connections alive.
	transport := &http.Transport{MaxIdleConns: 1000, MaxIdleConnsPerHost: 400, IdleConnTimeout: time.Minute}
	t.Cleanup(transport.CloseIdleConnections)
	httpClient := &http.Client{Transport: transport, Timeout: 2 * time.Minute}
	for range nodeCount {
		args := append(append([]string{"--data", t.TempDir()}, store...), serveFlags...)
		c.nodes = append(c.nodes, proc.Start(t, bin, args...))
	}

	created := proc.ShellVars(proc.Run(t, bin, append([]string{"org", "create", "--data", t.TempDir(), "--name", "Acme",
		"--plan", "enterprise", "--license-key-file", filepath.Join(keyDir, "operator-key.priv")}, store...)...))
	c.org = domain.OrgID(created["PARLEY_ORG"])
	if c.org == "" || created["PARLEY_KEY"] == "" {
		t.Fatalf("parley org create printed %v, want PARLEY_ORG and PARLEY_KEY", created)
	}
	for _, n := range c.nodes {
		api := client.New(n.URL(), created["PARLEY_KEY"], client.WithHTTPClient(httpClient))
		org, err := api.GetOrg(ctx)
		if err != nil || org.License == nil || org.License.Plan != "enterprise" {
			t.Fatalf("GET /v1/org on %s = %+v, %v; want the org with its enterprise licence", n.URL(), org, err)
		}
		c.apis = append(c.apis, api)
	}

	bot := proc.PublishBot(t, c.apis[0])
	c.deployment, c.resource = bot.Deployment.ID, bot.Resource.ID
	return c
}

// updater is a client holding a conversation of its own, updating its
// customer to a shared identifier.
type updater struct {
	ident    int
	client   int // client number: picks the node
	conv     string
	customer string
	attempts []updateAttempt
}

// updateAttempt is one acknowledged update_customer_identifier answer.
type updateAttempt struct {
	identifier string
	updated    bool
	holder     string // holderCustomerId of identifier_taken
	// repeat is set on an update to the identifier the customer already
	// held (by this client's own earlier answers): it changes nothing.
	repeat bool
}

// starter is a client starting conversations with a shared identifier.
type starter struct {
	ident   int
	client  int
	started []*client.StartedConversation
}

// race holds every client and, after run, every acknowledged answer.
type race struct {
	updaters  []*updater
	starters  []*starter
	final     []*client.StartedConversation // one start per identifier after the race
	conflicts atomic.Int64                  // requests repeated after "conflict"
}

// newRace creates the clients; every updater starts its own conversation
// first (half of them with an identifier of their own, half without).
func newRace(t *testing.T, c *cluster) *race {
	t.Helper()
	r := &race{}
	k := 0
	for i := range identifiers {
		for range updatersPerIdent {
			r.updaters = append(r.updaters, &updater{ident: i, client: k})
			k++
		}
		for range startersPerIdent {
			r.starters = append(r.starters, &starter{ident: i, client: k})
			k++
		}
	}
	storetest.RunConcurrently(len(r.updaters), func(j int) {
		u := r.updaters[j]
		own := ""
		if j%2 == 0 {
			own = fmt.Sprintf("ext:own-%03d-init", u.client)
		}
		st, err := r.start(c, u.client, fmt.Sprintf("web-updater-%d", u.client), own)
		if err != nil {
			t.Errorf("updater %d: starting its conversation: %v", u.client, err)
			return
		}
		u.conv, u.customer = st.Conversation.ID, st.Customer.ID
	})
	if t.Failed() {
		t.FailNow()
	}
	return r
}

// run releases every client at once and waits for all of them.
func (r *race) run(t *testing.T, c *cluster) {
	t.Helper()
	storetest.RunConcurrently(len(r.updaters)+len(r.starters), func(k int) {
		if k < len(r.updaters) {
			r.runUpdater(t, c, r.updaters[k])
		} else {
			r.runStarter(t, c, r.starters[k-len(r.updaters)])
		}
	})
	t.Logf("%d requests repeated after a conflict answer", r.conflicts.Load())
}

func (r *race) runUpdater(t *testing.T, c *cluster, u *updater) {
	shared := sharedIdentifier(u.ident)
	holding := false
	for round := range rounds {
		a, err := r.update(c, u, shared)
		if err != nil {
			t.Errorf("updater %d: update to %s: %v", u.client, shared, err)
			return
		}
		a.repeat = holding
		u.attempts = append(u.attempts, a)
		holding = a.updated
		if !a.updated || !releases(u.ident) {
			continue
		}
		own := fmt.Sprintf("ext:own-%03d-%d", u.client, round)
		a, err = r.update(c, u, own)
		if err != nil || !a.updated {
			t.Errorf("updater %d: moving on to %s (nobody else's): %+v, %v", u.client, own, a, err)
			return
		}
		u.attempts = append(u.attempts, a)
		holding = false
	}
}

func (r *race) runStarter(t *testing.T, c *cluster, s *starter) {
	shared := sharedIdentifier(s.ident)
	for round := range rounds {
		st, err := r.start(c, s.client, fmt.Sprintf("web-starter-%d-%d", s.client, round), shared)
		if err != nil {
			t.Errorf("starter %d: start with %s: %v", s.client, shared, err)
			return
		}
		s.started = append(s.started, st)
	}
}

// finalStarts starts one more conversation per shared identifier, after
// the race: it joins the holder or, if the identifier was left free,
// creates one, so every identifier has exactly one holder afterwards.
func (r *race) finalStarts(t *testing.T, c *cluster) {
	t.Helper()
	r.final = make([]*client.StartedConversation, identifiers)
	storetest.RunConcurrently(identifiers, func(i int) {
		st, err := r.start(c, i, fmt.Sprintf("web-final-%d", i), sharedIdentifier(i))
		if err != nil {
			t.Errorf("final start with %s: %v", sharedIdentifier(i), err)
			return
		}
		r.final[i] = st
	})
}

// update runs update_customer_identifier on u's conversation and returns
// the acknowledged outcome: updated, or identifier_taken with its holder.
// Any other answer is an error.
func (r *race) update(c *cluster, u *updater, identifier string) (updateAttempt, error) {
	res, err := retryConflicts(r, func() (*client.RunResult, error) {
		return c.api(u.client).RunDataOperation(context.Background(), client.OpUpdateCustomerIdentifier, client.RunRequest{
			Inputs: map[string]any{"conversationId": u.conv, "customerIdentifier": identifier},
		})
	})
	if err != nil {
		return updateAttempt{}, err
	}
	a := updateAttempt{identifier: identifier}
	if a.updated, err = res.Bool(); err != nil {
		return a, err
	}
	switch {
	case a.updated && res.Error == nil:
		return a, nil
	case !a.updated && res.Error != nil && res.Error.Code == domain.CodeIdentifierTaken:
		a.holder, _ = res.Error.Details["holderCustomerId"].(string)
		if a.holder == "" {
			return a, fmt.Errorf("identifier_taken without holderCustomerId: %+v", res.Error)
		}
		return a, nil
	}
	return a, fmt.Errorf("unexpected answer: value %s, error %+v", res.Value, res.Error)
}

// start starts a conversation through client k's node.
func (r *race) start(c *cluster, k int, destination, identifier string) (*client.StartedConversation, error) {
	return retryConflicts(r, func() (*client.StartedConversation, error) {
		return c.api(k).StartConversation(context.Background(), client.StartConversationRequest{
			DeploymentID: c.deployment, ResourceID: c.resource, CustomerDestination: destination, CustomerIdentifier: identifier,
		})
	})
}

// retryConflicts calls fn again while it answers "conflict" (the server's
// transaction retries ran out and nothing changed), at most
// maxConflictRetries times.
func retryConflicts[T any](r *race, fn func() (T, error)) (T, error) {
	for attempt := 0; ; attempt++ {
		v, err := fn()
		if client.Code(err) != domain.CodeConflict || attempt == maxConflictRetries {
			return v, err
		}
		r.conflicts.Add(1)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// verify checks the outcome through the database (invariants, holders)
// and through the API (conversations, histories, find).
func (r *race) verify(t *testing.T, c *cluster) {
	t.Helper()
	ctx := context.Background()
	store, err := postgres.Open(ctx, c.databaseURL)
	must(t, err)
	defer store.Close()
	storetest.AssertIdentifierInvariants(t, store, c.org)
	h := newHistory(storetest.TakeSnapshot(t, store, c.org))

	t.Logf("race: %s", r.summary(h))
	for i := range identifiers {
		shared := sharedIdentifier(i)
		holder := h.holder(t, shared)
		if got := r.final[i].Customer.ID; got != holder {
			t.Errorf("%s: the conversation started after the race joined %s, but %s holds it", shared, got, holder)
		}
		r.verifyUpdates(t, h, i, holder)
		r.verifyStarts(t, c, h, i, holder)
		r.verifyFind(t, c, h, i, holder)
	}
}

// verifyUpdates checks every acknowledged update answer about shared
// identifier i against the history.
func (r *race) verifyUpdates(t *testing.T, h history, i int, holder string) {
	t.Helper()
	shared := sharedIdentifier(i)
	won := 0
	for _, u := range r.updaters {
		if u.ident != i {
			continue
		}
		wins := map[string]int{}
		for _, a := range u.attempts {
			switch {
			case a.updated:
				if !a.repeat { // a repeat changes nothing
					wins[a.identifier]++
				}
			case a.holder == u.customer:
				t.Errorf("%s: updater %d was told its own customer %s holds it", shared, u.client, u.customer)
			case h.intervals(a.holder, shared) == 0:
				t.Errorf("%s: updater %d was told %s holds it, but %s never held it", shared, u.client, a.holder, a.holder)
			case !releases(i) && a.holder != holder:
				t.Errorf("%s: updater %d was told %s holds it, but %s has held it throughout", shared, u.client, a.holder, holder)
			}
		}
		// Every acknowledged update is in the history: one interval per
		// success, for the shared identifier and the updater's own ones.
		for identifier, n := range wins {
			if got := h.intervals(u.customer, identifier); got != n {
				t.Errorf("updater %d: %d acknowledged updates of %s to %s, but its history has %d intervals of it",
					u.client, n, u.customer, identifier, got)
			}
		}
		won += wins[shared]
		if !releases(i) && wins[shared] > 0 && u.customer != holder {
			t.Errorf("%s: updater %d's customer %s won it, but %s holds it", shared, u.client, u.customer, holder)
		}
	}
	if !releases(i) && won > 1 {
		t.Errorf("%s: %d updates succeeded, but nobody gives it up: at most 1 may", shared, won)
	}
}

// verifyStarts checks every conversation acknowledged with shared
// identifier i, read back through the API.
func (r *race) verifyStarts(t *testing.T, c *cluster, h history, i int, holder string) {
	t.Helper()
	shared := sharedIdentifier(i)
	started := []*client.StartedConversation{r.final[i]}
	for _, s := range r.starters {
		if s.ident == i {
			started = append(started, s.started...)
		}
	}
	created := map[string]bool{} // customers a start created
	for k, st := range started {
		conv, err := c.api(k).GetConversation(context.Background(), st.Conversation.ID)
		if err != nil {
			t.Errorf("%s: acknowledged conversation %s: %v", shared, st.Conversation.ID, err)
			continue
		}
		if deref(conv.IdentifierAtStart) != shared || conv.CustomerID != st.Customer.ID || deref(st.Customer.Identifier) != shared {
			t.Errorf("%s: conversation %s reads back with customer %s under %q; it was acknowledged for customer %s holding %q",
				shared, conv.ID, conv.CustomerID, deref(conv.IdentifierAtStart), st.Customer.ID, deref(st.Customer.Identifier))
		}
		switch {
		case h.intervals(conv.CustomerID, shared) == 0:
			t.Errorf("%s: conversation %s belongs to %s, who never held it", shared, conv.ID, conv.CustomerID)
		case !releases(i) && conv.CustomerID != holder:
			t.Errorf("%s: conversation %s belongs to %s, but %s has held it throughout", shared, conv.ID, conv.CustomerID, holder)
		case !r.isUpdater(conv.CustomerID):
			created[conv.CustomerID] = true
		}
	}
	// A customer created by a start never gives the identifier up, so at
	// most one exists, and it is the holder.
	for customer := range created {
		if customer != holder || len(created) > 1 {
			t.Errorf("%s: starts created customers %v, but only the final holder %s may have been", shared, keys(created), holder)
			break
		}
	}
}

// verifyFind checks that find_conversations_by_customer_identifier on
// shared identifier i answers exactly the holder's conversations.
func (r *race) verifyFind(t *testing.T, c *cluster, h history, i int, holder string) {
	t.Helper()
	shared := sharedIdentifier(i)
	res, err := c.api(i).RunDataOperation(context.Background(), client.OpFindConversations, client.RunRequest{
		Inputs: map[string]any{"customerIdentifier": shared},
	})
	must(t, err)
	got, err := res.Strings()
	must(t, err)
	if want := h.conversations[domain.CustomerID(holder)]; !slices.Equal(got, want) {
		t.Errorf("find(%s) = %v, want the conversations of holder %s: %v", shared, got, holder, want)
	}
}

// summary counts the acknowledged answers and the resulting history.
func (r *race) summary(h history) string {
	won, taken, started, intervals := 0, 0, 0, 0
	for _, u := range r.updaters {
		for _, a := range u.attempts {
			switch {
			case a.identifier != sharedIdentifier(u.ident):
			case a.updated && !a.repeat:
				won++
			case !a.updated:
				taken++
			}
		}
	}
	for _, s := range r.starters {
		started += len(s.started)
	}
	for _, ivs := range h.byCustomer {
		for _, iv := range ivs {
			if slices.Contains(sharedIdentifiers(), iv.Identifier) {
				intervals++
			}
		}
	}
	return fmt.Sprintf("%d updates to a shared identifier won, %d answered identifier_taken; %d conversations started; "+
		"%d intervals of the %d shared identifiers", won, taken, started, intervals, identifiers)
}

func sharedIdentifiers() []string {
	out := make([]string, identifiers)
	for i := range out {
		out[i] = sharedIdentifier(i)
	}
	return out
}

func (r *race) isUpdater(customer string) bool {
	return slices.ContainsFunc(r.updaters, func(u *updater) bool { return u.customer == customer })
}

// history indexes a snapshot of the org.
type history struct {
	holders       map[string][]string                    // identifier -> customers holding it now
	byCustomer    map[string][]domain.IdentifierInterval // customer -> its intervals
	conversations map[domain.CustomerID][]string         // customer -> conversation ids, newest first
}

func newHistory(snap storetest.Snapshot) history {
	h := history{holders: map[string][]string{}, byCustomer: map[string][]domain.IdentifierInterval{},
		conversations: map[domain.CustomerID][]string{}}
	for i, cu := range snap.Customers {
		h.byCustomer[string(cu.ID)] = snap.Intervals[i]
		if cu.Identifier != "" {
			h.holders[cu.Identifier] = append(h.holders[cu.Identifier], string(cu.ID))
		}
	}
	for _, conv := range snap.Conversations { // newest first
		h.conversations[conv.CustomerID] = append(h.conversations[conv.CustomerID], string(conv.ID))
	}
	return h
}

// holder returns the one customer holding identifier now.
func (h history) holder(t *testing.T, identifier string) string {
	t.Helper()
	if hs := h.holders[identifier]; len(hs) != 1 {
		t.Fatalf("%s has %d holders %v, want exactly 1", identifier, len(hs), hs)
	}
	return h.holders[identifier][0]
}

// intervals counts customer's intervals of identifier.
func (h history) intervals(customer, identifier string) int {
	n := 0
	for _, iv := range h.byCustomer[customer] {
		if iv.Identifier == identifier {
			n++
		}
	}
	return n
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
