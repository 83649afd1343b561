package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/domain"
)

// RunChannels checks the domain.ChannelTx methods: secrets and origins,
// the SMS outbox's claims and saves, opt-outs and notifications. Each
// subtest gets a fresh store.
func RunChannels(t *testing.T, newStore Factory) {
	t.Run("Secrets", func(t *testing.T) { testSecrets(t, newStore) })
	t.Run("Origins", func(t *testing.T) { testOrigins(t, newStore) })
	t.Run("SMSOutbox", func(t *testing.T) { testSMSOutbox(t, newStore) })
	t.Run("SMSOrder", func(t *testing.T) { testSMSOrder(t, newStore) })
	t.Run("OptOuts", func(t *testing.T) { testOptOuts(t, newStore) })
	t.Run("Notify", func(t *testing.T) { testNotify(t, newStore(t)) })
}

// RunChannelRaces checks, on n stores of one database (as n server
// processes), that concurrent claims never hand one SMS to two workers
// nor two messages of one conversation at once, and that a notification
// committed through one store reaches the subscribers of every store, even
// one that subscribed a moment before. SQLite delivers notifications in process
// only, so crossStores says whether to expect them across stores.
func RunChannelRaces(t *testing.T, open func(t testing.TB, n int) []domain.Store, crossStores bool) {
	t.Run("Claims", func(t *testing.T) { testClaimRace(t, open(t, 3)) })
	t.Run("ClaimsInOrder", func(t *testing.T) { testSMSOrderRace(t, open(t, 3)) })
	t.Run("Notifications", func(t *testing.T) {
		stores := open(t, 2)
		seed(t, stores[0])
		to := stores[0]
		if crossStores {
			to = stores[1]
		}
		testNotifyFromSubscribe(t, stores[0], to)
		if crossStores {
			testNotifyAcross(t, stores[0], stores[1])
		} else {
			testNotifyAcross(t, stores[0], stores[0])
		}
	})
}

func testSecrets(t *testing.T, newStore Factory) {
	s := newStore(t)
	a, b := seed(t, s)
	ctx := context.Background()
	found := read(t, s, func(ctx context.Context, tx domain.Tx) (domain.ChannelResource, error) {
		return tx.LookupResource(ctx, b.Resource.ID)
	})
	equal(t, "LookupResource of another org's resource", found, b.Resource)
	wantCode(t, "LookupResource of an unknown id", readErr(t, s, func(ctx context.Context, tx domain.Tx) error {
		_, err := tx.LookupResource(ctx, "res_missing")
		return err
	}), domain.CodeNotFound)

	token := domain.ResourceSecret{OrgID: a.Org.ID, ResourceID: a.Resource.ID, Name: domain.SecretTwilioAuthToken,
		Value: "token-1", UpdatedAt: minute(5)}
	sid := domain.ResourceSecret{OrgID: a.Org.ID, ResourceID: a.Resource.ID, Name: domain.SecretTwilioAccountSID,
		Value: "AC1", UpdatedAt: minute(5)}
	update(t, s, func(ctx context.Context, tx domain.Tx) error {
		if err := tx.PutResourceSecret(ctx, token); err != nil {
			return err
		}
		return tx.PutResourceSecret(ctx, sid)
	})
	rotated := token
	rotated.Value, rotated.Previous, rotated.PreviousUntil, rotated.UpdatedAt = "token-2", "token-1", ptr(minute(60)), minute(6)
	update(t, s, func(ctx context.Context, tx domain.Tx) error { return tx.PutResourceSecret(ctx, rotated) })
	got := read(t, s, func(ctx context.Context, tx domain.Tx) ([]domain.ResourceSecret, error) {
		return tx.ResourceSecrets(ctx, a.Org.ID, a.Resource.ID)
	})
	equal(t, "secrets after a rotation (by name)", got, []domain.ResourceSecret{sid, rotated})
	none := read(t, s, func(ctx context.Context, tx domain.Tx) ([]domain.ResourceSecret, error) {
		return tx.ResourceSecrets(ctx, b.Org.ID, a.Resource.ID)
	})
	equal(t, "another org's view of the secrets", len(none), 0)
	_ = ctx
}

