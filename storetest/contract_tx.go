package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/parleyhq/parley/domain"
)

// testUniqueness checks that every uniqueness rule of the contract is
// enforced by the store: Update runs the conflicting function again a
// bounded number of times, then returns CodeConflict, and nothing of the
// conflicting transaction persists.
func testUniqueness(t *testing.T, newStore Factory) {
	s := newStore(t)
	a, b := seed(t, s)
	const x = "tel:+15550100042"
	update(t, s, func(ctx context.Context, tx domain.Tx) error {
		if err := tx.SetCustomerIdentifier(ctx, a.Org.ID, a.Customer.ID, x, minute(10)); err != nil {
			return err
		}
		if err := tx.OpenInterval(ctx, domain.IdentifierInterval{OrgID: a.Org.ID, CustomerID: a.Customer.ID, Identifier: x, ValidFrom: minute(10)}); err != nil {
			return err
		}
		return tx.PutIdempotency(ctx, domain.IdempotencyRecord{OrgID: a.Org.ID, Key: "k1", RequestHash: "h", CreatedAt: minute(10)})
	})
	marker := domain.App{ID: "app_marker", OrgID: a.Org.ID, Name: "written before the conflict", CreatedAt: minute(11)}
	cases := []struct {
		name     string
		conflict func(ctx context.Context, tx domain.Tx) error
	}{
		{"customer created with an identifier another customer holds", func(ctx context.Context, tx domain.Tx) error {
			return tx.CreateCustomer(ctx, domain.Customer{ID: "cus_a2", OrgID: a.Org.ID, Identifier: x, IdentifierSince: minute(12), CreatedAt: minute(12)})
		}},
		{"customer given an identifier another customer holds", func(ctx context.Context, tx domain.Tx) error {
			if err := tx.CreateCustomer(ctx, domain.Customer{ID: "cus_a2", OrgID: a.Org.ID, CreatedAt: minute(12)}); err != nil {
				return err
			}
			return tx.SetCustomerIdentifier(ctx, a.Org.ID, "cus_a2", x, minute(12))
		}},
		{"second current interval of an identifier", func(ctx context.Context, tx domain.Tx) error {
			return tx.OpenInterval(ctx, domain.IdentifierInterval{OrgID: a.Org.ID, CustomerID: a.Customer.ID, Identifier: x, ValidFrom: minute(12)})
		}},
		{"second active deployment of an app in an environment", func(ctx context.Context, tx domain.Tx) error {
			return tx.CreateDeployment(ctx, domain.Deployment{ID: "dep_a2", OrgID: a.Org.ID, AppID: a.App.ID,
				VersionID: a.Version.ID, Environment: a.Deployment.Environment, PublishedAt: minute(12)})
		}},
		{"duplicate version number", func(ctx context.Context, tx domain.Tx) error {
			return tx.CreateVersion(ctx, domain.AppVersion{ID: "ver_a2", OrgID: a.Org.ID, AppID: a.App.ID,
				Number: a.Version.Number, Definition: []byte(`{}`), CreatedAt: minute(12)})
		}},
		{"duplicate idempotency key", func(ctx context.Context, tx domain.Tx) error {
			return tx.PutIdempotency(ctx, domain.IdempotencyRecord{OrgID: a.Org.ID, Key: "k1", RequestHash: "h2", CreatedAt: minute(12)})
		}},
		{"duplicate customer id", func(ctx context.Context, tx domain.Tx) error {
			return tx.CreateCustomer(ctx, domain.Customer{ID: a.Customer.ID, OrgID: a.Org.ID, CreatedAt: minute(12)})
		}},
		{"duplicate API key hash", func(ctx context.Context, tx domain.Tx) error {
			if err := tx.CreateAPIKey(ctx, domain.APIKey{ID: "key_1", OrgID: a.Org.ID, Hash: []byte{1}, CreatedAt: minute(12)}); err != nil {
				return err
			}
			return tx.CreateAPIKey(ctx, domain.APIKey{ID: "key_2", OrgID: b.Org.ID, Hash: []byte{1}, CreatedAt: minute(12)})
		}},
	}
	for _, c := range cases {
		attempts := 0
		err := tryUpdate(s, func(ctx context.Context, tx domain.Tx) error {
			attempts++
			if err := tx.CreateApp(ctx, marker); err != nil {
				return err
			}
			return c.conflict(ctx, tx)
		})
		wantCode(t, c.name, err, domain.CodeConflict)
		if attempts < 2 || attempts > 20 {
			t.Errorf("%s: Update ran its function %d times, want a bounded retry (2..20)", c.name, attempts)
		}
		err = readErr(t, s, func(ctx context.Context, tx domain.Tx) error {
			_, err := tx.GetApp(ctx, a.Org.ID, marker.ID)
			return err
		})
		wantCode(t, c.name+": write before the conflict rolled back", err, domain.CodeNotFound)
	}

	// The rows that won are intact.
	got := read(t, s, func(ctx context.Context, tx domain.Tx) (domain.Customer, error) {
		return tx.GetCustomer(ctx, a.Org.ID, a.Customer.ID)
	})
	equal(t, "holder after the conflicts", got.Identifier, x)
	iv := read(t, s, func(ctx context.Context, tx domain.Tx) (domain.IdentifierInterval, error) {
		iv, _, err := tx.LatestInterval(ctx, a.Org.ID, x)
		return iv, err
	})
	equal(t, "current interval after the conflicts", iv,
		domain.IdentifierInterval{OrgID: a.Org.ID, CustomerID: a.Customer.ID, Identifier: x, ValidFrom: minute(10)})
	// Uniqueness is per org: org b may use the same identifier and key.
	update(t, s, func(ctx context.Context, tx domain.Tx) error {
		if err := tx.SetCustomerIdentifier(ctx, b.Org.ID, b.Customer.ID, x, minute(13)); err != nil {
			return err
		}
		if err := tx.OpenInterval(ctx, domain.IdentifierInterval{OrgID: b.Org.ID, CustomerID: b.Customer.ID, Identifier: x, ValidFrom: minute(13)}); err != nil {
			return err
		}
		return tx.PutIdempotency(ctx, domain.IdempotencyRecord{OrgID: b.Org.ID, Key: "k1", RequestHash: "h", CreatedAt: minute(13)})
	})
}

