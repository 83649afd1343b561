package service

import (
	"context"
	"strings"
	"sync"

	"github.com/parleyhq/parley/domain"
)

// keyCacheSize bounds the keys a process remembers; past it the cache
// forgets an arbitrary entry for each new one.
const keyCacheSize = 10_000

// keyCache remembers the keys this process authenticated (by the hash of
// their secret), so that a data operation can skip the separate key lookup
// and verify its key in its own transaction instead: see UnverifiedKey.
// Nothing is trusted from it alone.
type keyCache struct {
	mu   sync.Mutex
	keys map[string]domain.APIKey
}

func (c *keyCache) get(hash []byte) (domain.APIKey, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k, ok := c.keys[string(hash)]
	return k, ok
}

func (c *keyCache) put(k domain.APIKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.keys == nil {
		c.keys = make(map[string]domain.APIKey)
	}
	if _, ok := c.keys[string(k.Hash)]; !ok && len(c.keys) >= keyCacheSize {
		for h := range c.keys {
			delete(c.keys, h)
			break
		}
	}
	c.keys[string(k.Hash)] = k
}

func (c *keyCache) forget(hash []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.keys, string(hash))
}

// UnverifiedKey returns the key of secret as this process last
// authenticated it, without asking the store, and false when it has not
// (then call AuthenticateKey). The key may have been revoked since: act on
// it only through Run with RunRequest.VerifyKey set to secret, which checks
// it in the operation's own transaction.
func (s *Service) UnverifiedKey(secret string) (domain.APIKey, bool) {
	if !wellFormedSecret(secret) {
		return domain.APIKey{}, false
	}
	return s.keys.get(hashSecret(secret))
}

func wellFormedSecret(secret string) bool {
	return strings.HasPrefix(secret, apiKeyPrefix) && len(secret) <= 200
}

// errKeyRejected is the failure of a run whose key did not verify: the
// request is refused as if the key had been checked first, and nothing of
// it is recorded.
var errKeyRejected = domain.Errorf(domain.CodeUnauthorized, "invalid API key")

// verifyKey checks, in tx, that the key of secret exists in org and is not
// revoked. Errors: errKeyRejected.
func (s *Service) verifyKey(ctx context.Context, tx domain.Tx, org domain.OrgID, secret string) error {
	hash := hashSecret(secret)
	return tx.CheckAPIKey(ctx, hash, func(key domain.APIKey, err error) error {
		if keyRefused(key, err) || (err == nil && key.OrgID != org) {
			s.keys.forget(hash)
			return errKeyRejected
		}
		return err
	})
}

// keyRefused reports whether the lookup of a key (key, err) refuses it:
// unknown or revoked.
func keyRefused(key domain.APIKey, err error) bool {
	return domain.IsNotFound(err) || (err == nil && key.RevokedAt != nil)
}

// keyRejected reports whether the key of secret is refused now (unknown,
// revoked or of another org), asked in a transaction of its own: a run
// whose key was not verified in its transaction (it failed before or
// inside it) checks it so before its failure is answered and recorded. A
// lookup that fails otherwise (an unreachable database) is no rejection.
func (s *Service) keyRejected(ctx context.Context, org domain.OrgID, secret string) bool {
	key, err := s.AuthenticateKey(ctx, secret)
	return domain.ErrorCode(err) == domain.CodeUnauthorized || (err == nil && key.OrgID != org)
}
