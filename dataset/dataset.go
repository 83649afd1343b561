// Package dataset describes a data set of realistic size for benchmarks:
// customers holding identifiers, with their identifier intervals and
// conversations (each with its session, and a route to each customer's
// newest one), all deterministic from a Plan. The backends write it in
// bulk (sqlite.DB.Seed, postgres.DB.Seed); the rows are the ones the
// service writes when a conversation starts under a new identifier, so
// the identifier invariants hold on seeded data.
package dataset

import (
	"errors"
	"fmt"
	"time"

	"github.com/parleyhq/parley/domain"
)

// Plan is one seeded data set in one org.
type Plan struct {
	Org domain.OrgID
	// Deployment is the active deployment the conversations run on.
	Deployment domain.Deployment
	// Resource is the web chat channel resource they came through.
	Resource domain.ResourceID
	// Tag makes ids, identifiers and destinations unique in a database
	// holding several seeded data sets: lowercase letters and digits.
	Tag string
	// Customers and Conversations are the sizes; every customer has at
	// least one conversation, so Conversations >= Customers.
	Customers, Conversations int
	// Start is when every customer got its identifier; conversation i
	// starts i+1 microseconds later, customers interleaved in time.
	Start time.Time
}

// Validate returns an error when the plan cannot be written.
func (p Plan) Validate() error {
	switch {
	case p.Org == "" || p.Deployment.ID == "" || p.Deployment.AppID == "" || p.Resource == "":
		return errors.New("dataset: org, deployment and resource are required")
	case p.Tag == "" || !isTag(p.Tag):
		return fmt.Errorf("dataset: tag %q must be lowercase letters and digits", p.Tag)
	case p.Customers <= 0 || p.Conversations < p.Customers:
		return fmt.Errorf("dataset: want at least one customer and one conversation per customer, got %d and %d", p.Customers, p.Conversations)
	}
	return nil
}

func isTag(s string) bool {
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

// Ids are zero-padded so that they sort in the order they are written:
// each primary key index grows at its end.

// CustomerID is customer c's id (0 <= c < Customers).
func (p Plan) CustomerID(c int) domain.CustomerID {
	return domain.CustomerID(fmt.Sprintf("cus_%s_%09d", p.Tag, c))
}

// Identifier is customer c's identifier, normalized.
func (p Plan) Identifier(c int) string {
	return fmt.Sprintf("mailto:c%d@%s.seed.example", c, p.Tag)
}

// Destination is customer c's web chat session, shared by its
// conversations.
func (p Plan) Destination(c int) string { return fmt.Sprintf("seed-%s-%d", p.Tag, c) }

// ConversationsOf is how many conversations customer c has.
func (p Plan) ConversationsOf(c int) int {
	n := p.Conversations / p.Customers
	if c < p.Conversations%p.Customers {
		n++
	}
	return n
}

// Customer returns the customer of conversation i and its rank k among
// that customer's conversations (0 the oldest).
func (p Plan) Customer(i int) (c, k int) { return i % p.Customers, i / p.Customers }

// ConversationID is conversation i's id (0 <= i < Conversations).
func (p Plan) ConversationID(i int) domain.ConversationID {
	return domain.ConversationID(fmt.Sprintf("conv_%s_%09d", p.Tag, i))
}

// Newest is the index of customer c's newest conversation.
func (p Plan) Newest(c int) int { return (p.ConversationsOf(c)-1)*p.Customers + c }

// StartedAt is when conversation i started.
func (p Plan) StartedAt(i int) time.Time { return p.Start.Add(time.Duration(i+1) * time.Microsecond) }

// End is when the newest conversation started.
func (p Plan) End() time.Time { return p.StartedAt(p.Conversations - 1) }

// Table is the rows of one table, generated on demand. Time values are
// time.Time and JSON values []byte; the backend converts them.
type Table struct {
	Name    string
	Columns []string
	Rows    int
	Row     func(i int) []any
}

// Tables returns the tables to write, in an order that satisfies the
// foreign keys.
func (p Plan) Tables() []Table {
	org, start := string(p.Org), p.Start.UTC()
	return []Table{
		{"customers", []string{"id", "org_id", "identifier", "identifier_since", "created_at"}, p.Customers,
			func(c int) []any { return []any{string(p.CustomerID(c)), org, p.Identifier(c), start, start} }},
		{"identifier_intervals", []string{"org_id", "customer_id", "identifier", "valid_from"}, p.Customers,
			func(c int) []any { return []any{org, string(p.CustomerID(c)), p.Identifier(c), start} }},
		{"conversations", []string{"id", "org_id", "deployment_id", "app_id", "resource_id", "customer_id", "session_id",
			"status", "customer_destination", "identifier_at_start", "started_at"}, p.Conversations, p.conversationRow},
		{"sessions", []string{"id", "org_id", "conversation_id", "variables", "updated_at"}, p.Conversations, p.sessionRow},
		{"conversation_routes", []string{"org_id", "resource_id", "destination", "conversation_id"}, p.Customers,
			func(c int) []any {
				return []any{org, string(p.Resource), p.Destination(c), string(p.ConversationID(p.Newest(c)))}
			}},
	}
}

// Rows is the number of rows Tables writes.
func (p Plan) Rows() int { return 3*p.Customers + 2*p.Conversations }

func (p Plan) sessionID(i int) string { return fmt.Sprintf("ses_%s_%09d", p.Tag, i) }

func (p Plan) conversationRow(i int) []any {
	c, _ := p.Customer(i)
	return []any{string(p.ConversationID(i)), string(p.Org), string(p.Deployment.ID), string(p.Deployment.AppID),
		string(p.Resource), string(p.CustomerID(c)), p.sessionID(i), string(domain.StatusLive), p.Destination(c),
		p.Identifier(c), p.StartedAt(i).UTC()}
}

// sessionRow is the session the service creates with a conversation: the
// channel variables naming the conversation and the destination.
func (p Plan) sessionRow(i int) []any {
	c, _ := p.Customer(i)
	variables := fmt.Sprintf(`{"channels":{"message":{"conversationId":%q,"identifier":%q}}}`, p.ConversationID(i), p.Destination(c))
	return []any{p.sessionID(i), string(p.Org), string(p.ConversationID(i)), []byte(variables), p.StartedAt(i).UTC()}
}
