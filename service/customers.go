package service

import (
	"context"

	"github.com/parleyhq/parley/domain"
)

// GetSession returns a session with its variables. Errors: not_found.
func (s *Service) GetSession(ctx context.Context, org domain.OrgID, id domain.SessionID) (ses domain.Session, err error) {
	err = s.view(ctx, func(tx domain.Tx) error {
		ses, err = tx.GetSession(ctx, org, id)
		return err
	})
	return ses, err
}

// GetCustomer returns a customer. Errors: not_found.
func (s *Service) GetCustomer(ctx context.Context, org domain.OrgID, id domain.CustomerID) (c domain.Customer, err error) {
	err = s.view(ctx, func(tx domain.Tx) error {
		c, err = tx.GetCustomer(ctx, org, id)
		return err
	})
	return c, err
}

// CustomerHistory returns every identifier interval of a customer, oldest
// first. Errors: not_found.
func (s *Service) CustomerHistory(ctx context.Context, org domain.OrgID, id domain.CustomerID) (ivs []domain.IdentifierInterval, err error) {
	err = s.view(ctx, func(tx domain.Tx) error {
		if _, err := tx.GetCustomer(ctx, org, id); err != nil {
			return err
		}
		ivs, err = tx.CustomerIntervals(ctx, org, id)
		return err
	})
	return ivs, err
}

// CustomerConversations returns a customer's conversation ids, newest first.
// Errors: not_found.
func (s *Service) CustomerConversations(ctx context.Context, org domain.OrgID, id domain.CustomerID) (ids []domain.ConversationID, err error) {
	err = s.view(ctx, func(tx domain.Tx) error {
		if _, err := tx.GetCustomer(ctx, org, id); err != nil {
			return err
		}
		ids, err = tx.CustomerConversationIDs(ctx, org, id)
		return err
	})
	return ids, err
}
