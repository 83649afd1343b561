package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/parleyhq/parley/domain"
)

func testOrgs(t *testing.T, newStore Factory) {
	s := newStore(t)
	a, b := seed(t, s)
	c := domain.Organization{ID: "org_c", Name: "Org c", CreatedAt: minute(-1), LicenseToken: "tok-c"}
	update(t, s, func(ctx context.Context, tx domain.Tx) error { return tx.CreateOrg(ctx, c) })

	equal(t, "GetOrg", read(t, s, func(ctx context.Context, tx domain.Tx) (domain.Organization, error) {
		return tx.GetOrg(ctx, c.ID)
	}), c)
	equal(t, "ListOrgs (oldest first)", read(t, s, func(ctx context.Context, tx domain.Tx) ([]domain.Organization, error) {
		return tx.ListOrgs(ctx)
	}), []domain.Organization{c, a.Org, b.Org})

	update(t, s, func(ctx context.Context, tx domain.Tx) error { return tx.SetOrgLicense(ctx, a.Org.ID, "tok-a") })
	got := read(t, s, func(ctx context.Context, tx domain.Tx) (domain.Organization, error) {
		return tx.GetOrg(ctx, a.Org.ID)
	})
	equal(t, "licence after SetOrgLicense", got.LicenseToken, "tok-a")
	equal(t, "org b licence untouched", read(t, s, func(ctx context.Context, tx domain.Tx) (string, error) {
		o, err := tx.GetOrg(ctx, b.Org.ID)
		return o.LicenseToken, err
	}), "")

	wantNotFound(t, s, []notFoundCase{
		{"GetOrg missing", func(ctx context.Context, tx domain.Tx) error { _, err := tx.GetOrg(ctx, "org_x"); return err }},
		{"SetOrgLicense missing", func(ctx context.Context, tx domain.Tx) error { return tx.SetOrgLicense(ctx, "org_x", "t") }},
	})
}

func testAPIKeys(t *testing.T, newStore Factory) {
	s := newStore(t)
	a, b := seed(t, s)
	k1 := domain.APIKey{ID: "key_a1", OrgID: a.Org.ID, Name: "ci", Scope: domain.ScopeAdmin, Prefix: "pk_a1", Hash: []byte{1, 2, 3, 0, 255}, CreatedAt: minute(5)}
	k2 := domain.APIKey{ID: "key_a2", OrgID: a.Org.ID, Name: "old", Scope: domain.ScopeRuntime, Prefix: "pk_a2", Hash: []byte{9}, CreatedAt: minute(4),
		RevokedAt: ptr(minute(6))}
	kb := domain.APIKey{ID: "key_b1", OrgID: b.Org.ID, Name: "b", Scope: domain.ScopeRuntime, Prefix: "pk_b1", Hash: []byte{7, 7}, CreatedAt: minute(5)}
	update(t, s, func(ctx context.Context, tx domain.Tx) error {
		for _, k := range []domain.APIKey{k1, k2, kb} {
			if err := tx.CreateAPIKey(ctx, k); err != nil {
				return err
			}
		}
		return nil
	})

	for _, k := range []domain.APIKey{k1, k2, kb} {
		equal(t, "GetAPIKeyByHash "+string(k.ID), read(t, s, func(ctx context.Context, tx domain.Tx) (domain.APIKey, error) {
			return tx.GetAPIKeyByHash(ctx, k.Hash)
		}), k)
	}
	equal(t, "ListAPIKeys a (oldest first)", read(t, s, func(ctx context.Context, tx domain.Tx) ([]domain.APIKey, error) {
		return tx.ListAPIKeys(ctx, a.Org.ID)
	}), []domain.APIKey{k2, k1})
	equal(t, "ListAPIKeys b", read(t, s, func(ctx context.Context, tx domain.Tx) ([]domain.APIKey, error) {
		return tx.ListAPIKeys(ctx, b.Org.ID)
	}), []domain.APIKey{kb})

	update(t, s, func(ctx context.Context, tx domain.Tx) error {
		if err := tx.RevokeAPIKey(ctx, a.Org.ID, k1.ID, minute(7)); err != nil {
			return err
		}
		return tx.RevokeAPIKey(ctx, a.Org.ID, k2.ID, minute(8)) // already revoked: keeps minute(6)
	})
	k1.RevokedAt = ptr(minute(7))
	equal(t, "ListAPIKeys a after revoke", read(t, s, func(ctx context.Context, tx domain.Tx) ([]domain.APIKey, error) {
		return tx.ListAPIKeys(ctx, a.Org.ID)
	}), []domain.APIKey{k2, k1})

	wantNotFound(t, s, []notFoundCase{
		{"GetAPIKeyByHash unknown", func(ctx context.Context, tx domain.Tx) error {
			_, err := tx.GetAPIKeyByHash(ctx, []byte{1, 2, 3})
			return err
		}},
		{"RevokeAPIKey missing", func(ctx context.Context, tx domain.Tx) error {
			return tx.RevokeAPIKey(ctx, a.Org.ID, "key_x", minute(9))
		}},
		{"RevokeAPIKey of another org", func(ctx context.Context, tx domain.Tx) error {
			return tx.RevokeAPIKey(ctx, a.Org.ID, kb.ID, minute(9))
		}},
	})
	equal(t, "key of org b after cross-org revoke", read(t, s, func(ctx context.Context, tx domain.Tx) (domain.APIKey, error) {
		return tx.GetAPIKeyByHash(ctx, kb.Hash)
	}), kb)
	testCheckAPIKey(t, s, kb)
}

