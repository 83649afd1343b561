package storetest

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/parleyhq/parley/domain"
)

// RunContract checks that the stores newStore makes honour the domain.Store
// and domain.Tx contract: round trips of every field (times at microsecond
// precision, returned in UTC), org isolation of every getter and write by
// id, orderings and cursors, uniqueness conflicts, rollback and Ready.
// Each subtest gets a fresh store.
//
// Beyond the doc comments of domain.Tx, the contract pins down these
// choices: list methods return the rows in creation order unless stated
// otherwise (orgs, keys, apps, resources: oldest first; versions: by
// number); revoking a key, replacing a deployment or closing a
// conversation twice keeps the first time; an unknown ListRuns cursor is
// CodeNotFound; limit 0 means no limit for messages,
// runs and events; ListConversations with Limit <= 0 is
// CodeInvalidArgument; DeleteIdempotency of a missing key is a no-op.
func RunContract(t *testing.T, newStore Factory) {
	t.Run("Orgs", func(t *testing.T) { testOrgs(t, newStore) })
	t.Run("APIKeys", func(t *testing.T) { testAPIKeys(t, newStore) })
	t.Run("Apps", func(t *testing.T) { testApps(t, newStore) })
	t.Run("Versions", func(t *testing.T) { testVersions(t, newStore) })
	t.Run("Deployments", func(t *testing.T) { testDeployments(t, newStore) })
	t.Run("Resources", func(t *testing.T) { testResources(t, newStore) })
	t.Run("Customers", func(t *testing.T) { testCustomers(t, newStore) })
	t.Run("Intervals", func(t *testing.T) { testIntervals(t, newStore) })
	t.Run("Conversations", func(t *testing.T) { testConversations(t, newStore) })
	t.Run("ListConversations", func(t *testing.T) { testListConversations(t, newStore) })
	t.Run("Sessions", func(t *testing.T) { testSessions(t, newStore) })
	t.Run("Messages", func(t *testing.T) { testMessages(t, newStore) })
	t.Run("MessageClientIDs", func(t *testing.T) { testMessageClientIDs(t, newStore) })
	t.Run("Routes", func(t *testing.T) { testRoutes(t, newStore) })
	t.Run("Runs", func(t *testing.T) { testRuns(t, newStore) })
	t.Run("Events", func(t *testing.T) { testEvents(t, newStore) })
	t.Run("Idempotency", func(t *testing.T) { testIdempotency(t, newStore) })
	t.Run("Uniqueness", func(t *testing.T) { testUniqueness(t, newStore) })
	t.Run("Transactions", func(t *testing.T) { testTransactions(t, newStore) })
	t.Run("Locks", func(t *testing.T) { testLocks(t, newStore) })
	t.Run("TurnStart", func(t *testing.T) { testTurnStart(t, newStore) })
	t.Run("RecordRuns", func(t *testing.T) { testRecordRuns(t, newStore) })
	t.Run("Ready", func(t *testing.T) {
		if err := newStore(t).Ready(t.Context()); err != nil {
			t.Fatalf("Ready on a migrated store: %v", err)
		}
	})
}

// base is the suite's fixed clock origin; it has microseconds so that
// truncation by a backend shows.
var base = time.Date(2026, 3, 4, 5, 6, 7, 123456000, time.UTC)

// minute returns base + n minutes (+ n microseconds, to keep sub-second
// precision in play).
func minute(n int) time.Time {
	return base.Add(time.Duration(n)*time.Minute + time.Duration(n)*time.Microsecond)
}

func ptr[T any](v T) *T { return &v }

