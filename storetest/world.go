package storetest

import (
	"context"
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/parleyhq/parley/clock"
	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/identifier"
	"github.com/parleyhq/parley/ids"
	"github.com/parleyhq/parley/license"
	"github.com/parleyhq/parley/service"
)

// Opener opens n handles on one fresh, migrated database, as n server
// processes would; cleanup is registered with t.Cleanup.
type Opener func(t testing.TB, n int) []domain.Store

// Epoch is the manual clock's start in semantics suites.
var Epoch = time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)

// World is an org with an ENTERPRISE licence, an app published to
// production, a version never published, and a web chat resource, driven
// through the service as a bot would.
type World struct {
	T          testing.TB
	Store      domain.Store
	Service    *service.Service
	Clock      *clock.Manual
	IDs        domain.IDGenerator
	Verifier   *license.Verifier
	Signer     ed25519.PrivateKey
	Org        domain.OrgID
	Deployment domain.Deployment
	Draft      domain.AppVersion // a version that is not published
	Resource   domain.ChannelResource
}

// NewWorld builds a World on store.
func NewWorld(t testing.TB, store domain.Store) *World {
	t.Helper()
	pub, priv, err := license.GenerateKey()
	must(t, err)
	w := &World{
		T: t, Store: store, Clock: clock.NewManual(Epoch), IDs: ids.NewSequence(),
		Verifier: license.NewVerifier(pub), Signer: priv,
	}
	w.Service = w.ServiceOn(store)
	w.Org = w.NewOrg("Acme", domain.PlanEnterprise)
	ctx := context.Background()
	app, err := w.Service.CreateApp(ctx, w.Org, "Support bot")
	must(t, err)
	v1, err := w.Service.CreateVersion(ctx, w.Org, app.ID, []byte(`{"description":"first"}`))
	must(t, err)
	w.Draft, err = w.Service.CreateVersion(ctx, w.Org, app.ID, []byte(`{"description":"second, never published"}`))
	must(t, err)
	w.Deployment, err = w.Service.Publish(ctx, w.Org, app.ID, v1.ID, domain.EnvProduction)
	must(t, err)
	w.Resource, err = w.Service.CreateResource(ctx, w.Org, service.ResourceInput{Kind: domain.ResourceWebChat, Name: "Web chat", Address: "widget-1"})
	must(t, err)
	return w
}

// ServiceOn returns a service sharing the world's clock, ids and licence
// keys on another store handle (another "server process").
func (w *World) ServiceOn(store domain.Store) *service.Service {
	return service.New(service.Config{
		Store: store, Clock: w.Clock, IDs: w.IDs, Licenses: w.Verifier, Identifiers: identifier.Normalizer{},
	})
}

// NewOrg creates an org; plan "" installs no licence.
func (w *World) NewOrg(name string, plan domain.Plan) domain.OrgID {
	w.T.Helper()
	org, _, err := w.Service.CreateOrg(context.Background(), name)
	must(w.T, err)
	if plan != "" {
		_, err = w.Service.InstallLicense(context.Background(), org.ID, w.License(org.ID, plan, 365*24*time.Hour))
		must(w.T, err)
	}
	return org.ID
}

// License issues a token for org valid for d from the world's clock.
func (w *World) License(org domain.OrgID, plan domain.Plan, d time.Duration) string {
	w.T.Helper()
	now := w.Clock.Now()
	token, err := license.Issue(w.Signer, domain.License{OrgID: org, Plan: plan, IssuedAt: now, ExpiresAt: now.Add(d)})
	must(w.T, err)
	return token
}

// Start starts a deployed conversation for identifier ("" for none) at a
// destination of its own.
func (w *World) Start(ident string) service.Started {
	w.T.Helper()
	st, err := w.Service.StartConversation(context.Background(), w.Org, service.StartInput{
		DeploymentID: w.Deployment.ID, Party: w.Party(w.IDs.NewID("web"), ident),
	})
	must(w.T, err)
	return st
}

// Party is a customer at destination on the world's web chat resource.
func (w *World) Party(destination, ident string) service.Party {
	return service.Party{ResourceID: w.Resource.ID, CustomerDestination: destination, CustomerIdentifier: ident}
}

// StartPreview starts a preview run of the unpublished version.
func (w *World) StartPreview(ident string) service.Started {
	w.T.Helper()
	st, err := w.Service.StartPreview(context.Background(), w.Org, service.PreviewInput{
		VersionID: w.Draft.ID, Party: w.Party(w.IDs.NewID("web"), ident),
	})
	must(w.T, err)
	return st
}

// Op runs a data operation in w.Org.
func (w *World) Op(name string, inputs map[string]any) (service.RunResult, error) {
	return w.Service.Run(context.Background(), w.Org, service.RunRequest{Kind: domain.KindDataOperation, Name: name, Inputs: inputs})
}

// Update runs update_customer_identifier and fails the test on a thrown error.
func (w *World) Update(conv domain.ConversationID, ident string) service.RunResult {
	w.T.Helper()
	res, err := w.Op(service.OpUpdateCustomerIdentifier, map[string]any{"conversationId": string(conv), "customerIdentifier": ident})
	must(w.T, err)
	return res
}

// Find runs find_conversations_by_customer_identifier.
func (w *World) Find(ident string, asOf *time.Time) []string {
	w.T.Helper()
	inputs := map[string]any{"customerIdentifier": ident}
	if asOf != nil {
		inputs["asOf"] = asOf.Format(time.RFC3339Nano)
	}
	res, err := w.Op(service.OpFindConversations, inputs)
	must(w.T, err)
	if res.Error != nil {
		w.T.Fatalf("find %s: unexpected outcome %v", ident, res.Error)
	}
	return res.Value.([]string)
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
