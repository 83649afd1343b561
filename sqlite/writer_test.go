package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/domain"
)

// TestGroupCommitIsolatesRequests runs many concurrent Updates, so that
// they share batches: each request that fails or panics is rolled back
// alone, every other one commits, and callers get their own results.
func TestGroupCommitIsolatesRequests(t *testing.T) {
	db := newStore(t)
	ctx := context.Background()
	must(t, db.Update(ctx, func(tx domain.Tx) error {
		return tx.CreateOrg(ctx, domain.Organization{ID: "org_1", Name: "o", CreatedAt: time.Unix(0, 0)})
	}))
	const n = 300
	errBoom := errors.New("boom")
	results := make([]error, n)
	panics := make([]any, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { panics[i] = recover() }()
			results[i] = db.Update(ctx, func(tx domain.Tx) error {
				id := domain.CustomerID(fmt.Sprintf("cus_%03d", i))
				if err := tx.CreateCustomer(ctx, domain.Customer{ID: id, OrgID: "org_1", CreatedAt: time.Unix(int64(i), 0)}); err != nil {
					return err
				}
				switch i % 3 {
				case 1:
					return errBoom
				case 2:
					if i%2 == 0 {
						panic("fn panicked")
					}
				}
				return nil
			})
		}()
	}
	wg.Wait()
	for i := 0; i < n; i++ {
		id := domain.CustomerID(fmt.Sprintf("cus_%03d", i))
		err := db.View(ctx, func(tx domain.Tx) error {
			_, err := tx.GetCustomer(ctx, "org_1", id)
			return err
		})
		panicked := i%3 == 2 && i%2 == 0
		switch {
		case i%3 == 1:
			if !errors.Is(results[i], errBoom) || !domain.IsNotFound(err) {
				t.Fatalf("request %d failed with %v but its customer lookup says %v", i, results[i], err)
			}
		case panicked:
			if panics[i] != "fn panicked" || !domain.IsNotFound(err) {
				t.Fatalf("request %d panicked (%v) but its customer lookup says %v", i, panics[i], err)
			}
		default:
			if results[i] != nil || panics[i] != nil || err != nil {
				t.Fatalf("request %d: result %v, panic %v, lookup %v", i, results[i], panics[i], err)
			}
		}
	}
}

// TestUpdateWithCancelledContext writes nothing.
func TestUpdateWithCancelledContext(t *testing.T) {
	db := newStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := db.Update(ctx, func(tx domain.Tx) error {
		return tx.CreateOrg(ctx, domain.Organization{ID: "org_1", Name: "o", CreatedAt: time.Unix(0, 0)})
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Update with a cancelled context: %v", err)
	}
	err = db.View(context.Background(), func(tx domain.Tx) error {
		_, err := tx.GetOrg(context.Background(), "org_1")
		return err
	})
	if !domain.IsNotFound(err) {
		t.Fatalf("org after a cancelled Update: %v", err)
	}
}

// TestUpdateAfterClose answers instead of blocking.
func TestUpdateAfterClose(t *testing.T) {
	db := newStore(t)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Update(context.Background(), func(domain.Tx) error { return nil }); err == nil {
		t.Fatal("Update after Close succeeded")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