func testTransactions(t *testing.T, newStore Factory) {
	s := newStore(t)
	a, _ := seed(t, s)
	orgExists := func(id domain.OrgID) bool {
		err := readErr(t, s, func(ctx context.Context, tx domain.Tx) error {
			_, err := tx.GetOrg(ctx, id)
			return err
		})
		if err != nil && !domain.IsNotFound(err) {
			t.Fatalf("GetOrg: %v", err)
		}
		return err == nil
	}
	newOrg := domain.Organization{ID: "org_new", Name: "new", CreatedAt: minute(1)}

	t.Run("fn error rolls back and is returned as is", func(t *testing.T) {
		sentinel := errors.New("boom")
		attempts := 0
		err := tryUpdate(s, func(ctx context.Context, tx domain.Tx) error {
			attempts++
			if err := tx.CreateOrg(ctx, newOrg); err != nil {
				return err
			}
			if err := tx.SetOrgLicense(ctx, a.Org.ID, "changed"); err != nil {
				return err
			}
			return sentinel
		})
		if !errors.Is(err, sentinel) {
			t.Errorf("Update returned %v, want the function's error", err)
		}
		equal(t, "attempts for a plain error", attempts, 1)
		equal(t, "org created in a failed Update exists", orgExists(newOrg.ID), false)
		equal(t, "licence set in a failed Update", read(t, s, func(ctx context.Context, tx domain.Tx) (string, error) {
			o, err := tx.GetOrg(ctx, a.Org.ID)
			return o.LicenseToken, err
		}), "")
	})

	t.Run("domain error passes through untouched", func(t *testing.T) {
		want := domain.Errorf(domain.CodeIdentifierTaken, "taken").WithDetail("holderCustomerId", "cus_1")
		attempts := 0
		err := tryUpdate(s, func(ctx context.Context, tx domain.Tx) error {
			attempts++
			if err := tx.CreateOrg(ctx, newOrg); err != nil {
				return err
			}
			return want
		})
		var got *domain.Error
		if !errors.As(err, &got) || got != want {
			t.Errorf("Update returned %v, want the very *domain.Error the function returned", err)
		}
		equal(t, "attempts for a domain error", attempts, 1)
		equal(t, "org created before a domain error exists", orgExists(newOrg.ID), false)
	})

	t.Run("foreign-key violation is not retried", func(t *testing.T) {
		attempts := 0
		err := tryUpdate(s, func(ctx context.Context, tx domain.Tx) error {
			attempts++
			return tx.CreateApp(ctx, domain.App{ID: "app_orphan", OrgID: "org_missing", Name: "x", CreatedAt: minute(1)})
		})
		if err == nil {
			t.Fatal("Update creating an app of a missing org succeeded")
		}
		if code := domain.ErrorCode(err); code == domain.CodeConflict {
			t.Errorf("foreign-key violation reported as %q", code)
		}
		equal(t, "attempts for a foreign-key violation", attempts, 1)
	})

	t.Run("View refuses writes", func(t *testing.T) {
		ctx := context.Background()
		err := s.View(ctx, func(tx domain.Tx) error { return tx.CreateOrg(ctx, newOrg) })
		if err == nil {
			t.Error("CreateOrg inside View succeeded")
		}
		equal(t, "org created inside View exists", orgExists(newOrg.ID), false)
	})

	t.Run("View returns fn's error", func(t *testing.T) {
		sentinel := errors.New("read failed")
		err := s.View(context.Background(), func(domain.Tx) error { return sentinel })
		if !errors.Is(err, sentinel) {
			t.Errorf("View returned %v, want the function's error", err)
		}
	})

	t.Run("commit is visible to later transactions", func(t *testing.T) {
		update(t, s, func(ctx context.Context, tx domain.Tx) error { return tx.CreateOrg(ctx, newOrg) })
		equal(t, "org after a committed Update", orgExists(newOrg.ID), true)
	})
}
