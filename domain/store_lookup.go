package domain

import (
	"context"
	"time"
)

// LookupTx holds the Tx methods for the identifier timeline, the customers
// list and filtered event feeds.
type LookupTx interface {
	// IdentifierHolders returns the intervals in which f.Identifier was
	// held (its timeline: who held it when), oldest first: by ValidFrom,
	// then in the order they were opened; only those after the cursor, at
	// most f.Limit.
	IdentifierHolders(ctx context.Context, org OrgID, f HolderFilter) ([]HolderInterval, error)
	// ListCustomers returns the customers matching f, newest first
	// (CreatedAt descending, then id descending).
	ListCustomers(ctx context.Context, org OrgID, f CustomerFilter) ([]Customer, error)
	// FilterEvents returns the events with Seq > f.After that match f,
	// oldest first, at most f.Limit, with ListEvents' guarantee: it never
	// skips an event that commits later. An event is about the customer and the
	// conversation named by its payload's "customerId" and "conversationId"
	// (a conversation.* event is also about its Subject).
	FilterEvents(ctx context.Context, org OrgID, f EventFilter) ([]Event, error)
}

// HolderInterval is an interval of an identifier's timeline.
type HolderInterval struct {
	IdentifierInterval
	// Position is assigned by the store, increasing in the order intervals
	// are opened; with ValidFrom it is the timeline's keyset cursor.
	Position int64
}

// HolderFilter selects a page of an identifier's timeline.
type HolderFilter struct {
	Identifier string // the normalized identifier; required
	// After is a keyset cursor: only intervals strictly after
	// (AfterValidFrom, AfterPosition) are returned. A zero AfterPosition
	// starts at the beginning.
	AfterValidFrom time.Time
	AfterPosition  int64
	Limit          int // required, > 0
}

// CustomerFilter selects customers for ListCustomers. Zero fields do not
// filter.
type CustomerFilter struct {
	// Identifier selects the customer currently holding it (normalized).
	Identifier string
	// Before is a keyset cursor: only customers strictly older than
	// (BeforeCreatedAt, BeforeID) are returned.
	BeforeCreatedAt time.Time
	BeforeID        CustomerID
	Limit           int // required, > 0
}

// EventFilter selects events for FilterEvents. Zero fields do not filter.
type EventFilter struct {
	After          int64    // only events with a larger Seq
	Types          []string // any of these types
	CustomerID     CustomerID
	ConversationID ConversationID
	Limit          int // required, > 0
}

// Filtered reports whether f selects anything narrower than the whole feed.
func (f EventFilter) Filtered() bool {
	return len(f.Types) > 0 || f.CustomerID != "" || f.ConversationID != ""
}
