package service

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"time"

	"github.com/parleyhq/parley/domain"
)

// ConsoleSignIn is a new console session with its cookie token, which is
// given to the browser once and stored only as a hash.
type ConsoleSignIn struct {
	Session domain.ConsoleSession
	Token   string
}

// SignInConsole opens an operator console session with an admin API key
// secret, valid for ttl; sessions that have expired are deleted on the way.
// Errors: unauthorized (unknown or revoked key), forbidden (a runtime key),
// invalid_argument (ttl).
func (s *Service) SignInConsole(ctx context.Context, secret string, ttl time.Duration) (ConsoleSignIn, error) {
	if ttl <= 0 {
		return ConsoleSignIn{}, invalidf("the console session lifetime must be positive")
	}
	key, err := s.AuthenticateKey(ctx, secret)
	if err != nil {
		return ConsoleSignIn{}, err
	}
	if err := Authorize(key, domain.ScopeAdmin); err != nil {
		return ConsoleSignIn{}, domain.Errorf(domain.CodeForbidden,
			"this API key has scope %s; the console needs an admin key", key.Scope)
	}
	token, err := randomToken()
	if err != nil {
		return ConsoleSignIn{}, err
	}
	csrf, err := randomToken()
	if err != nil {
		return ConsoleSignIn{}, err
	}
	now := s.now()
	cs := domain.ConsoleSession{
		TokenHash: hashSecret(token), OrgID: key.OrgID, APIKeyID: key.ID,
		CSRFToken: csrf, CreatedAt: now, ExpiresAt: now.Add(ttl),
	}
	err = s.update(ctx, key.OrgID, func(tx domain.Tx) error {
		if _, err := tx.DeleteExpiredConsoleSessions(ctx, now); err != nil {
			return err
		}
		return tx.CreateConsoleSession(ctx, cs)
	})
	if err != nil {
		return ConsoleSignIn{}, err
	}
	return ConsoleSignIn{Session: cs, Token: token}, nil
}

// ConsoleSession returns the live session of a cookie token.
// Errors: unauthorized (unknown, signed out, expired, or its key revoked).
func (s *Service) ConsoleSession(ctx context.Context, token string) (cs domain.ConsoleSession, err error) {
	if token == "" || len(token) > 200 {
		return cs, consoleSignedOut()
	}
	err = s.view(ctx, func(tx domain.Tx) error {
		cs, err = tx.GetConsoleSession(ctx, hashSecret(token))
		return err
	})
	if domain.IsNotFound(err) || (err == nil && cs.Expired(s.now())) {
		return domain.ConsoleSession{}, consoleSignedOut()
	}
	return cs, err
}

// SignOutConsole ends the session of a cookie token (an unknown token is
// already signed out).
func (s *Service) SignOutConsole(ctx context.Context, token string) error {
	if token == "" || len(token) > 200 {
		return nil
	}
	return s.store.Update(ctx, func(tx domain.Tx) error {
		return tx.DeleteConsoleSession(ctx, hashSecret(token))
	})
}

func consoleSignedOut() error {
	return domain.Errorf(domain.CodeUnauthorized, "not signed in to the console, or the session ended")
}

// randomToken returns 256 random bits, URL-safe.
func randomToken() (string, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(raw), nil
}
