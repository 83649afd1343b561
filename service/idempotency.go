package service

import (
	"context"
	"time"

	"github.com/parleyhq/parley/domain"
)

// maxIdempotencyKeyLen bounds an Idempotency-Key header.
const maxIdempotencyKeyLen = 255

const (
	// idempotencyLease is how long a request may hold its key in progress;
	// after it, the request is taken for dead (a crashed server) and a
	// retry runs instead of answering conflict forever.
	idempotencyLease = 2 * time.Minute
	// idempotencyRetention is how long a key is remembered at all.
	idempotencyRetention = 24 * time.Hour
)

// Replay is a stored response to repeat for a retried request.
type Replay struct {
	Status int
	Body   []byte
}

// BeginIdempotent reserves key for a request whose method, path and body
// hash to requestHash. It returns a Replay when the same request already
// completed; nil when the caller should run the request and then call
// FinishIdempotent or AbandonIdempotent. A key older than 24 hours is
// forgotten, and one still in progress after a 2-minute lease (its server
// died) is taken over. Errors: invalid_argument (key), conflict (the key
// was used for a different request, or the first request is still
// running).
func (s *Service) BeginIdempotent(ctx context.Context, org domain.OrgID, key, requestHash string) (*Replay, error) {
	if len(key) > maxIdempotencyKeyLen {
		return nil, invalidf("Idempotency-Key is longer than %d characters", maxIdempotencyKeyLen)
	}
	if err := checkText("Idempotency-Key", key, maxIdempotencyKeyLen, false); err != nil {
		return nil, err
	}
	var replay *Replay
	err := s.update(ctx, org, func(tx domain.Tx) error {
		replay = nil
		now := s.now()
		rec, found, err := tx.GetIdempotency(ctx, org, key)
		if err != nil {
			return err
		}
		if found && (now.Sub(rec.CreatedAt) >= idempotencyRetention || (rec.Status == 0 && now.Sub(rec.CreatedAt) >= idempotencyLease)) {
			if err := tx.DeleteIdempotency(ctx, org, key); err != nil {
				return err
			}
			found = false
		}
		if !found {
			return tx.PutIdempotency(ctx, domain.IdempotencyRecord{OrgID: org, Key: key, RequestHash: requestHash, CreatedAt: now})
		}
		switch {
		case rec.RequestHash != requestHash:
			return domain.Errorf(domain.CodeConflict, "Idempotency-Key %q was already used for a different request", key)
		case rec.Status == 0:
			return domain.Errorf(domain.CodeConflict, "a request with Idempotency-Key %q is still in progress", key)
		}
		replay = &Replay{Status: rec.Status, Body: rec.Body}
		return nil
	})
	return replay, err
}

// FinishIdempotent stores the response of the request holding key.
func (s *Service) FinishIdempotent(ctx context.Context, org domain.OrgID, key string, status int, body []byte) error {
	return s.update(ctx, org, func(tx domain.Tx) error {
		return tx.CompleteIdempotency(ctx, org, key, status, body)
	})
}

// AbandonIdempotent releases key after a request failed in a way worth
// retrying (a server error), so a retry runs again.
func (s *Service) AbandonIdempotent(ctx context.Context, org domain.OrgID, key string) error {
	return s.update(ctx, org, func(tx domain.Tx) error {
		return tx.DeleteIdempotency(ctx, org, key)
	})
}