// update runs fn in s.Update and fails the test on error.
func update(t testing.TB, s domain.Store, fn func(ctx context.Context, tx domain.Tx) error) {
	t.Helper()
	ctx := context.Background()
	if err := s.Update(ctx, func(tx domain.Tx) error { return fn(ctx, tx) }); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

// view runs fn in s.View and fails the test on error.
func view(t testing.TB, s domain.Store, fn func(ctx context.Context, tx domain.Tx) error) {
	t.Helper()
	ctx := context.Background()
	if err := s.View(ctx, func(tx domain.Tx) error { return fn(ctx, tx) }); err != nil {
		t.Fatalf("View: %v", err)
	}
}

// tryUpdate runs fn in s.Update and returns its error.
func tryUpdate(s domain.Store, fn func(ctx context.Context, tx domain.Tx) error) error {
	ctx := context.Background()
	return s.Update(ctx, func(tx domain.Tx) error { return fn(ctx, tx) })
}

// read returns what fn reads in a View.
func read[T any](t testing.TB, s domain.Store, fn func(ctx context.Context, tx domain.Tx) (T, error)) T {
	t.Helper()
	var v T
	view(t, s, func(ctx context.Context, tx domain.Tx) error {
		var err error
		v, err = fn(ctx, tx)
		return err
	})
	return v
}

// readErr returns the error fn gets in a View.
func readErr(t testing.TB, s domain.Store, fn func(ctx context.Context, tx domain.Tx) error) error {
	t.Helper()
	ctx := context.Background()
	var inner error
	if err := s.View(ctx, func(tx domain.Tx) error {
		inner = fn(ctx, tx)
		return nil
	}); err != nil {
		t.Fatalf("View: %v", err)
	}
	return inner
}

func equal[T any](t testing.TB, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func wantCode(t testing.TB, what string, err error, code string) {
	t.Helper()
	if got := domain.ErrorCode(err); got != code {
		t.Errorf("%s: error %v has code %q, want %q", what, err, got, code)
	}
}

// jsonEqual compares two JSON documents by value (a backend may reformat).
func jsonEqual(t testing.TB, what string, got, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Errorf("%s: got invalid JSON %q: %v", what, got, err)
		return
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("%s: want invalid JSON %q: %v", what, want, err)
	}
	equal(t, what, g, w)
}

// tenant is one org with one of everything, with ids derived from its
// name ("org_a", "app_a", "ver_a1", "dep_a", "res_a", "cus_a").
type tenant struct {
	Org        domain.Organization
	App        domain.App
	Version    domain.AppVersion
	Deployment domain.Deployment
	Resource   domain.ChannelResource
	Customer   domain.Customer
}

func newTenant(name string) tenant {
	org := domain.OrgID("org_" + name)
	app := domain.AppID("app_" + name)
	return tenant{
		Org: domain.Organization{ID: org, Name: "Org " + name, CreatedAt: minute(0)},
		App: domain.App{ID: app, OrgID: org, Name: "bot " + name, CreatedAt: minute(1)},
		Version: domain.AppVersion{ID: domain.VersionID("ver_" + name + "1"), OrgID: org, AppID: app,
			Number: 1, Definition: json.RawMessage(`{"steps":[]}`), CreatedAt: minute(1)},
		Deployment: domain.Deployment{ID: domain.DeploymentID("dep_" + name), OrgID: org, AppID: app,
			VersionID: domain.VersionID("ver_" + name + "1"), Environment: domain.EnvProduction, PublishedAt: minute(2)},
		Resource: domain.ChannelResource{ID: domain.ResourceID("res_" + name), OrgID: org, Kind: domain.ResourceSMS,
			Name: "sms " + name, Address: "+15550100000", IdentifyBy: domain.IdentifyByNone, CreatedAt: minute(2)},
		Customer: domain.Customer{ID: domain.CustomerID("cus_" + name), OrgID: org, CreatedAt: minute(3)},
	}
}

// seed creates fresh tenants "a" and "b" in s.
func seed(t testing.TB, s domain.Store) (a, b tenant) {
	t.Helper()
	a, b = newTenant("a"), newTenant("b")
	update(t, s, func(ctx context.Context, tx domain.Tx) error {
		for _, tn := range []tenant{a, b} {
			if err := createTenant(ctx, tx, tn); err != nil {
				return err
			}
		}
		return nil
	})
	return a, b
}

func createTenant(ctx context.Context, tx domain.Tx, tn tenant) error {
	steps := []func() error{
		func() error { return tx.CreateOrg(ctx, tn.Org) },
		func() error { return tx.CreateApp(ctx, tn.App) },
		func() error { return tx.CreateVersion(ctx, tn.Version) },
		func() error { return tx.CreateDeployment(ctx, tn.Deployment) },
		func() error { return tx.CreateResource(ctx, tn.Resource) },
		func() error { return tx.CreateCustomer(ctx, tn.Customer) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// conversation is a live deployed conversation of tn's customer.
func (tn tenant) conversation(id string, started time.Time) domain.Conversation {
	return domain.Conversation{
		ID:                  domain.ConversationID(id),
		OrgID:               tn.Org.ID,
		DeploymentID:        tn.Deployment.ID,
		AppID:               tn.App.ID,
		ResourceID:          tn.Resource.ID,
		CustomerID:          tn.Customer.ID,
		SessionID:           domain.SessionID("ses_" + id),
		Status:              domain.StatusLive,
		CustomerDestination: "+15550100001",
		StartedAt:           started,
	}
}

// notFoundCase is one call expected to fail with CodeNotFound.
type notFoundCase struct {
	name string
	call func(ctx context.Context, tx domain.Tx) error
}

// wantNotFound runs each case in its own Update (so a write that wrongly
// succeeds is visible to later checks) and expects CodeNotFound.
func wantNotFound(t *testing.T, s domain.Store, cases []notFoundCase) {
	t.Helper()
	for _, c := range cases {
		err := tryUpdate(s, c.call)
		wantCode(t, c.name, err, domain.CodeNotFound)
	}
}