// testCheckAPIKey: accept sees the key (or CodeNotFound), and its refusal
// fails the transaction whether it comes back from CheckAPIKey, from the
// next statement or from the commit, in a View, a ViewLatest and an
// Update.
func testCheckAPIKey(t *testing.T, s domain.Store, key domain.APIKey) {
	refused := errors.New("refused by accept")
	var seen []string
	accept := func(want bool) func(domain.APIKey, error) error {
		return func(k domain.APIKey, err error) error {
			switch {
			case domain.IsNotFound(err):
				seen = append(seen, "not found")
			case err != nil:
				t.Errorf("CheckAPIKey: accept got %v", err)
			default:
				seen = append(seen, string(k.ID))
			}
			if !want {
				return refused
			}
			return nil
		}
	}
	ctx := context.Background()
	next := func(ctx context.Context, tx domain.Tx) error { _, err := tx.GetOrg(ctx, key.OrgID); return err }
	query := func(ctx context.Context, tx domain.Tx) error { _, err := tx.ListAPIKeys(ctx, key.OrgID); return err }
	none := func(context.Context, domain.Tx) error { return nil }
	// write appends an event in an Update (a write whose result is not
	// needed: a backend may hold it back to go out with the commit).
	write := func(ctx context.Context, tx domain.Tx) error {
		return tx.AppendEvent(ctx, domain.Event{OrgID: key.OrgID, Type: domain.EventConversationClosed, Subject: "conv_key",
			Payload: map[string]any{"conversationId": "conv_key"}, CreatedAt: minute(9)})
	}
	events := func() int {
		return len(read(t, s, func(ctx context.Context, tx domain.Tx) ([]domain.Event, error) {
			return tx.ListEvents(ctx, key.OrgID, 0, 0)
		}))
	}
	for _, c := range []struct {
		name   string
		hash   []byte
		accept bool
		then   func(context.Context, domain.Tx) error
	}{
		{"accepted, then a read", key.Hash, true, next},
		{"accepted, nothing after", key.Hash, true, none},
		{"refused, then a read", key.Hash, false, next},
		{"refused, nothing after", key.Hash, false, none},
		{"unknown hash", []byte{0xde, 0xad}, false, next},
		{"accepted, then a query", key.Hash, true, query},
		{"refused, then a query", key.Hash, false, query},
		{"refused, then a write", key.Hash, false, write},
	} {
		for _, kind := range []string{"View", "ViewLatest", "Update"} {
			if kind != "Update" && c.name == "refused, then a write" {
				continue
			}
			before := events()
			seen = nil
			fn := func(tx domain.Tx) error {
				if err := tx.CheckAPIKey(ctx, c.hash, accept(c.accept)); err != nil {
					return err
				}
				return c.then(ctx, tx)
			}
			var err error
			switch kind {
			case "View":
				err = s.View(ctx, fn)
			case "ViewLatest":
				err = s.ViewLatest(ctx, fn)
			default:
				err = s.Update(ctx, fn)
			}
			if c.accept && err != nil {
				t.Errorf("CheckAPIKey %s in %s: %v", c.name, kind, err)
			}
			if !c.accept && !errors.Is(err, refused) {
				t.Errorf("CheckAPIKey %s in %s: error %v, want accept's refusal", c.name, kind, err)
			}
			want := string(key.ID)
			if string(c.hash) != string(key.Hash) {
				want = "not found"
			}
			if len(seen) != 1 || seen[0] != want {
				t.Errorf("CheckAPIKey %s in %s: accept saw %v, want [%s]", c.name, kind, seen, want)
			}
			if after := events(); after != before {
				t.Errorf("CheckAPIKey %s in %s: refused, yet the transaction committed (%d events, then %d)", c.name, kind, before, after)
			}
		}
	}
}

