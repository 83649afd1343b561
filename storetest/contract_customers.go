package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/parleyhq/parley/domain"
)

func testCustomers(t *testing.T, newStore Factory) {
	s := newStore(t)
	a, b := seed(t, s)
	named := domain.Customer{ID: "cus_a2", OrgID: a.Org.ID, Identifier: "tel:+15550100002",
		IdentifierSince: minute(13), CreatedAt: minute(13)}
	// The same identifier in another org is another customer's business.
	other := domain.Customer{ID: "cus_b2", OrgID: b.Org.ID, Identifier: named.Identifier,
		IdentifierSince: minute(14), CreatedAt: minute(14)}
	anonymous := domain.Customer{ID: "cus_a3", OrgID: a.Org.ID, CreatedAt: minute(15)}
	update(t, s, func(ctx context.Context, tx domain.Tx) error {
		for _, c := range []domain.Customer{named, other, anonymous} {
			if err := tx.CreateCustomer(ctx, c); err != nil {
				return err
			}
		}
		return nil
	})
	get := func(org domain.OrgID, id domain.CustomerID) domain.Customer {
		return read(t, s, func(ctx context.Context, tx domain.Tx) (domain.Customer, error) { return tx.GetCustomer(ctx, org, id) })
	}
	equal(t, "customer with identifier", get(a.Org.ID, named.ID), named)
	equal(t, "same identifier in org b", get(b.Org.ID, other.ID), other)
	equal(t, "customers without identifier", []domain.Customer{get(a.Org.ID, anonymous.ID), get(a.Org.ID, a.Customer.ID)},
		[]domain.Customer{anonymous, a.Customer})

	// Move the identifier from named to anonymous, in one transaction.
	update(t, s, func(ctx context.Context, tx domain.Tx) error {
		if err := tx.SetCustomerIdentifier(ctx, a.Org.ID, named.ID, "", time.Time{}); err != nil {
			return err
		}
		return tx.SetCustomerIdentifier(ctx, a.Org.ID, anonymous.ID, named.Identifier, minute(16))
	})
	wantNamed, wantAnonymous := named, anonymous
	wantNamed.Identifier, wantNamed.IdentifierSince = "", time.Time{}
	wantAnonymous.Identifier, wantAnonymous.IdentifierSince = named.Identifier, minute(16)
	equal(t, "customer after clearing its identifier", get(a.Org.ID, named.ID), wantNamed)
	equal(t, "customer after taking the identifier", get(a.Org.ID, anonymous.ID), wantAnonymous)

	wantNotFound(t, s, []notFoundCase{
		{"GetCustomer missing", func(ctx context.Context, tx domain.Tx) error {
			_, err := tx.GetCustomer(ctx, a.Org.ID, "cus_x")
			return err
		}},
		{"GetCustomer of another org", func(ctx context.Context, tx domain.Tx) error {
			_, err := tx.GetCustomer(ctx, a.Org.ID, other.ID)
			return err
		}},
		{"SetCustomerIdentifier missing", func(ctx context.Context, tx domain.Tx) error {
			return tx.SetCustomerIdentifier(ctx, a.Org.ID, "cus_x", "x", minute(17))
		}},
		{"SetCustomerIdentifier of another org", func(ctx context.Context, tx domain.Tx) error {
			return tx.SetCustomerIdentifier(ctx, a.Org.ID, other.ID, "stolen", minute(17))
		}},
	})
	equal(t, "org b's customer after cross-org write", get(b.Org.ID, other.ID), other)
}

