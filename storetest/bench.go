package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/parleyhq/parley/dataset"
	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/service"
)

// Benchmarks shared by the backends: each compares the store path
// (service.Run: validation, licence check, the operation, its event and run
// record) with the backend's hand-written SQL doing the same reads and
// writing the same rows in one transaction. docs/PERFORMANCE.md records
// the results.

// RawUpdate moves the customer of conv to ident by hand.
type RawUpdate func(conv domain.ConversationID, ident string) error

// BenchUpdateCustomerIdentifier benchmarks update_customer_identifier:
// each iteration moves one of 1000 customers to an identifier nobody holds
// (close interval, open interval, set the customer, event, run record).
// The store uses the first 1000 customers of w, raw the next 1000.
func BenchUpdateCustomerIdentifier(b *testing.B, w *World, raw RawUpdate) {
	const customers = 1000
	convs := make([]service.Started, 2*customers)
	for i := range convs {
		convs[i] = w.Start(fmt.Sprintf("ext:bench-%d-0", i))
	}
	// target is the conversation and new identifier of the next iteration.
	// The counters outlive b.Run's probing runs, so every call really moves
	// a customer to an identifier it does not hold.
	next := map[int]int{}
	target := func(offset int) (domain.ConversationID, string) {
		n := next[offset]
		next[offset]++
		i := offset + n%customers
		return convs[i].Conversation.ID, fmt.Sprintf("ext:bench-%d-%d", i, (n/customers+1)%2)
	}
	b.Run("store", func(b *testing.B) {
		b.ReportAllocs()
		for n := 0; n < b.N; n++ {
			conv, ident := target(0)
			w.Clock.Advance(time.Millisecond)
			if res := w.Update(conv, ident); res.Value != true {
				b.Fatalf("update: %+v", res)
			}
		}
	})
	b.Run("raw", func(b *testing.B) {
		b.ReportAllocs()
		for n := 0; n < b.N; n++ {
			conv, ident := target(customers)
			w.Clock.Advance(time.Millisecond)
			if err := raw(conv, ident); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// PerCustomer is how many conversations each customer seeded for
// BenchFindConversations has.
const PerCustomer = 20

// FindSetup prepares a World whose org holds SeedPlan(w, customers)
// (seeded with the backend's Seed), and returns the backend's
// hand-written find on it.
type FindSetup func(b *testing.B, customers int) (*World, func(ident string) ([]string, error))

// BenchFindConversations benchmarks find_conversations_by_customer_identifier
// on databases of 10^4 and 10^6 conversations.
func BenchFindConversations(b *testing.B, setup FindSetup) {
	for _, total := range []int{10_000, 1_000_000} {
		b.Run(fmt.Sprintf("conversations=%d", total), func(b *testing.B) {
			customers := total / PerCustomer
			w, raw := setup(b, customers)
			plan := SeedPlan(w, customers)
			ident := func(n int) string { return plan.Identifier((n * 7919) % customers) }
			b.Run("store", func(b *testing.B) {
				b.ReportAllocs()
				for n := 0; n < b.N; n++ {
					if got := w.Find(ident(n), nil); len(got) != PerCustomer {
						b.Fatalf("found %d conversations, want %d", len(got), PerCustomer)
					}
				}
			})
			b.Run("raw", func(b *testing.B) {
				b.ReportAllocs()
				for n := 0; n < b.N; n++ {
					got, err := raw(ident(n))
					if err != nil || len(got) != PerCustomer {
						b.Fatalf("found %d conversations (%v), want %d", len(got), err, PerCustomer)
					}
				}
			})
		})
	}
}

// SeedPlan is the data set of the find benchmarks in w's org: customers
// customers with PerCustomer conversations each, on w's deployment and
// resource, starting at Epoch.
func SeedPlan(w *World, customers int) dataset.Plan {
	return dataset.Plan{
		Org: w.Org, Deployment: w.Deployment, Resource: w.Resource.ID, Tag: "bench",
		Customers: customers, Conversations: customers * PerCustomer, Start: Epoch,
	}
}