func testApps(t *testing.T, newStore Factory) {
	s := newStore(t)
	a, b := seed(t, s)
	a2 := domain.App{ID: "app_a2", OrgID: a.Org.ID, Name: "second", CreatedAt: minute(10)}
	update(t, s, func(ctx context.Context, tx domain.Tx) error { return tx.CreateApp(ctx, a2) })

	equal(t, "GetApp", read(t, s, func(ctx context.Context, tx domain.Tx) (domain.App, error) {
		return tx.GetApp(ctx, a.Org.ID, a2.ID)
	}), a2)
	equal(t, "ListApps a", read(t, s, func(ctx context.Context, tx domain.Tx) ([]domain.App, error) {
		return tx.ListApps(ctx, a.Org.ID)
	}), []domain.App{a.App, a2})
	equal(t, "ListApps b", read(t, s, func(ctx context.Context, tx domain.Tx) ([]domain.App, error) {
		return tx.ListApps(ctx, b.Org.ID)
	}), []domain.App{b.App})
	equal(t, "ListApps of an org without apps", len(read(t, s, func(ctx context.Context, tx domain.Tx) ([]domain.App, error) {
		return tx.ListApps(ctx, "org_x")
	})), 0)
	wantNotFound(t, s, []notFoundCase{
		{"GetApp missing", func(ctx context.Context, tx domain.Tx) error { _, err := tx.GetApp(ctx, a.Org.ID, "app_x"); return err }},
		{"GetApp of another org", func(ctx context.Context, tx domain.Tx) error {
			_, err := tx.GetApp(ctx, a.Org.ID, b.App.ID)
			return err
		}},
	})
}

func testVersions(t *testing.T, newStore Factory) {
	s := newStore(t)
	a, b := seed(t, s)
	v2 := domain.AppVersion{ID: "ver_a2", OrgID: a.Org.ID, AppID: a.App.ID, Number: 2,
		Definition: json.RawMessage(`{"name":"bot","steps":[{"op":"say","text":"hé \"you\""}],"n":1.5}`), CreatedAt: minute(11)}
	update(t, s, func(ctx context.Context, tx domain.Tx) error { return tx.CreateVersion(ctx, v2) })

	got := read(t, s, func(ctx context.Context, tx domain.Tx) (domain.AppVersion, error) {
		return tx.GetVersion(ctx, a.Org.ID, v2.ID)
	})
	jsonEqual(t, "GetVersion definition", got.Definition, v2.Definition)
	got.Definition, v2.Definition = nil, nil
	equal(t, "GetVersion", got, v2)

	versions := read(t, s, func(ctx context.Context, tx domain.Tx) ([]domain.AppVersion, error) {
		return tx.ListVersions(ctx, a.Org.ID, a.App.ID)
	})
	numbers := make([]domain.VersionID, len(versions))
	for i, v := range versions {
		numbers[i] = v.ID
	}
	equal(t, "ListVersions (by number)", numbers, []domain.VersionID{a.Version.ID, v2.ID})
	equal(t, "ListVersions of org a's app seen from org b", len(read(t, s, func(ctx context.Context, tx domain.Tx) ([]domain.AppVersion, error) {
		return tx.ListVersions(ctx, b.Org.ID, a.App.ID)
	})), 0)

	latest := func(org domain.OrgID, app domain.AppID) int {
		return read(t, s, func(ctx context.Context, tx domain.Tx) (int, error) { return tx.LatestVersionNumber(ctx, org, app) })
	}
	equal(t, "LatestVersionNumber", latest(a.Org.ID, a.App.ID), 2)
	equal(t, "LatestVersionNumber of an app without versions", latest(a.Org.ID, "app_x"), 0)
	equal(t, "LatestVersionNumber of another org's app", latest(b.Org.ID, a.App.ID), 0)

	wantNotFound(t, s, []notFoundCase{
		{"GetVersion missing", func(ctx context.Context, tx domain.Tx) error {
			_, err := tx.GetVersion(ctx, a.Org.ID, "ver_x")
			return err
		}},
		{"GetVersion of another org", func(ctx context.Context, tx domain.Tx) error {
			_, err := tx.GetVersion(ctx, b.Org.ID, v2.ID)
			return err
		}},
	})
}

