package service

import (
	"context"

	"github.com/parleyhq/parley/domain"
)

// IdentifierHolders returns a page of an identifier's timeline: every
// interval in which a customer of org held it, oldest first, so "who held
// it at a given time" is read off at once. f.Identifier is normalized as
// everywhere; the page starts after f's cursor.
// Errors: identifier_invalid, invalid_argument (limit).
func (s *Service) IdentifierHolders(ctx context.Context, org domain.OrgID, f domain.HolderFilter) (ident string, hs []domain.HolderInterval, err error) {
	if err := checkLimit(f.Limit); err != nil {
		return "", nil, err
	}
	if f.Identifier, err = s.identifiers.Normalize(f.Identifier); err != nil {
		return "", nil, err
	}
	err = s.view(ctx, func(tx domain.Tx) error {
		hs, err = tx.IdentifierHolders(ctx, org, f)
		return err
	})
	return f.Identifier, hs, err
}

// ListCustomers returns a page of the org's customers, newest first; with
// f.Identifier (normalized here), the customer holding it now, if any.
// Errors: identifier_invalid, invalid_argument (limit).
func (s *Service) ListCustomers(ctx context.Context, org domain.OrgID, f domain.CustomerFilter) (cs []domain.Customer, err error) {
	if err := checkLimit(f.Limit); err != nil {
		return nil, err
	}
	if f.Identifier != "" {
		if f.Identifier, err = s.identifiers.Normalize(f.Identifier); err != nil {
			return nil, err
		}
	}
	err = s.view(ctx, func(tx domain.Tx) error {
		cs, err = tx.ListCustomers(ctx, org, f)
		return err
	})
	return cs, err
}

// FindEvents returns the org's events after f.After, oldest first,
// filtered by type (any of f.Types) and by what they are about: a customer
// (the customer's conversations included) or a conversation. A type no
// event has is not an error: new types come with new features.
// Errors: invalid_argument (limit, a malformed type or id).
func (s *Service) FindEvents(ctx context.Context, org domain.OrgID, f domain.EventFilter) (es []domain.Event, err error) {
	if err := checkLimit(f.Limit); err != nil {
		return nil, err
	}
	if len(f.Types) > maxEventTypes {
		return nil, invalidf("at most %d event types may be given", maxEventTypes)
	}
	for _, t := range f.Types {
		if len(t) > 100 || !eventTypePattern.MatchString(t) {
			return nil, invalidf("type %q is not an event type such as %q", printable(t, 100), domain.EventConversationStarted)
		}
	}
	for field, id := range map[string]string{"customerId": string(f.CustomerID), "conversationId": string(f.ConversationID)} {
		if id != "" {
			if err := checkID(field, id); err != nil {
				return nil, err
			}
		}
	}
	err = s.view(ctx, func(tx domain.Tx) error {
		if f.Filtered() {
			es, err = tx.FilterEvents(ctx, org, f)
		} else {
			es, err = tx.ListEvents(ctx, org, f.After, f.Limit)
		}
		return err
	})
	return es, err
}

// checkLimit checks a page size. Errors: invalid_argument.
func checkLimit(limit int) error {
	if limit <= 0 || limit > MaxPageSize {
		return invalidf("limit must be between 1 and %d", MaxPageSize)
	}
	return nil
}