func testOrigins(t *testing.T, newStore Factory) {
	s := newStore(t)
	a, b := seed(t, s)
	origins := func(org domain.OrgID) []string {
		return read(t, s, func(ctx context.Context, tx domain.Tx) ([]string, error) {
			return tx.AllowedOrigins(ctx, org, a.Resource.ID)
		})
	}
	equal(t, "origins before any were set", origins(a.Org.ID), []string(nil))
	update(t, s, func(ctx context.Context, tx domain.Tx) error {
		return tx.SetAllowedOrigins(ctx, a.Org.ID, a.Resource.ID, []string{"https://shop.example", "http://localhost:3000"})
	})
	equal(t, "origins", origins(a.Org.ID), []string{"https://shop.example", "http://localhost:3000"})
	equal(t, "origins seen by another org", origins(b.Org.ID), []string(nil))
	update(t, s, func(ctx context.Context, tx domain.Tx) error {
		return tx.SetAllowedOrigins(ctx, a.Org.ID, a.Resource.ID, nil)
	})
	equal(t, "origins after clearing", origins(a.Org.ID), []string(nil))
}

// outbound is a pending SMS of tn's resource due at due.
func (tn tenant) outbound(id string, due time.Time) domain.SMSOutbound {
	return domain.SMSOutbound{
		OrgID: tn.Org.ID, MessageID: domain.MessageID(id), ConversationID: "conv_" + domain.ConversationID(id),
		ResourceID: tn.Resource.ID, From: tn.Resource.Address, To: "+15550100009", Body: "reply " + id,
		State: domain.SMSPending, NextAttemptAt: due, CreatedAt: minute(1), UpdatedAt: minute(1),
	}
}

func testSMSOutbox(t *testing.T, newStore Factory) {
	s := newStore(t)
	a, b := seed(t, s)
	m1, m2, later := a.outbound("msg_1", minute(10)), b.outbound("msg_2", minute(11)), a.outbound("msg_3", minute(30))
	update(t, s, func(ctx context.Context, tx domain.Tx) error {
		for _, m := range []domain.SMSOutbound{later, m2, m1} {
			if err := tx.EnqueueSMS(ctx, m); err != nil {
				return err
			}
		}
		return nil
	})
	equal(t, "GetSMS round trip", read(t, s, func(ctx context.Context, tx domain.Tx) (domain.SMSOutbound, error) {
		return tx.GetSMS(ctx, a.Org.ID, "msg_1")
	}), m1)
	wantCode(t, "GetSMS from another org", readErr(t, s, func(ctx context.Context, tx domain.Tx) error {
		_, err := tx.GetSMS(ctx, b.Org.ID, "msg_1")
		return err
	}), domain.CodeNotFound)
	dup := tryUpdate(s, func(ctx context.Context, tx domain.Tx) error { return tx.EnqueueSMS(ctx, m1) })
	wantCode(t, "a second EnqueueSMS of one message", dup, domain.CodeConflict)

	var claimed []domain.SMSOutbound
	update(t, s, func(ctx context.Context, tx domain.Tx) error {
		var err error
		claimed, err = tx.ClaimSMS(ctx, minute(20), minute(21), "worker-1", 10)
		return err
	})
	if len(claimed) != 2 {
		t.Fatalf("claimed %d messages at minute 20, want the 2 due ones: %+v", len(claimed), claimed)
	}
	for _, c := range claimed {
		if c.State != domain.SMSSending || c.Claim != "worker-1" || c.Attempts != 1 ||
			c.LeaseUntil == nil || !c.LeaseUntil.Equal(minute(21)) || (c.MessageID != "msg_1" && c.MessageID != "msg_2") {
			t.Errorf("claimed row %+v", c)
		}
	}
	again := read(t, s, func(ctx context.Context, tx domain.Tx) ([]domain.SMSOutbound, error) { return nil, nil })
	_ = again
	update(t, s, func(ctx context.Context, tx domain.Tx) error {
		more, err := tx.ClaimSMS(ctx, minute(20), minute(21), "worker-2", 10)
		if len(more) != 0 {
			t.Errorf("a second claim took %+v", more)
		}
		return err
	})
	expired := read(t, s, func(ctx context.Context, tx domain.Tx) ([]domain.SMSOutbound, error) {
		return tx.ExpiredSMSClaims(ctx, minute(22), 10)
	})
	equal(t, "expired claims", len(expired), 2)
	equal(t, "expired claims before the lease ends", len(read(t, s, func(ctx context.Context, tx domain.Tx) ([]domain.SMSOutbound, error) {
		return tx.ExpiredSMSClaims(ctx, minute(20), 10)
	})), 0)

	accepted := claimed[0]
	if accepted.MessageID != "msg_1" {
		accepted = claimed[1]
	}
	accepted.State, accepted.Status, accepted.ProviderID = domain.SMSAccepted, "queued", "SM123"
	accepted.LeaseUntil, accepted.Claim, accepted.UpdatedAt = nil, "", minute(22)
	accepted.ErrorCode, accepted.ErrorMessage = "30003", "unreachable"
	update(t, s, func(ctx context.Context, tx domain.Tx) error { return tx.SaveSMS(ctx, accepted) })
	equal(t, "SMSByProviderID after SaveSMS", read(t, s, func(ctx context.Context, tx domain.Tx) (domain.SMSOutbound, error) {
		return tx.SMSByProviderID(ctx, a.Org.ID, a.Resource.ID, "SM123")
	}), accepted)
	wantCode(t, "SMSByProviderID of an empty sid", readErr(t, s, func(ctx context.Context, tx domain.Tx) error {
		_, err := tx.SMSByProviderID(ctx, b.Org.ID, b.Resource.ID, "")
		return err
	}), domain.CodeNotFound)
	missing := a.outbound("msg_missing", minute(1))
	wantCode(t, "SaveSMS of a message never queued", tryUpdate(s, func(ctx context.Context, tx domain.Tx) error {
		return tx.SaveSMS(ctx, missing)
	}), domain.CodeNotFound)
}