func testIntervals(t *testing.T, newStore Factory) {
	s := newStore(t)
	a, b := seed(t, s)
	const x, y = "tel:+15550100009", "mailto:someone@example.com"
	cusA, cusB := a.Customer.ID, domain.CustomerID("cus_a2")
	// A holds x in [10, 20), then y from 20; B holds x from 30 (a gap
	// [20, 30) when nobody held x). Org b's customer holds x from 5.
	update(t, s, func(ctx context.Context, tx domain.Tx) error {
		if err := tx.CreateCustomer(ctx, domain.Customer{ID: cusB, OrgID: a.Org.ID, CreatedAt: minute(1)}); err != nil {
			return err
		}
		return tx.OpenInterval(ctx, domain.IdentifierInterval{OrgID: b.Org.ID, CustomerID: b.Customer.ID, Identifier: x, ValidFrom: minute(5)})
	})
	steps := []func(ctx context.Context, tx domain.Tx) error{
		func(ctx context.Context, tx domain.Tx) error {
			return tx.OpenInterval(ctx, domain.IdentifierInterval{OrgID: a.Org.ID, CustomerID: cusA, Identifier: x, ValidFrom: minute(10)})
		},
		func(ctx context.Context, tx domain.Tx) error {
			if err := tx.CloseInterval(ctx, a.Org.ID, cusA, x, minute(20)); err != nil {
				return err
			}
			return tx.OpenInterval(ctx, domain.IdentifierInterval{OrgID: a.Org.ID, CustomerID: cusA, Identifier: y, ValidFrom: minute(20)})
		},
		func(ctx context.Context, tx domain.Tx) error {
			return tx.OpenInterval(ctx, domain.IdentifierInterval{OrgID: a.Org.ID, CustomerID: cusB, Identifier: x, ValidFrom: minute(30)})
		},
	}
	for _, step := range steps {
		update(t, s, step)
	}
	aX := domain.IdentifierInterval{OrgID: a.Org.ID, CustomerID: cusA, Identifier: x, ValidFrom: minute(10), ValidTo: ptr(minute(20))}
	aY := domain.IdentifierInterval{OrgID: a.Org.ID, CustomerID: cusA, Identifier: y, ValidFrom: minute(20)}
	bX := domain.IdentifierInterval{OrgID: a.Org.ID, CustomerID: cusB, Identifier: x, ValidFrom: minute(30)}
	otherOrgX := domain.IdentifierInterval{OrgID: b.Org.ID, CustomerID: b.Customer.ID, Identifier: x, ValidFrom: minute(5)}

	type result struct {
		IV    domain.IdentifierInterval
		Found bool
	}
	latest := func(org domain.OrgID, identifier string) result {
		return read(t, s, func(ctx context.Context, tx domain.Tx) (result, error) {
			iv, found, err := tx.LatestInterval(ctx, org, identifier)
			return result{iv, found}, err
		})
	}
	equal(t, "LatestInterval x", latest(a.Org.ID, x), result{bX, true})
	equal(t, "LatestInterval y", latest(a.Org.ID, y), result{aY, true})
	equal(t, "LatestInterval never held", latest(a.Org.ID, "nobody").Found, false)
	equal(t, "LatestInterval x in org b", latest(b.Org.ID, x), result{otherOrgX, true})
	equal(t, "LatestInterval y in org b", latest(b.Org.ID, y).Found, false)

	us := time.Microsecond
	cases := []struct {
		name       string
		identifier string
		at         time.Time
		want       result
	}{
		{"x before anyone held it", x, minute(10).Add(-us), result{}},
		{"x at the start of A's interval", x, minute(10), result{aX, true}},
		{"x inside A's interval", x, minute(15), result{aX, true}},
		{"x at the last microsecond of A's interval", x, minute(20).Add(-us), result{aX, true}},
		{"x at the end of A's interval (exclusive)", x, minute(20), result{}},
		{"x in the gap", x, minute(30).Add(-us), result{}},
		{"x at the start of B's interval", x, minute(30), result{bX, true}},
		{"x long after (B's is current)", x, minute(100000), result{bX, true}},
		{"y before A took it", y, minute(20).Add(-us), result{}},
		{"y at its start", y, minute(20), result{aY, true}},
		{"unknown identifier", "nobody", minute(15), result{}},
	}
	for _, c := range cases {
		got := read(t, s, func(ctx context.Context, tx domain.Tx) (result, error) {
			iv, found, err := tx.IntervalAt(ctx, a.Org.ID, c.identifier, c.at)
			if !found {
				iv = domain.IdentifierInterval{}
			}
			return result{iv, found}, err
		})
		equal(t, "IntervalAt: "+c.name, got, c.want)
	}

	equal(t, "CustomerIntervals A (oldest first)", read(t, s, func(ctx context.Context, tx domain.Tx) ([]domain.IdentifierInterval, error) {
		return tx.CustomerIntervals(ctx, a.Org.ID, cusA)
	}), []domain.IdentifierInterval{aX, aY})
	equal(t, "CustomerIntervals of org b's customer seen from org a", len(read(t, s, func(ctx context.Context, tx domain.Tx) ([]domain.IdentifierInterval, error) {
		return tx.CustomerIntervals(ctx, a.Org.ID, b.Customer.ID)
	})), 0)

	// Closing B's interval: the latest interval is closed, x is free.
	update(t, s, func(ctx context.Context, tx domain.Tx) error {
		return tx.CloseInterval(ctx, a.Org.ID, cusB, x, minute(40))
	})
	bXClosed := bX
	bXClosed.ValidTo = ptr(minute(40))
	equal(t, "LatestInterval x after closing", latest(a.Org.ID, x), result{bXClosed, true})
	equal(t, "IntervalAt x after its last close", read(t, s, func(ctx context.Context, tx domain.Tx) (bool, error) {
		_, found, err := tx.IntervalAt(ctx, a.Org.ID, x, minute(40))
		return found, err
	}), false)

	wantNotFound(t, s, []notFoundCase{
		{"CloseInterval with no current interval", func(ctx context.Context, tx domain.Tx) error {
			return tx.CloseInterval(ctx, a.Org.ID, cusB, x, minute(50))
		}},
		{"CloseInterval of an identifier held by another customer", func(ctx context.Context, tx domain.Tx) error {
			return tx.CloseInterval(ctx, a.Org.ID, cusB, y, minute(50))
		}},
		{"CloseInterval of another org's interval", func(ctx context.Context, tx domain.Tx) error {
			return tx.CloseInterval(ctx, a.Org.ID, b.Customer.ID, x, minute(50))
		}},
	})
	equal(t, "org b's interval after cross-org close", latest(b.Org.ID, x), result{otherOrgX, true})
	equal(t, "A's y interval after a close by another customer", latest(a.Org.ID, y), result{aY, true})
}
