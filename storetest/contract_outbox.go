package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/parleyhq/parley/domain"
)

func testRuns(t *testing.T, newStore Factory) {
	s := newStore(t)
	a, b := seed(t, s)
	outputs := []any{
		true,
		[]any{"conv_2", "conv_1"},
		nil,
		map[string]any{"id": "conv_1", "messages": []any{map[string]any{"text": "hi"}}},
		false,
	}
	var runs []domain.OperationRun
	for i, out := range outputs {
		r := domain.OperationRun{
			ID:        domain.RunID(fmt.Sprintf("run_a%d", 9-i)), // ids do not sort in recording order
			OrgID:     a.Org.ID,
			Kind:      domain.KindDataOperation,
			Name:      "update_customer_identifier",
			SessionID: "ses_a1",
			Inputs:    map[string]any{"conversationId": "conv_1", "customerIdentifier": "tel:+15550100001", "n": float64(i)},
			Variable:  "customer-identifier",
			Output:    out,
			Duration:  1500*time.Microsecond + time.Duration(i)*time.Second,
			StartedAt: minute(20), // same start: order is recording order
		}
		runs = append(runs, r)
	}
	runs[2].Kind, runs[2].SessionID, runs[2].Inputs = domain.KindAction, "", nil
	runs[4].ErrorCode, runs[4].ErrorMessage = domain.CodeIdentifierTaken, "identifier is held by cus_9"
	runB := domain.OperationRun{ID: "run_b1", OrgID: b.Org.ID, Kind: domain.KindAction, Name: "close_conversation",
		Inputs: map[string]any{}, Variable: "conversation", Output: true, StartedAt: minute(21)}
	update(t, s, func(ctx context.Context, tx domain.Tx) error {
		for i, r := range runs {
			if err := tx.RecordRun(ctx, r); err != nil {
				return err
			}
			if i == 2 {
				if err := tx.RecordRun(ctx, runB); err != nil {
					return err
				}
			}
		}
		return nil
	})
	for _, r := range append(runs, runB) {
		equal(t, "GetRun "+string(r.ID), read(t, s, func(ctx context.Context, tx domain.Tx) (domain.OperationRun, error) {
			return tx.GetRun(ctx, r.OrgID, r.ID)
		}), r)
	}

	list := func(org domain.OrgID, before domain.RunID, limit int) []domain.RunID {
		got := read(t, s, func(ctx context.Context, tx domain.Tx) ([]domain.OperationRun, error) {
			return tx.ListRuns(ctx, org, before, limit)
		})
		ids := make([]domain.RunID, len(got))
		for i, r := range got {
			ids[i] = r.ID
		}
		return ids
	}
	newestFirst := []domain.RunID{"run_a5", "run_a6", "run_a7", "run_a8", "run_a9"}
	equal(t, "ListRuns all", list(a.Org.ID, "", 0), newestFirst)
	equal(t, "ListRuns limit", list(a.Org.ID, "", 2), newestFirst[:2])
	equal(t, "ListRuns before", list(a.Org.ID, "run_a6", 0), newestFirst[2:])
	equal(t, "ListRuns before with limit", list(a.Org.ID, "run_a6", 2), newestFirst[2:4])
	equal(t, "ListRuns before the oldest", list(a.Org.ID, "run_a9", 0), []domain.RunID{})
	equal(t, "ListRuns org b", list(b.Org.ID, "", 0), []domain.RunID{"run_b1"})

	wantNotFound(t, s, []notFoundCase{
		{"GetRun missing", func(ctx context.Context, tx domain.Tx) error { _, err := tx.GetRun(ctx, a.Org.ID, "run_x"); return err }},
		{"GetRun of another org", func(ctx context.Context, tx domain.Tx) error { _, err := tx.GetRun(ctx, a.Org.ID, runB.ID); return err }},
		{"ListRuns before an unknown run", func(ctx context.Context, tx domain.Tx) error {
			_, err := tx.ListRuns(ctx, a.Org.ID, "run_x", 0)
			return err
		}},
		{"ListRuns before a run of another org", func(ctx context.Context, tx domain.Tx) error {
			_, err := tx.ListRuns(ctx, a.Org.ID, runB.ID, 0)
			return err
		}},
	})
}