func testDeployments(t *testing.T, newStore Factory) {
	s := newStore(t)
	a, b := seed(t, s)
	active := func(org domain.OrgID, env domain.Environment) (domain.Deployment, error) {
		var d domain.Deployment
		err := readErr(t, s, func(ctx context.Context, tx domain.Tx) error {
			var err error
			d, err = tx.ActiveDeployment(ctx, org, a.App.ID, env)
			return err
		})
		return d, err
	}
	if d, err := active(a.Org.ID, domain.EnvProduction); err != nil || d != a.Deployment {
		t.Errorf("ActiveDeployment = %+v, %v; want %+v", d, err, a.Deployment)
	}
	equal(t, "GetDeployment", read(t, s, func(ctx context.Context, tx domain.Tx) (domain.Deployment, error) {
		return tx.GetDeployment(ctx, a.Org.ID, a.Deployment.ID)
	}), a.Deployment)

	// Publish again to production (replacing) and once to qa.
	next := domain.Deployment{ID: "dep_a2", OrgID: a.Org.ID, AppID: a.App.ID, VersionID: a.Version.ID,
		Environment: domain.EnvProduction, PublishedAt: minute(20)}
	qa := domain.Deployment{ID: "dep_a3", OrgID: a.Org.ID, AppID: a.App.ID, VersionID: a.Version.ID,
		Environment: domain.EnvQA, PublishedAt: minute(20)}
	update(t, s, func(ctx context.Context, tx domain.Tx) error {
		if err := tx.ReplaceDeployment(ctx, a.Org.ID, a.Deployment.ID, minute(20)); err != nil {
			return err
		}
		if err := tx.CreateDeployment(ctx, next); err != nil {
			return err
		}
		return tx.CreateDeployment(ctx, qa)
	})
	replaced := a.Deployment
	replaced.ReplacedAt = ptr(minute(20))
	if d, err := active(a.Org.ID, domain.EnvProduction); err != nil || d != next {
		t.Errorf("ActiveDeployment after replace = %+v, %v; want %+v", d, err, next)
	}
	if d, err := active(a.Org.ID, domain.EnvQA); err != nil || d != qa {
		t.Errorf("ActiveDeployment qa = %+v, %v; want %+v", d, err, qa)
	}
	_, err := active(a.Org.ID, domain.EnvDevelopment)
	wantCode(t, "ActiveDeployment with none in the environment", err, domain.CodeNotFound)
	_, err = active(b.Org.ID, domain.EnvProduction)
	wantCode(t, "ActiveDeployment of another org's app", err, domain.CodeNotFound)

	equal(t, "ListDeployments (newest first, then id descending)", read(t, s, func(ctx context.Context, tx domain.Tx) ([]domain.Deployment, error) {
		return tx.ListDeployments(ctx, a.Org.ID, a.App.ID)
	}), []domain.Deployment{qa, next, replaced})
	equal(t, "ListDeployments of another org's app", len(read(t, s, func(ctx context.Context, tx domain.Tx) ([]domain.Deployment, error) {
		return tx.ListDeployments(ctx, b.Org.ID, a.App.ID)
	})), 0)

	// Replacing twice keeps the first time.
	update(t, s, func(ctx context.Context, tx domain.Tx) error {
		return tx.ReplaceDeployment(ctx, a.Org.ID, a.Deployment.ID, minute(30))
	})
	equal(t, "deployment replaced twice", read(t, s, func(ctx context.Context, tx domain.Tx) (domain.Deployment, error) {
		return tx.GetDeployment(ctx, a.Org.ID, a.Deployment.ID)
	}), replaced)

	wantNotFound(t, s, []notFoundCase{
		{"GetDeployment missing", func(ctx context.Context, tx domain.Tx) error {
			_, err := tx.GetDeployment(ctx, a.Org.ID, "dep_x")
			return err
		}},
		{"GetDeployment of another org", func(ctx context.Context, tx domain.Tx) error {
			_, err := tx.GetDeployment(ctx, a.Org.ID, b.Deployment.ID)
			return err
		}},
		{"ReplaceDeployment missing", func(ctx context.Context, tx domain.Tx) error {
			return tx.ReplaceDeployment(ctx, a.Org.ID, "dep_x", minute(40))
		}},
		{"ReplaceDeployment of another org", func(ctx context.Context, tx domain.Tx) error {
			return tx.ReplaceDeployment(ctx, a.Org.ID, b.Deployment.ID, minute(40))
		}},
	})
	equal(t, "org b's deployment after cross-org replace", read(t, s, func(ctx context.Context, tx domain.Tx) (domain.Deployment, error) {
		return tx.GetDeployment(ctx, b.Org.ID, b.Deployment.ID)
	}), b.Deployment)
}

