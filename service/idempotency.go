package service

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/parleyhq/parley/domain"
)

// Idempotency keys.
//
// A request carrying an Idempotency-Key first reserves the key
// (BeginIdempotent: a record "in progress" in a transaction of its own).
// Its response is then stored in the SAME transaction as the change it
// answers: the transport puts the claim in the request's context
// (WithIdempotency) with a Responder that renders a service result as the
// response, and every write method behind an idempotent route calls
// s.answer(ctx, tx, result) as the last step of its transaction. So a
// committed change always has its stored response, and a retry after a
// crash between the commit and the answer replays it instead of running
// the request again.
//
// To make a new route idempotent: mark it idempotent in the transport's
// route table (and give it a case in httpapi's idempotentRequests test
// table), register the responder before calling the service (httpapi
// answerWith, or answerWithStatus when the status depends on the result),
// and end the service method's final write transaction, on every path
// that succeeds, with "return s.answer(ctx, tx, result)", result being
// exactly the value the method returns and the responder renders. A path
// that changes nothing (a read-only run) stores it with answerAlone.
//
// Only successes are stored. An error means nothing changed, so the key is
// released (ReleaseIdempotent) and a retry, corrected or not, runs again.
// A key still in progress after the lease (its server died before the
// change committed, so nothing was applied) is taken over by the next
// retry; the request that held it, if it was only slow, then finds in its
// own transaction that the key is no longer its own and fails with
// conflict, so the request is never applied twice.

// maxIdempotencyKeyLen bounds an Idempotency-Key header.
const maxIdempotencyKeyLen = 255

const (
	// idempotencyLease is how long a request may hold its key in progress;
	// after it, the request is taken for dead (a crashed server) and a
	// retry runs instead of answering conflict forever.
	idempotencyLease = 2 * time.Minute
	// DefaultIdempotencyRetention is how long a key is remembered at all
	// unless Config.IdempotencyRetention says otherwise (the retention
	// worker deletes older records).
	DefaultIdempotencyRetention = 24 * time.Hour
)

// Replay is a stored response to repeat for a retried request.
type Replay struct {
	Status int
	Body   []byte
}

// Responder renders the result of a service write as the response stored
// for an Idempotency-Key: a success status (2xx) and its body. It runs
// inside the write's transaction, maybe more than once when the store
// retries the transaction, so it must depend on result alone.
type Responder func(result any) (status int, body []byte, err error)

// IdempotencyClaim is the reservation of an Idempotency-Key by one request,
// made by BeginIdempotent.
type IdempotencyClaim struct {
	org domain.OrgID
	key string
	// since is the CreatedAt of the reserved record: it tells this claim
	// from a later one that took the key over.
	since   time.Time
	respond Responder
	// stored holds the last Replay stored by a transaction of the request
	// (valid once the service call returned nil).
	stored atomic.Pointer[Replay]
}

// SetResponder sets how the request's result becomes its stored response.
// Call it before the service method that stores the response.
func (c *IdempotencyClaim) SetResponder(r Responder) { c.respond = r }

// Stored returns the response stored with the request's change, or nil
// when none was (an error, or a write that does not store responses).
// Read it after the service call returned without error.
func (c *IdempotencyClaim) Stored() *Replay { return c.stored.Load() }

type claimKey struct{}

// WithIdempotency returns ctx carrying claim, for the service write that
// stores the response.
func WithIdempotency(ctx context.Context, claim *IdempotencyClaim) context.Context {
	return context.WithValue(ctx, claimKey{}, claim)
}

// IdempotencyClaimOf returns the claim ctx carries, nil when none.
func IdempotencyClaimOf(ctx context.Context) *IdempotencyClaim {
	c, _ := ctx.Value(claimKey{}).(*IdempotencyClaim)
	return c
}