func testOptOuts(t *testing.T, newStore Factory) {
	s := newStore(t)
	a, b := seed(t, s)
	optedOut := func(org domain.OrgID) bool {
		return read(t, s, func(ctx context.Context, tx domain.Tx) (bool, error) {
			return tx.OptedOut(ctx, org, a.Resource.ID, "+15550100009")
		})
	}
	equal(t, "opted out before STOP", optedOut(a.Org.ID), false)
	update(t, s, func(ctx context.Context, tx domain.Tx) error {
		return tx.SetOptOut(ctx, a.Org.ID, a.Resource.ID, "+15550100009", true, minute(5))
	})
	equal(t, "opted out after STOP", optedOut(a.Org.ID), true)
	equal(t, "another org's view", optedOut(b.Org.ID), false)
	update(t, s, func(ctx context.Context, tx domain.Tx) error {
		return tx.SetOptOut(ctx, a.Org.ID, a.Resource.ID, "+15550100009", false, minute(6))
	})
	equal(t, "opted out after START", optedOut(a.Org.ID), false)
}

// subscribe collects the payloads of topic delivered by n.
func subscribe(t testing.TB, s domain.Store, topic string) (<-chan string, func()) {
	t.Helper()
	n, ok := s.(domain.Notifier)
	if !ok {
		t.Fatalf("%T does not implement domain.Notifier", s)
	}
	ch := make(chan string, 100)
	cancel := n.Subscribe(topic, func(p string) {
		if p != "" { // a resync: nothing to check here
			ch <- p
		}
	})
	t.Cleanup(cancel)
	return ch, cancel
}

