// Package service is Parley's business logic: organizations, API keys and
// licences, apps and publishing, conversations, the conversation data
// operations and actions, run recording and events. It depends only on the
// domain interfaces, so every storage backend gets the same semantics.
package service

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/parleyhq/parley/bot"
	"github.com/parleyhq/parley/domain"
)

// Config wires a Service. Every field but Webhooks, Logger and RunLog is
// required.
type Config struct {
	Store       domain.Store
	Clock       domain.Clock
	IDs         domain.IDGenerator
	Licenses    domain.LicenseVerifier
	Identifiers domain.IdentifierNormalizer
	// Webhooks checks webhook URLs and makes their secrets; without it,
	// webhook endpoints cannot be created.
	Webhooks WebhookPolicy
	Logger   *slog.Logger
	// BotLimits bound each bot turn; zero fields take bot.DefaultLimits.
	BotLimits bot.Limits
	// RunLog receives the records of read-only runs and failed runs (see
	// Run). Nil records each one at once in a transaction of its own.
	RunLog RunLog
	// IdempotencyRetention is how long an Idempotency-Key is remembered
	// (DefaultIdempotencyRetention when zero); the retention worker
	// should delete records after the same time.
	IdempotencyRetention time.Duration
}

// RunLog writes run records off the request path (package runlog batches
// them). Record stores r with its events (run.failed for a failed run) in
// one transaction, later; it must not block for long and must not use ctx
// beyond the call: the request may be over when the record is written.
type RunLog interface {
	Record(ctx context.Context, r domain.OperationRun, events []domain.Event)
}

// Service implements Parley's operations on top of a domain.Store.
type Service struct {
	store       domain.Store
	clock       domain.Clock
	ids         domain.IDGenerator
	licenses    domain.LicenseVerifier
	identifiers domain.IdentifierNormalizer
	webhooks    WebhookPolicy
	log         *slog.Logger
	bots        *botCache

	runLog RunLog
	// idempotencyRetention is Config.IdempotencyRetention or its default.
	idempotencyRetention time.Duration

	// verified caches licence tokens whose signature checked out; tokens
	// are immutable, so only expiry and org are checked again per use.
	verified sync.Map // token string -> domain.License
	// orgLicenses caches each org's installed licence (licence.go).
	orgLicenses sync.Map // domain.OrgID -> cachedLicense
	// keys remembers authenticated keys for RunRequest.VerifyKey (keycache.go).
	keys keyCache
}

// New returns a Service.
func New(cfg Config) *Service {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	engine, err := bot.NewEngine(BotCatalogue(), cfg.BotLimits)
	if err != nil {
		// Only a defect of the expression environment can fail here.
		panic(err)
	}
	s := &Service{
		bots:        newBotCache(engine),
		store:       cfg.Store,
		clock:       cfg.Clock,
		ids:         cfg.IDs,
		licenses:    cfg.Licenses,
		identifiers: cfg.Identifiers,
		webhooks:    cfg.Webhooks,
		log:         logger,
		runLog:      cfg.RunLog,

		idempotencyRetention: cfg.IdempotencyRetention,
	}
	if s.idempotencyRetention <= 0 {
		s.idempotencyRetention = DefaultIdempotencyRetention
	}
	if s.runLog == nil {
		s.runLog = syncRunLog{store: cfg.Store, log: logger}
	}
	return s
}

// syncRunLog records each run at once, in a transaction of its own.
type syncRunLog struct {
	store domain.Store
	log   *slog.Logger
}

func (l syncRunLog) Record(ctx context.Context, r domain.OperationRun, events []domain.Event) {
	ctx = context.WithoutCancel(ctx)
	err := l.store.Update(ctx, func(tx domain.Tx) error {
		if err := tx.RecordRun(ctx, r); err != nil {
			return err
		}
		for _, e := range events {
			if err := tx.AppendEvent(ctx, e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		l.log.Error("recording a run", "org", r.OrgID, "operation", r.Name, "err", err)
	}
}

// now is the current time as stored: UTC, microsecond precision.
func (s *Service) now() time.Time {
	return s.clock.Now().UTC().Truncate(time.Microsecond)
}

// view runs a read-only transaction.
func (s *Service) view(ctx context.Context, fn func(domain.Tx) error) error {
	return s.store.View(ctx, fn)
}

// update runs a read-write transaction on org's rows
// (domain.Store.UpdateOrg). It takes no org-wide lock: fn locks what it
// reads and then changes (LockConversation, LockCustomer, LockKeys; see
// domain.Store, "Isolation"). When a bot turn in it fails in the store
// (not in the bot), fn runs again in a new transaction where turns record
// the failure instead of running: the customer's message is stored and the
// request does not fail because of the bot.
func (s *Service) update(ctx context.Context, org domain.OrgID, fn func(domain.Tx) error) error {
	err := s.store.UpdateOrg(ctx, org, fn)
	if tf, failed := errTurnFailure(err); failed {
		s.log.Error("bot turn failed in the store; storing the request without it", "org", org, "err", tf.cause)
		err = s.store.UpdateOrg(ctx, org, func(tx domain.Tx) error { return fn(botsOffTx{Tx: tx, cause: tf.cause}) })
	}
	return err
}

// laterOf returns the later of two instants.
func laterOf(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
