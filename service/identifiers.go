package service

import (
	"context"
	"time"

	"github.com/parleyhq/parley/domain"
)

// updateIdentifier gives conversation id's customer the identifier ident
// (already normalized). Business outcomes: conversation_not_found,
// conversation_closed, identifier_taken (naming the holder). Thrown:
// not_deployed. Updating to the identifier already held changes nothing.
//
// Locks, in this order (the same in every transaction, so none deadlocks
// another): the customer, then the identifiers it gives up and takes.
// The customer lock orders the changes of one customer; the identifier
// locks order every transaction that reads who holds an identifier and
// acts on it: another update taking or releasing it, a conversation
// starting under it (customerFor), so the new interval starts after the
// previous holder's ended and after the customer's newest conversation.
func (s *Service) updateIdentifier(ctx context.Context, tx domain.Tx, org domain.OrgID, id domain.ConversationID, ident string) (bool, *domain.Error, error) {
	conv, err := getConversation(ctx, tx, org, id)
	if outcome, err := asOutcome(err); outcome != nil || err != nil {
		return false, outcome, err
	}
	if err := requireDeployed(conv); err != nil {
		return false, nil, err
	}
	if conv.Status == domain.StatusClosed {
		return false, closedError(conv.ID), nil
	}
	customer, err := tx.LockCustomer(ctx, org, conv.CustomerID)
	if err != nil {
		return false, nil, err
	}
	return s.changeIdentifier(ctx, tx, customer, ident, conv.ID)
}

// changeIdentifier gives customer the identifier ident (already
// normalized), for conversation conv ("" when an operator changed it).
// The caller holds the customer's lock (LockCustomer), taken before it
// read customer.
// Business outcome: identifier_taken (naming the holder). Updating to the
// identifier already held changes nothing.
func (s *Service) changeIdentifier(ctx context.Context, tx domain.Tx, customer domain.Customer, ident string, conv domain.ConversationID) (bool, *domain.Error, error) {
	org := customer.OrgID
	if customer.Identifier == ident {
		return true, nil, nil
	}
	keys := []string{domain.IdentifierKey(ident)}
	if customer.Identifier != "" {
		keys = append(keys, domain.IdentifierKey(customer.Identifier))
	}
	if err := tx.LockKeys(ctx, org, keys...); err != nil {
		return false, nil, err
	}
	latest, found, err := tx.LatestInterval(ctx, org, ident)
	if err != nil {
		return false, nil, err
	}
	if found && latest.ValidTo == nil {
		return false, takenError(ident, latest.CustomerID), nil
	}
	// Intervals of one identifier never overlap, and an interval never ends
	// before it starts, even if clocks of several servers disagree.
	at := s.now()
	if found {
		at = laterOf(at, *latest.ValidTo)
	}
	if customer.Identifier != "" {
		at = laterOf(at, customer.IdentifierSince)
		// Every conversation started under the old identifier must lie
		// inside its interval, which is half-open: the change comes after
		// the newest one. A start under the old identifier holds its lock,
		// so it committed before this read or waits for this commit.
		if at, err = s.afterNewestConversation(ctx, tx, org, customer.ID, at); err != nil {
			return false, nil, err
		}
		if err := tx.CloseInterval(ctx, org, customer.ID, customer.Identifier, at); err != nil {
			return false, nil, err
		}
	}
	if err := tx.OpenInterval(ctx, domain.IdentifierInterval{OrgID: org, CustomerID: customer.ID, Identifier: ident, ValidFrom: at}); err != nil {
		return false, nil, err
	}
	if err := tx.SetCustomerIdentifier(ctx, org, customer.ID, ident, at); err != nil {
		return false, nil, err
	}
	return true, nil, tx.AppendEvent(ctx, domain.Event{
		OrgID: org, Type: domain.EventCustomerIdentifierChanged, Subject: string(customer.ID), CreatedAt: at,
		Payload: map[string]any{
			"customerId": string(customer.ID), "previous": customer.Identifier,
			"identifier": ident, "conversationId": string(conv),
		},
	})
}

// afterNewestConversation returns at, moved after the start of customer's
// newest conversation when needed.
func (s *Service) afterNewestConversation(ctx context.Context, tx domain.Tx, org domain.OrgID, customer domain.CustomerID, at time.Time) (time.Time, error) {
	newest, err := tx.ListConversations(ctx, org, domain.ConversationFilter{CustomerID: customer, Limit: 1})
	if err != nil || len(newest) == 0 || at.After(newest[0].StartedAt) {
		return at, err
	}
	return newest[0].StartedAt.Add(time.Microsecond), nil
}

func takenError(ident string, holder domain.CustomerID) *domain.Error {
	return domain.Errorf(domain.CodeIdentifierTaken, "identifier %s is held by customer %s", ident, holder).
		WithDetail("holderCustomerId", string(holder)).WithDetail("customerIdentifier", ident)
}

// findConversations returns the conversation ids of the customer holding
// ident now (asOf nil) or at *asOf, newest first; empty when nobody does.
func (s *Service) findConversations(ctx context.Context, tx domain.Tx, org domain.OrgID, ident string, asOf *time.Time) ([]string, error) {
	ids, err := tx.HeldConversationIDs(ctx, org, ident, asOf)
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = string(id)
	}
	return out, err
}

// requireDeployed throws not_deployed for a preview run's conversation.
func requireDeployed(c domain.Conversation) error {
	if c.Deployed() {
		return nil
	}
	return domain.Errorf(domain.CodeNotDeployed,
		"conversation %s is a preview conversation (a run of version %s, not of a deployment); this works only in a conversation started on a deployment",
		c.ID, c.PreviewVersionID).WithDetail("conversationId", string(c.ID))
}

// asOutcome splits err into a business outcome and a thrown error.
func asOutcome(err error) (*domain.Error, error) {
	if err == nil {
		return nil, nil
	}
	if code := domain.ErrorCode(err); domain.IsBusinessOutcome(code) {
		return &domain.Error{Code: code, Message: domain.ErrorMessage(err), Details: domain.ErrorDetails(err)}, nil
	}
	return nil, err
}