// warmUp commits "ping" on topic until one reaches ch: the subscription
// is then in effect (PostgreSQL's LISTEN starts after Subscribe returns).
func warmUp(t testing.TB, s domain.Store, topic string, ch <-chan string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		update(t, s, func(ctx context.Context, tx domain.Tx) error { return tx.Notify(ctx, topic, "ping") })
		select {
		case <-ch:
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
	t.Fatalf("no notification on %s reached the subscriber", topic)
}

// nextNote returns the next payload on ch within wait, skipping the
// warm-up's pings (some may arrive after the first).
func nextNote(ch <-chan string, wait time.Duration) (string, bool) {
	timeout := time.After(wait)
	for {
		select {
		case p := <-ch:
			if p != "ping" {
				return p, true
			}
		case <-timeout:
			return "", false
		}
	}
}

func expectNote(t testing.TB, ch <-chan string, want string) {
	t.Helper()
	if got, ok := nextNote(ch, 10*time.Second); !ok {
		t.Errorf("notification %q never came", want)
	} else if got != want {
		t.Errorf("notification %q, want %q", got, want)
	}
}

func testNotify(t *testing.T, s domain.Store) {
	seed(t, s)
	testNotifyAcross(t, s, s)
}

// testNotifyFromSubscribe commits a notification through from right after
// Subscribe on to returned, before a LISTEN connection can have started:
// the subscriber gets it, or "" once the subscription is in effect (then
// it reads the store again), never neither.
func testNotifyFromSubscribe(t *testing.T, from, to domain.Store) {
	got := make(chan string, 16)
	cancel := to.(domain.Notifier).Subscribe("parley_first", func(p string) {
		select {
		case got <- p:
		default:
		}
	})
	t.Cleanup(cancel)
	update(t, from, func(ctx context.Context, tx domain.Tx) error { return tx.Notify(ctx, "parley_first", "first") })
	select {
	case <-got: // "first", or "": read again
	case <-time.After(10 * time.Second):
		t.Fatal("a notification committed right after Subscribe was neither delivered nor followed by a call with \"\"")
	}
}

// testNotifyAcross commits through from and listens on to.
func testNotifyAcross(t *testing.T, from, to domain.Store) {
	ch, _ := subscribe(t, to, "parley_test")
	other, _ := subscribe(t, to, "parley_other")
	warmUp(t, from, "parley_test", ch)
	warmUp(t, from, "parley_other", other)
	failed := errors.New("roll back")
	err := tryUpdate(from, func(ctx context.Context, tx domain.Tx) error {
		if err := tx.Notify(ctx, "parley_test", "rolled back"); err != nil {
			return err
		}
		return failed
	})
	if !errors.Is(err, failed) {
		t.Fatalf("Update = %v", err)
	}
	update(t, from, func(ctx context.Context, tx domain.Tx) error {
		for i := range 3 {
			if err := tx.Notify(ctx, "parley_test", fmt.Sprint("org_a conv_1 ", i+1)); err != nil {
				return err
			}
		}
		return tx.Notify(ctx, "parley_other", "other")
	})
	for i := range 3 {
		expectNote(t, ch, fmt.Sprint("org_a conv_1 ", i+1))
	}
	expectNote(t, other, "other")
	if p, ok := nextNote(ch, 100*time.Millisecond); ok {
		t.Errorf("unexpected notification %q (a rolled-back one?)", p)
	}
	if err := from.View(context.Background(), func(tx domain.Tx) error {
		return tx.Notify(context.Background(), "parley_test", "read-only")
	}); err == nil {
		t.Errorf("Notify in a read-only transaction succeeded")
	}
}

func testClaimRace(t *testing.T, stores []domain.Store) {
	a, _ := seed(t, stores[0])
	const messages = 60
	update(t, stores[0], func(ctx context.Context, tx domain.Tx) error {
		for i := range messages {
			if err := tx.EnqueueSMS(ctx, a.outbound(fmt.Sprintf("msg_%02d", i), minute(1))); err != nil {
				return err
			}
		}
		return nil
	})
	var mu sync.Mutex
	owner := map[domain.MessageID]string{}
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := stores[w%len(stores)]
			claim := fmt.Sprint("worker-", w)
			for range 20 {
				var got []domain.SMSOutbound
				err := tryUpdate(s, func(ctx context.Context, tx domain.Tx) error {
					var err error
					got, err = tx.ClaimSMS(ctx, minute(2), minute(3), claim, 3)
					return err
				})
				if err != nil {
					t.Errorf("ClaimSMS: %v", err)
					return
				}
				mu.Lock()
				for _, m := range got {
					if prev, dup := owner[m.MessageID]; dup {
						t.Errorf("%s claimed by %s and %s", m.MessageID, prev, claim)
					}
					owner[m.MessageID] = claim
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(owner) != messages {
		t.Errorf("%d of %d messages claimed", len(owner), messages)
	}
}
