package postgres

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/parleyhq/parley/domain"
)

// TestPipelinedTransactions checks what tx's pipelining must keep: a
// queued write is seen by the transaction's next read, its error fails the
// statement or the commit it went out with and nothing of the transaction
// stays, a unique violation in it runs the transaction again, and a
// transaction that sends nothing commits nothing.
func TestPipelinedTransactions(t *testing.T) {
	db := OpenTestStore(t)
	ctx := context.Background()
	if _, err := db.pool.Exec(ctx, `CREATE TABLE pipeline_test (k text PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	insert := func(tx *tx, k string) error {
		return tx.later(ctx, `INSERT INTO pipeline_test (k) VALUES ($1)`, k)
	}
	count := func(tx *tx) (n int, err error) {
		err = tx.queryRow(ctx, `SELECT count(*) FROM pipeline_test`).Scan(&n)
		return n, err
	}
	rows := func(t *testing.T) int {
		t.Helper()
		var n int
		if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM pipeline_test`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	tests := []struct {
		name string
		// fn is run in Update at each attempt (counted from 1).
		fn       func(tx *tx, attempt int) error
		attempts int
		wantErr  bool
		// rows is how many rows the table gains.
		rows int
	}{
		{name: "a read sees the queued writes", attempts: 1, rows: 2, fn: func(tx *tx, _ int) error {
			if err := insert(tx, "a"); err != nil {
				return err
			}
			if err := insert(tx, "b"); err != nil {
				return err
			}
			n, err := count(tx)
			if err == nil && n < 2 {
				err = errors.New("the read did not see the queued writes")
			}
			return err
		}},
		{name: "writes queued last go out with the commit", attempts: 1, rows: 1, fn: func(tx *tx, _ int) error {
			return insert(tx, "c")
		}},
		{name: "a failing queued write fails the next statement", attempts: 1, wantErr: true, fn: func(tx *tx, _ int) error {
			if err := insert(tx, "d"); err != nil {
				return err
			}
			if err := tx.later(ctx, `INSERT INTO pipeline_test (k) VALUES (NULL)`); err != nil {
				return err
			}
			_, err := count(tx)
			if err == nil {
				return errors.New("the read after a failing write succeeded")
			}
			return err
		}},
		{name: "a failing queued write fails the commit", attempts: 1, wantErr: true, fn: func(tx *tx, _ int) error {
			if _, err := count(tx); err != nil {
				return err
			}
			if err := insert(tx, "e"); err != nil {
				return err
			}
			return tx.later(ctx, `INSERT INTO pipeline_test (k) VALUES (NULL)`)
		}},
		{name: "a unique violation in a queued write runs the transaction again", attempts: 2, rows: 1, fn: func(tx *tx, attempt int) error {
			if attempt == 1 {
				return insert(tx, "a") // committed by the first case
			}
			return insert(tx, "f")
		}},
		{name: "a transaction that sends nothing", attempts: 1, fn: func(*tx, int) error { return nil }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := rows(t)
			attempts := 0
			err := db.Update(ctx, func(dtx domain.Tx) error {
				attempts++
				return tc.fn(dtx.(*tx), attempts)
			})
			if (err != nil) != tc.wantErr {
				t.Fatalf("Update = %v, want an error: %v", err, tc.wantErr)
			}
			if attempts != tc.attempts {
				t.Errorf("attempts = %d, want %d", attempts, tc.attempts)
			}
			if got := rows(t) - before; got != tc.rows {
				t.Errorf("rows added = %d, want %d", got, tc.rows)
			}
		})
	}
	// Every connection went back to the pool outside a transaction.
	for _, c := range db.pool.AcquireAllIdle(ctx) {
		if s := c.Conn().PgConn().TxStatus(); s != 'I' {
			t.Errorf("a pooled connection is in transaction state %q", s)
		}
		c.Release()
	}
}

// TestCloseSendsWaitingNotifications: notifications of transactions that
// committed before Close are sent, from one process to another.
func TestCloseSendsWaitingNotifications(t *testing.T) {
	stores := OpenTestStores(t, 2)
	sender, listener := stores[0], stores[1]
	got, pinged := make(chan string, 100), make(chan struct{}, 100)
	cancel := listener.Subscribe("parley_close_test", func(p string) {
		switch p {
		case "": // LISTEN in effect, or notifications possibly missed
		case "ping":
			pinged <- struct{}{}
		default:
			got <- p
		}
	})
	defer cancel()
	ctx := context.Background()
	// Wait until the listener listens.
	deadline := time.Now().Add(10 * time.Second)
	for ready := false; !ready; {
		if err := sender.Update(ctx, func(tx domain.Tx) error { return tx.Notify(ctx, "parley_close_test", "ping") }); err != nil {
			t.Fatal(err)
		}
		select {
		case <-pinged:
			ready = true
		case <-time.After(200 * time.Millisecond):
			if time.Now().After(deadline) {
				t.Fatal("the listener never heard a notification")
			}
		}
	}
	const n = 20
	for i := range n {
		if err := sender.Update(ctx, func(tx domain.Tx) error {
			return tx.Notify(ctx, "parley_close_test", string(rune('a'+i)))
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := sender.Close(); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		select {
		case p := <-got:
			if want := string(rune('a' + i)); p != want {
				t.Fatalf("notification %d = %q, want %q (in commit order)", i, p, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("notification %d of %d never came", i+1, n)
		}
	}
}

// TestWebhookWakeUpAfterCommit: an event that makes webhook deliveries
// wakes the delivery workers (domain.TopicWebhooks, the org's id) after
// its transaction commits (queued, not issued by the statement); an event
// of an org without endpoints wakes nobody.
func TestWebhookWakeUpAfterCommit(t *testing.T) {
	db := OpenTestStore(t)
	ctx := context.Background()
	now := time.Now()
	for _, org := range []string{"org_hooks", "org_quiet"} {
		if _, err := db.pool.Exec(ctx, `INSERT INTO orgs (id, name, created_at) VALUES ($1, $1, $2)`, org, now); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.pool.Exec(ctx, `INSERT INTO webhook_endpoints (id, org_id, url, description, event_types, enabled,
		disabled_reason, secret, previous_secret, created_at, updated_at)
		VALUES ('whe_1', 'org_hooks', 'https://example.com/hook', '', '{}', true, '', 's', '', $1, $1)`, now); err != nil {
		t.Fatal(err)
	}
	got, listening := make(chan string, 10), make(chan struct{}, 10)
	cancel := db.Subscribe(domain.TopicWebhooks, func(p string) {
		if p == "" { // LISTEN is in effect
			listening <- struct{}{}
			return
		}
		got <- p
	})
	defer cancel()
	select {
	case <-listening:
	case <-time.After(10 * time.Second):
		t.Fatal("LISTEN never took effect")
	}
	for _, org := range []domain.OrgID{"org_quiet", "org_hooks"} {
		if err := db.Update(ctx, func(dtx domain.Tx) error {
			for range 2 {
				if err := dtx.AppendEvent(ctx, domain.Event{OrgID: org, Type: "test.event", Subject: "s", CreatedAt: now}); err != nil {
					return err
				}
			}
			if err := dtx.(*tx).flush(ctx); err != nil {
				return err
			}
			// Queued for after the commit, once however many events.
			if n := len(dtx.(*tx).notes); (org == "org_hooks") != (n == 1) || n > 1 {
				t.Errorf("%s: %d notifications queued, want one for org_hooks and none else", org, n)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case p := <-got:
		if p != "org_hooks" {
			t.Fatalf("woken for %q, want org_hooks", p)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the delivery workers were never woken")
	}
}
