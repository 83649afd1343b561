package service

import (
	"context"

	"github.com/parleyhq/parley/domain"
)

// ListEvents returns the org's events after seq, oldest first.
// Errors: invalid_argument (limit).
func (s *Service) ListEvents(ctx context.Context, org domain.OrgID, after int64, limit int) (es []domain.Event, err error) {
	if limit <= 0 || limit > MaxPageSize {
		return nil, invalidf("limit must be between 1 and %d", MaxPageSize)
	}
	err = s.view(ctx, func(tx domain.Tx) error {
		es, err = tx.ListEvents(ctx, org, after, limit)
		return err
	})
	return es, err
}

// ListRuns returns operation runs newest first, before a run id.
// Errors: invalid_argument (limit).
func (s *Service) ListRuns(ctx context.Context, org domain.OrgID, before domain.RunID, limit int) (rs []domain.OperationRun, err error) {
	if limit <= 0 || limit > MaxPageSize {
		return nil, invalidf("limit must be between 1 and %d", MaxPageSize)
	}
	err = s.view(ctx, func(tx domain.Tx) error {
		rs, err = tx.ListRuns(ctx, org, before, limit)
		return err
	})
	return rs, err
}

// GetRun returns one operation run. Errors: not_found.
func (s *Service) GetRun(ctx context.Context, org domain.OrgID, id domain.RunID) (r domain.OperationRun, err error) {
	err = s.view(ctx, func(tx domain.Tx) error {
		r, err = tx.GetRun(ctx, org, id)
		return err
	})
	return r, err
}
