package service

import (
	"context"

	"github.com/parleyhq/parley/domain"
)

// RoutedConversation returns the conversation that receives the inbound
// messages of destination on a resource (live or closed); found is false
// before the destination's first message. Errors: not_found (resource).
func (s *Service) RoutedConversation(ctx context.Context, org domain.OrgID, resource domain.ResourceID, destination string) (c domain.Conversation, found bool, err error) {
	// GetRoute locks the route, which needs a write transaction.
	err = s.update(ctx, org, func(tx domain.Tx) error {
		id, ok, err := tx.GetRoute(ctx, org, resource, destination)
		if err != nil || !ok {
			return err
		}
		c, err = tx.GetConversation(ctx, org, id)
		found = err == nil
		return err
	})
	return c, found, err
}
