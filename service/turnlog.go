package service

import (
	"context"

	"github.com/parleyhq/parley/domain"
)

// ListTurns returns a conversation's bot turns numbered above after,
// oldest first, at most limit, with their traces.
// Errors: conversation_not_found, invalid_argument (limit, after).
func (s *Service) ListTurns(ctx context.Context, org domain.OrgID, id domain.ConversationID, after int64, limit int) (ts []domain.Turn, err error) {
	if limit <= 0 || limit > MaxPageSize {
		return nil, invalidf("limit must be between 1 and %d", MaxPageSize)
	}
	if after < 0 {
		return nil, invalidf("after must be a turn number (0 or more)")
	}
	err = s.view(ctx, func(tx domain.Tx) error {
		if _, err := getConversation(ctx, tx, org, id); err != nil {
			return err
		}
		ts, err = tx.ListTurns(ctx, org, id, after, limit)
		return err
	})
	return ts, err
}

// GetTurn returns a bot turn with its trace. Errors: not_found.
func (s *Service) GetTurn(ctx context.Context, org domain.OrgID, id domain.TurnID) (t domain.Turn, err error) {
	if err := checkID("turnId", string(id)); err != nil {
		return t, err
	}
	err = s.view(ctx, func(tx domain.Tx) error {
		t, err = tx.GetTurn(ctx, org, id)
		return err
	})
	return t, err
}