// BeginIdempotent reserves key for a request whose method, path and body
// hash to requestHash. It returns a Replay when the same request already
// completed; otherwise the claim under which the caller runs the request
// (WithIdempotency), calling ReleaseIdempotent if the request fails. A key
// older than 24 hours is forgotten, and one still in progress after a
// 2-minute lease (its server died before committing) is taken over.
// Errors: invalid_argument (key), conflict (the key was used for a
// different request, or the first request is still running).
func (s *Service) BeginIdempotent(ctx context.Context, org domain.OrgID, key, requestHash string) (*Replay, *IdempotencyClaim, error) {
	if len(key) > maxIdempotencyKeyLen {
		return nil, nil, invalidf("Idempotency-Key is longer than %d characters", maxIdempotencyKeyLen)
	}
	if err := checkText("Idempotency-Key", key, maxIdempotencyKeyLen, false); err != nil {
		return nil, nil, err
	}
	var (
		replay *Replay
		claim  *IdempotencyClaim
	)
	err := s.update(ctx, org, func(tx domain.Tx) error {
		replay, claim = nil, nil
		now := s.now()
		rec, found, err := tx.GetIdempotency(ctx, org, key)
		if err != nil {
			return err
		}
		if found && (now.Sub(rec.CreatedAt) >= s.idempotencyRetention || (rec.Status == 0 && now.Sub(rec.CreatedAt) >= idempotencyLease)) {
			if err := tx.DeleteIdempotency(ctx, org, key); err != nil {
				return err
			}
			found = false
		}
		if !found {
			claim = &IdempotencyClaim{org: org, key: key, since: now}
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
	if err != nil {
		return nil, nil, err
	}
	return replay, claim, nil
}

// answer stores result as the response of the request's Idempotency-Key,
// when ctx carries a claim, in tx: the transaction of the change result
// describes. Every write method behind an idempotent route returns it as
// the last step of its final transaction. Errors: conflict (the key was
// taken over by a retry after its lease), internal (no responder, or one
// that does not render a success).
func (s *Service) answer(ctx context.Context, tx domain.Tx, result any) error {
	c := IdempotencyClaimOf(ctx)
	if c == nil {
		return nil
	}
	if c.respond == nil {
		return fmt.Errorf("idempotency: the request holding key %q set no responder", c.key)
	}
	if err := c.mustOwn(ctx, tx); err != nil {
		return err
	}
	status, body, err := c.respond(result)
	if err != nil {
		return fmt.Errorf("idempotency: rendering the response: %w", err)
	}
	if status < 200 || status > 299 {
		return fmt.Errorf("idempotency: a responder rendered status %d; only successes are stored", status)
	}
	if err := tx.CompleteIdempotency(ctx, c.org, c.key, status, body); err != nil {
		return err
	}
	c.stored.Store(&Replay{Status: status, Body: body})
	return nil
}

// answerAlone is answer for a request that changed nothing (a read-only
// run): there is no change to store the response with, so it is stored in
// a transaction of its own, only when ctx carries a claim. A crash before
// it leaves the key in progress, and the retry after the lease runs the
// read again, which is harmless.
func (s *Service) answerAlone(ctx context.Context, org domain.OrgID, result any) error {
	if IdempotencyClaimOf(ctx) == nil {
		return nil
	}
	return s.update(ctx, org, func(tx domain.Tx) error { return s.answer(ctx, tx, result) })
}

// owns reports whether, in tx, the key is still this claim's and in
// progress.
func (c *IdempotencyClaim) owns(ctx context.Context, tx domain.Tx) (bool, error) {
	rec, found, err := tx.GetIdempotency(ctx, c.org, c.key)
	if err != nil {
		return false, err
	}
	return found && rec.Status == 0 && rec.CreatedAt.Equal(c.since), nil
}

// mustOwn is owns as an error. Errors: conflict.
func (c *IdempotencyClaim) mustOwn(ctx context.Context, tx domain.Tx) error {
	ok, err := c.owns(ctx, tx)
	if err != nil || ok {
		return err
	}
	return domain.Errorf(domain.CodeConflict,
		"Idempotency-Key %q was taken over by a retry after its %s lease ran out; this request was not applied", c.key, idempotencyLease)
}

// FinishIdempotent stores a success response for claim in a transaction of
// its own, for a write that did not store it with its change (a fallback:
// a crash before it leaves the key in progress). Errors: conflict (the key
// is no longer the claim's).
func (s *Service) FinishIdempotent(ctx context.Context, claim *IdempotencyClaim, status int, body []byte) error {
	return s.update(ctx, claim.org, func(tx domain.Tx) error {
		if err := claim.mustOwn(ctx, tx); err != nil {
			return err
		}
		return tx.CompleteIdempotency(ctx, claim.org, claim.key, status, body)
	})
}

// ReleaseIdempotent forgets claim's key after its request failed, so a
// retry runs again. A key that holds a stored response (a change whose
// commit was reported as failed but happened), or that another request
// took over, is left alone.
func (s *Service) ReleaseIdempotent(ctx context.Context, claim *IdempotencyClaim) error {
	return s.update(ctx, claim.org, func(tx domain.Tx) error {
		if ok, err := claim.owns(ctx, tx); !ok || err != nil {
			return err
		}
		return tx.DeleteIdempotency(ctx, claim.org, claim.key)
	})
}
