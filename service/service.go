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

// Config wires a Service. Every field but Webhooks and Logger is required.
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

	// verified caches licence tokens whose signature checked out; tokens
	// are immutable, so only expiry and org are checked again per use.
	verified sync.Map // token string -> domain.License
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
	return &Service{
		bots:        newBotCache(engine),
		store:       cfg.Store,
		clock:       cfg.Clock,
		ids:         cfg.IDs,
		licenses:    cfg.Licenses,
		identifiers: cfg.Identifiers,
		webhooks:    cfg.Webhooks,
		log:         logger,
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

// update runs a read-write transaction on org's rows, serialized with the
// other writers of org (domain.Store.UpdateOrg). When a bot turn in it
// fails in the store (not in the bot), fn runs again in a new transaction
// where turns record the failure instead of running: the customer's
// message is stored and the request does not fail because of the bot.
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