func testResources(t *testing.T, newStore Factory) {
	s := newStore(t)
	a, b := seed(t, s)
	web := domain.ChannelResource{ID: "res_a2", OrgID: a.Org.ID, Kind: domain.ResourceWebChat, Name: "site",
		Address: "wk_123", AppID: a.App.ID, Environment: domain.EnvQA, IdentifyBy: domain.IdentifyByNone,
		CreatedAt: minute(12)}
	fixed := domain.ChannelResource{ID: "res_a3", OrgID: a.Org.ID, Kind: domain.ResourceSMS, Name: "line",
		Address: "+15550100009", DeploymentID: a.Deployment.ID, IdentifyBy: domain.IdentifyByDestination,
		CreatedAt: minute(13)}
	update(t, s, func(ctx context.Context, tx domain.Tx) error {
		if err := tx.CreateResource(ctx, web); err != nil {
			return err
		}
		return tx.CreateResource(ctx, fixed)
	})
	equal(t, "GetResource", read(t, s, func(ctx context.Context, tx domain.Tx) (domain.ChannelResource, error) {
		return tx.GetResource(ctx, a.Org.ID, web.ID)
	}), web)
	equal(t, "GetResource bound to a deployment", read(t, s, func(ctx context.Context, tx domain.Tx) (domain.ChannelResource, error) {
		return tx.GetResource(ctx, a.Org.ID, fixed.ID)
	}), fixed)
	equal(t, "ListResources a", read(t, s, func(ctx context.Context, tx domain.Tx) ([]domain.ChannelResource, error) {
		return tx.ListResources(ctx, a.Org.ID)
	}), []domain.ChannelResource{a.Resource, web, fixed})
	equal(t, "ListResources b", read(t, s, func(ctx context.Context, tx domain.Tx) ([]domain.ChannelResource, error) {
		return tx.ListResources(ctx, b.Org.ID)
	}), []domain.ChannelResource{b.Resource})
	wantNotFound(t, s, []notFoundCase{
		{"GetResource missing", func(ctx context.Context, tx domain.Tx) error {
			_, err := tx.GetResource(ctx, a.Org.ID, "res_x")
			return err
		}},
		{"GetResource of another org", func(ctx context.Context, tx domain.Tx) error {
			_, err := tx.GetResource(ctx, b.Org.ID, web.ID)
			return err
		}},
	})
}
