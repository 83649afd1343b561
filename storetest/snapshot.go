package storetest

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/parleyhq/parley/domain"
)

// Snapshot is everything an org owns, read through the store: rows and
// contents. Operation runs are counted separately (a failed run is logged).
type Snapshot struct {
	Org           domain.Organization
	Apps          []domain.App
	Versions      [][]domain.AppVersion
	Deployments   [][]domain.Deployment
	Resources     []domain.ChannelResource
	Conversations []domain.Conversation
	Customers     []domain.Customer
	Intervals     [][]domain.IdentifierInterval
	Sessions      []domain.Session
	Messages      [][]domain.Message
	Events        []domain.Event
	Runs          []domain.OperationRun
}

// snapshotLimit is larger than anything a suite creates.
const snapshotLimit = 100000

// FeedSettler is a store whose event feed (ListEvents) may lag behind
// commits: PostgreSQL lists an event once every older writing transaction
// of the server has ended (domain.Tx.ListEvents).
type FeedSettler interface {
	// SettleFeed returns once the feed lists every event committed before
	// the call.
	SettleFeed(ctx context.Context) error
}

// SettleFeed waits until store's feed lists everything committed so far.
func SettleFeed(t testing.TB, store domain.Store) {
	t.Helper()
	if s, ok := store.(FeedSettler); ok {
		must(t, s.SettleFeed(context.Background()))
	}
}

// SettledEvents lists org's events after after (at most limit) once the
// feed has settled. The feed may hold events back for longer than
// SettleFeed waits (it errs on the side of waiting when it cannot tell
// whose a transaction was), so it reads until two settled reads agree.
func SettledEvents(t testing.TB, store domain.Store, org domain.OrgID, after int64, limit int) []domain.Event {
	t.Helper()
	list := func() []domain.Event {
		SettleFeed(t, store)
		var events []domain.Event
		must(t, store.View(context.Background(), func(tx domain.Tx) (err error) {
			events, err = tx.ListEvents(context.Background(), org, after, limit)
			return err
		}))
		return events
	}
	events := list()
	for range 10 {
		again := list()
		if reflect.DeepEqual(events, again) {
			break
		}
		events = again
	}
	return events
}

// TakeSnapshot reads org's whole state.
func TakeSnapshot(t testing.TB, store domain.Store, org domain.OrgID) Snapshot {
	t.Helper()
	var s Snapshot
	ctx := context.Background()
	err := store.View(ctx, func(tx domain.Tx) (err error) {
		if s.Org, err = tx.GetOrg(ctx, org); err != nil {
			return err
		}
		if s.Apps, err = tx.ListApps(ctx, org); err != nil {
			return err
		}
		for _, app := range s.Apps {
			vs, err := tx.ListVersions(ctx, org, app.ID)
			if err != nil {
				return err
			}
			ds, err := tx.ListDeployments(ctx, org, app.ID)
			if err != nil {
				return err
			}
			s.Versions, s.Deployments = append(s.Versions, vs), append(s.Deployments, ds)
		}
		if s.Resources, err = tx.ListResources(ctx, org); err != nil {
			return err
		}
		if s.Conversations, err = tx.ListConversations(ctx, org, domain.ConversationFilter{Limit: snapshotLimit}); err != nil {
			return err
		}
		if err := s.readConversations(ctx, tx, org); err != nil {
			return err
		}
		s.Runs, err = tx.ListRuns(ctx, org, "", snapshotLimit)
		return err
	})
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	s.Events = SettledEvents(t, store, org, 0, snapshotLimit)
	return s
}

// readConversations reads the sessions, messages and customers (with their
// identifier history) of s.Conversations.
func (s *Snapshot) readConversations(ctx context.Context, tx domain.Tx, org domain.OrgID) error {
	seen := map[domain.CustomerID]bool{}
	for _, c := range s.Conversations {
		ses, err := tx.GetSession(ctx, org, c.SessionID)
		if err != nil {
			return err
		}
		ms, err := tx.ListMessages(ctx, org, c.ID, 0, 0)
		if err != nil {
			return err
		}
		s.Sessions, s.Messages = append(s.Sessions, ses), append(s.Messages, ms)
		if seen[c.CustomerID] {
			continue
		}
		seen[c.CustomerID] = true
		cu, err := tx.GetCustomer(ctx, org, c.CustomerID)
		if err != nil {
			return err
		}
		ivs, err := tx.CustomerIntervals(ctx, org, c.CustomerID)
		if err != nil {
			return err
		}
		s.Customers, s.Intervals = append(s.Customers, cu), append(s.Intervals, ivs)
	}
	return nil
}

// AssertUnchanged fails unless after holds the same rows and contents as
// before, ignoring operation runs.
func AssertUnchanged(t testing.TB, before, after Snapshot) {
	t.Helper()
	before.Runs, after.Runs = nil, nil
	// A failed run is logged with its run.failed event.
	before.Events, after.Events = withoutRunFailures(before.Events), withoutRunFailures(after.Events)
	b, a := mustJSON(t, before), mustJSON(t, after)
	if b == a {
		return
	}
	bl, al := strings.Split(b, "\n"), strings.Split(a, "\n")
	for i := 0; i < len(bl) && i < len(al); i++ {
		if bl[i] != al[i] {
			t.Fatalf("store changed at line %d of the snapshot:\nbefore: %s\nafter:  %s", i+1, bl[i], al[i])
		}
	}
	t.Fatalf("store changed: snapshot had %d lines, now %d", len(bl), len(al))
}

// withoutRunFailures returns events without the run.failed ones.
func withoutRunFailures(events []domain.Event) []domain.Event {
	var out []domain.Event
	for _, e := range events {
		if e.Type != domain.EventRunFailed {
			out = append(out, e)
		}
	}
	return out
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