func testEvents(t *testing.T, newStore Factory) {
	s := newStore(t)
	a, b := seed(t, s)
	var wantA []domain.Event
	update(t, s, func(ctx context.Context, tx domain.Tx) error {
		for i := range 6 {
			org := a.Org.ID
			if i%3 == 2 {
				org = b.Org.ID
			}
			e := domain.Event{
				Seq:       1000, // ignored: the store assigns Seq
				OrgID:     org,
				Type:      domain.EventMessageReceived,
				Subject:   fmt.Sprintf("msg_%d", i),
				Payload:   map[string]any{"conversationId": "conv_1", "n": float64(i), "nested": map[string]any{"ok": true}},
				CreatedAt: minute(30 + i),
			}
			if org == a.Org.ID {
				wantA = append(wantA, e)
			}
			if err := tx.AppendEvent(ctx, e); err != nil {
				return err
			}
		}
		return nil
	})
	list := func(org domain.OrgID, after int64, limit int) []domain.Event {
		return SettledEvents(t, s, org, after, limit)
	}
	got := list(a.Org.ID, 0, 0)
	if len(got) != len(wantA) {
		t.Fatalf("ListEvents returned %d events, want %d: %+v", len(got), len(wantA), got)
	}
	for i := range got {
		if i > 0 && got[i].Seq <= got[i-1].Seq {
			t.Errorf("ListEvents: Seq %d after %d, want increasing", got[i].Seq, got[i-1].Seq)
		}
		if got[i].Seq <= 0 || got[i].Seq == 1000 {
			t.Errorf("ListEvents: event %d has Seq %d, want one assigned by the store", i, got[i].Seq)
		}
		want := wantA[i]
		want.Seq = got[i].Seq
		equal(t, "event "+want.Subject, got[i], want)
	}
	equal(t, "ListEvents after the second", list(a.Org.ID, got[1].Seq, 0), got[2:])
	equal(t, "ListEvents after with limit", list(a.Org.ID, got[0].Seq, 2), got[1:3])
	equal(t, "ListEvents limit", list(a.Org.ID, 0, 1), got[:1])
	equal(t, "ListEvents after the last", len(list(a.Org.ID, got[3].Seq, 0)), 0)
	subjects := func(events []domain.Event) []string {
		out := make([]string, len(events))
		for i, e := range events {
			out[i] = e.Subject
		}
		return out
	}
	equal(t, "ListEvents org b", subjects(list(b.Org.ID, 0, 0)), []string{"msg_2", "msg_5"})

	// A later event gets a larger Seq than every earlier one.
	update(t, s, func(ctx context.Context, tx domain.Tx) error {
		return tx.AppendEvent(ctx, domain.Event{OrgID: a.Org.ID, Type: domain.EventConversationClosed, Subject: "conv_1",
			Payload: map[string]any{}, CreatedAt: minute(40)})
	})
	later := list(a.Org.ID, got[3].Seq, 0)
	if len(later) != 1 || later[0].Subject != "conv_1" {
		t.Errorf("ListEvents after a later append = %+v, want the one new event", later)
	}
}

func testIdempotency(t *testing.T, newStore Factory) {
	s := newStore(t)
	a, b := seed(t, s)
	type result struct {
		Rec   domain.IdempotencyRecord
		Found bool
	}
	get := func(org domain.OrgID, key string) result {
		return read(t, s, func(ctx context.Context, tx domain.Tx) (result, error) {
			rec, found, err := tx.GetIdempotency(ctx, org, key)
			return result{rec, found}, err
		})
	}
	equal(t, "GetIdempotency before Put", get(a.Org.ID, "k1").Found, false)

	pending := domain.IdempotencyRecord{OrgID: a.Org.ID, Key: "k1", RequestHash: "sha256:abc", CreatedAt: minute(50)}
	update(t, s, func(ctx context.Context, tx domain.Tx) error { return tx.PutIdempotency(ctx, pending) })
	equal(t, "GetIdempotency in progress", get(a.Org.ID, "k1"), result{pending, true})
	equal(t, "GetIdempotency of another org's key", get(b.Org.ID, "k1").Found, false)

	body := []byte(`{"operation":"close_conversation","value":true}` + "\x00\xff")
	update(t, s, func(ctx context.Context, tx domain.Tx) error {
		return tx.CompleteIdempotency(ctx, a.Org.ID, "k1", 200, body)
	})
	done := pending
	done.Status, done.Body = 200, body
	equal(t, "GetIdempotency completed", get(a.Org.ID, "k1"), result{done, true})

	// The same key in org b is independent.
	bRec := domain.IdempotencyRecord{OrgID: b.Org.ID, Key: "k1", RequestHash: "sha256:def", Status: 201,
		Body: []byte("{}"), CreatedAt: minute(51)}
	update(t, s, func(ctx context.Context, tx domain.Tx) error { return tx.PutIdempotency(ctx, bRec) })
	equal(t, "org b's record of the same key", get(b.Org.ID, "k1"), result{bRec, true})

	wantNotFound(t, s, []notFoundCase{
		{"CompleteIdempotency missing", func(ctx context.Context, tx domain.Tx) error {
			return tx.CompleteIdempotency(ctx, a.Org.ID, "k2", 200, nil)
		}},
		{"CompleteIdempotency of another org", func(ctx context.Context, tx domain.Tx) error {
			return tx.CompleteIdempotency(ctx, "org_x", "k1", 500, nil)
		}},
	})

	update(t, s, func(ctx context.Context, tx domain.Tx) error {
		if err := tx.DeleteIdempotency(ctx, a.Org.ID, "k1"); err != nil {
			return err
		}
		return tx.DeleteIdempotency(ctx, a.Org.ID, "never-stored")
	})
	equal(t, "GetIdempotency after Delete", get(a.Org.ID, "k1").Found, false)
	equal(t, "org b's record after org a's delete", get(b.Org.ID, "k1"), result{bRec, true})
}
