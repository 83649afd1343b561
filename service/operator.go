package service

import (
	"context"
	"time"

	"github.com/parleyhq/parley/domain"
)

// SetCustomerIdentifier is an operator's change of a customer's identifier
// (the console's), with the rules of update_customer_identifier but no
// conversation: the input is normalized, updating to the identifier the
// customer holds changes nothing, and an identifier another customer holds
// is refused with identifier_taken naming the holder
// (details.holderCustomerId); nothing changes then. It needs an ENTERPRISE
// licence, as the data operation does.
// Errors: identifier_invalid, not_found (customer), license_required,
// identifier_taken.
func (s *Service) SetCustomerIdentifier(ctx context.Context, org domain.OrgID, id domain.CustomerID, input string) (c domain.Customer, err error) {
	ident, err := s.identifiers.Normalize(input)
	if err != nil {
		return c, err
	}
	if err := s.requireEnterprise(ctx, nil, org); err != nil {
		return c, err
	}
	err = s.update(ctx, org, func(tx domain.Tx) error {
		if c, err = tx.LockCustomer(ctx, org, id); err != nil {
			return err
		}
		_, outcome, err := s.changeIdentifier(ctx, tx, c, ident, "")
		if err != nil {
			return err
		}
		if outcome != nil {
			return outcome
		}
		c, err = tx.GetCustomer(ctx, org, id)
		return err
	})
	return c, err
}

// IdentifierHolding is who held an identifier at an instant.
type IdentifierHolding struct {
	// Identifier is the normalized identifier.
	Identifier string
	// Interval is the holder's interval covering the instant; valid only
	// when Found.
	Interval domain.IdentifierInterval
	Found    bool
}

// IdentifierHolder normalizes input as the API does and returns the
// customer holding it now (asOf nil) or at *asOf: the question
// find_conversations_by_customer_identifier answers, without a run.
// Errors: identifier_invalid.
func (s *Service) IdentifierHolder(ctx context.Context, org domain.OrgID, input string, asOf *time.Time) (h IdentifierHolding, err error) {
	if h.Identifier, err = s.identifiers.Normalize(input); err != nil {
		return h, err
	}
	err = s.view(ctx, func(tx domain.Tx) error {
		if asOf == nil {
			h.Interval, h.Found, err = tx.LatestInterval(ctx, org, h.Identifier)
			h.Found = h.Found && h.Interval.ValidTo == nil
		} else {
			h.Interval, h.Found, err = tx.IntervalAt(ctx, org, h.Identifier, *asOf)
		}
		return err
	})
	return h, err
}

// FindRuns returns one page of the run log, newest first, filtered by
// operation name, error code, failure or session.
// Errors: invalid_argument (limit, unknown cursor).
func (s *Service) FindRuns(ctx context.Context, org domain.OrgID, f domain.RunFilter) (rs []domain.OperationRun, err error) {
	if f.Limit <= 0 || f.Limit > MaxPageSize {
		return nil, invalidf("limit must be between 1 and %d", MaxPageSize)
	}
	err = s.view(ctx, func(tx domain.Tx) error {
		rs, err = tx.FindRuns(ctx, org, f)
		return err
	})
	if domain.IsNotFound(err) && f.Before != "" {
		return nil, invalidf("cursor does not name a run")
	}
	return rs, err
}
