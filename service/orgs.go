package service

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"time"

	"github.com/parleyhq/parley/domain"
)

// apiKeyPrefix starts every API key secret, so leaked keys are recognizable.
const apiKeyPrefix = "pk_"

// NewAPIKey is a freshly created key with its secret, shown once.
type NewAPIKey struct {
	Key    domain.APIKey
	Secret string
}

// CreateOrg creates an organization and its first API key.
// Errors: invalid_argument.
func (s *Service) CreateOrg(ctx context.Context, name string) (domain.Organization, NewAPIKey, error) {
	name, err := cleanName("name", name)
	if err != nil {
		return domain.Organization{}, NewAPIKey{}, err
	}
	org := domain.Organization{ID: domain.OrgID(s.ids.NewID("org")), Name: name, CreatedAt: s.now()}
	key, err := s.newAPIKey(org.ID, "default", domain.ScopeAdmin)
	if err != nil {
		return domain.Organization{}, NewAPIKey{}, err
	}
	err = s.update(ctx, org.ID, func(tx domain.Tx) error {
		if err := tx.CreateOrg(ctx, org); err != nil {
			return err
		}
		return tx.CreateAPIKey(ctx, key.Key)
	})
	return org, key, err
}

// GetOrg returns an organization. Errors: not_found.
func (s *Service) GetOrg(ctx context.Context, id domain.OrgID) (org domain.Organization, err error) {
	err = s.view(ctx, func(tx domain.Tx) error {
		org, err = tx.GetOrg(ctx, id)
		return err
	})
	return org, err
}

// ListOrgs returns every organization (an operator command).
func (s *Service) ListOrgs(ctx context.Context) (orgs []domain.Organization, err error) {
	err = s.view(ctx, func(tx domain.Tx) error {
		orgs, err = tx.ListOrgs(ctx)
		return err
	})
	return orgs, err
}

// CreateAPIKey creates a key for org with a scope ("" means admin); the
// secret is returned once. Errors: invalid_argument, not_found (org).
func (s *Service) CreateAPIKey(ctx context.Context, org domain.OrgID, name string, scope domain.Scope) (NewAPIKey, error) {
	name, err := cleanName("name", name)
	if err != nil {
		return NewAPIKey{}, err
	}
	if scope == "" {
		scope = domain.ScopeAdmin
	}
	if scope != domain.ScopeAdmin && scope != domain.ScopeRuntime {
		return NewAPIKey{}, invalidf("scope must be admin or runtime")
	}
	key, err := s.newAPIKey(org, name, scope)
	if err != nil {
		return NewAPIKey{}, err
	}
	err = s.update(ctx, org, func(tx domain.Tx) error {
		if _, err := tx.GetOrg(ctx, org); err != nil {
			return err
		}
		return tx.CreateAPIKey(ctx, key.Key)
	})
	return key, err
}

// ListAPIKeys returns the keys of org (hashes, never secrets).
func (s *Service) ListAPIKeys(ctx context.Context, org domain.OrgID) (keys []domain.APIKey, err error) {
	err = s.view(ctx, func(tx domain.Tx) error {
		keys, err = tx.ListAPIKeys(ctx, org)
		return err
	})
	return keys, err
}

// RevokeAPIKey revokes a key of org and ends the console sessions opened
// with it. Errors: not_found.
func (s *Service) RevokeAPIKey(ctx context.Context, org domain.OrgID, id domain.APIKeyID) error {
	return s.update(ctx, org, func(tx domain.Tx) error {
		if err := tx.RevokeAPIKey(ctx, org, id, s.now()); err != nil {
			return err
		}
		_, err := tx.DeleteConsoleSessionsOfKey(ctx, org, id)
		return err
	})
}

// Authenticate returns the org of an API key secret.
// Errors: unauthorized (unknown or revoked key).
func (s *Service) Authenticate(ctx context.Context, secret string) (domain.OrgID, error) {
	key, err := s.AuthenticateKey(ctx, secret)
	return key.OrgID, err
}

// AuthenticateKey returns the API key of a secret (its org and scope).
// Errors: unauthorized (unknown or revoked key).
func (s *Service) AuthenticateKey(ctx context.Context, secret string) (domain.APIKey, error) {
	if !wellFormedSecret(secret) {
		return domain.APIKey{}, domain.Errorf(domain.CodeUnauthorized, "invalid API key")
	}
	hash := hashSecret(secret)
	var key domain.APIKey
	err := s.view(ctx, func(tx domain.Tx) (err error) {
		key, err = tx.GetAPIKeyByHash(ctx, hash)
		return err
	})
	if keyRefused(key, err) {
		s.keys.forget(hash)
		return domain.APIKey{}, domain.Errorf(domain.CodeUnauthorized, "invalid API key")
	}
	if err == nil {
		s.keys.put(key)
	}
	return key, err
}

// Authorize checks that key may act where scope need is required.
// Errors: forbidden.
func Authorize(key domain.APIKey, need domain.Scope) error {
	if key.Scope.Allows(need) {
		return nil
	}
	return domain.Errorf(domain.CodeForbidden, "this API key has scope %s; the request needs an %s key", key.Scope, need)
}

func (s *Service) newAPIKey(org domain.OrgID, name string, scope domain.Scope) (NewAPIKey, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return NewAPIKey{}, err
	}
	secret := apiKeyPrefix + base64.RawURLEncoding.EncodeToString(raw)
	return NewAPIKey{
		Secret: secret,
		Key: domain.APIKey{
			ID:        domain.APIKeyID(s.ids.NewID("key")),
			OrgID:     org,
			Name:      name,
			Scope:     scope,
			Prefix:    secret[:len(apiKeyPrefix)+6],
			Hash:      hashSecret(secret),
			CreatedAt: s.now(),
		},
	}, nil
}

func hashSecret(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// InstallLicense verifies token and installs it as org's licence.
// Errors: license_required (empty, malformed or untrusted token, one for
// another org, expired), not_found.
func (s *Service) InstallLicense(ctx context.Context, org domain.OrgID, token string) (domain.License, error) {
	lic, err := s.checkToken(token, org)
	if err != nil {
		return domain.License{}, err
	}
	err = s.update(ctx, org, func(tx domain.Tx) error {
		return tx.SetOrgLicense(ctx, org, strings.TrimSpace(token))
	})
	s.orgLicenses.Delete(org)
	return lic, err
}

// checkToken verifies a licence token given to be installed for org. Its
// errors describe that token, not the licence installed now.
// Errors: license_required.
func (s *Service) checkToken(token string, org domain.OrgID) (domain.License, error) {
	if strings.TrimSpace(token) == "" {
		return domain.License{}, domain.Errorf(domain.CodeLicenseRequired, "the licence token is empty")
	}
	lic, err := s.verifyLicense(token)
	switch {
	case err != nil:
		return domain.License{}, err
	case lic.OrgID != org:
		return domain.License{}, domain.Errorf(domain.CodeLicenseRequired, "this licence token is for organization %s, not %s", lic.OrgID, org)
	case !s.now().Before(lic.ExpiresAt):
		return domain.License{}, domain.Errorf(domain.CodeLicenseRequired, "this licence token expired at %s", lic.ExpiresAt.UTC().Format(time.RFC3339))
	}
	return lic, nil
}

// OrgLicense returns org's installed licence, whether or not it is still
// valid. Errors: license_required (none installed, or unverifiable).
func (s *Service) OrgLicense(ctx context.Context, org domain.OrgID) (domain.License, error) {
	o, err := s.GetOrg(ctx, org)
	if err != nil {
		return domain.License{}, err
	}
	return s.verifyLicense(o.LicenseToken)
}

// requireEnterprise checks that org holds a valid ENTERPRISE licence (see
// currentLicense). tx is the caller's transaction, if any, so that a
// licence read from the store uses its connection; nil reads it in a
// snapshot of its own (the usual case: checked before the transaction).
// Errors: license_required, not_found, unavailable.
func (s *Service) requireEnterprise(ctx context.Context, tx domain.Tx, org domain.OrgID) error {
	lic, err := s.currentLicense(ctx, tx, org)
	if err != nil {
		return err
	}
	return checkLicense(lic, org, s.now(), domain.PlanEnterprise)
}

// licenseFreshness is how long a licence read from the store is trusted
// before it is read again. An install through this process takes effect
// at once; one made by another server process or by the admin command
// takes effect within this time everywhere. Expiry is checked against the
// clock on every use.
const licenseFreshness = time.Second

// cachedLicense is an org's verified licence and when it was read.
type cachedLicense struct {
	lic    domain.License
	readAt time.Time // wall clock (time.Now): a cache age, not business time
}

// currentLicense returns org's installed licence, verified, from a
// per-org cache fresher than licenseFreshness, or read from the store (one
// indexed read in a snapshot, outside any write transaction). Only valid
// tokens are cached. Errors: license_required, not_found, unavailable.
func (s *Service) currentLicense(ctx context.Context, tx domain.Tx, org domain.OrgID) (domain.License, error) {
	if v, ok := s.orgLicenses.Load(org); ok {
		if c := v.(cachedLicense); time.Since(c.readAt) < licenseFreshness {
			return c.lic, nil
		}
	}
	readAt := time.Now()
	var o domain.Organization
	var err error
	if tx != nil {
		o, err = tx.GetOrg(ctx, org)
	} else {
		o, err = s.GetOrg(ctx, org)
	}
	if err != nil {
		return domain.License{}, err
	}
	lic, err := s.verifyLicense(o.LicenseToken)
	if err != nil {
		s.orgLicenses.Delete(org)
		return domain.License{}, err
	}
	s.orgLicenses.Store(org, cachedLicense{lic: lic, readAt: readAt})
	return lic, nil
}

func (s *Service) verifyLicense(token string) (domain.License, error) {
	token = strings.TrimSpace(token)
	if token == "" {
		return domain.License{}, domain.Errorf(domain.CodeLicenseRequired, "no licence is installed for this organization")
	}
	if lic, ok := s.verified.Load(token); ok {
		return lic.(domain.License), nil
	}
	lic, err := s.licenses.Verify(token)
	if err != nil {
		return domain.License{}, err
	}
	s.verified.Store(token, lic)
	return lic, nil
}

// checkLicense applies org, expiry and plan to a verified licence.
// Errors: license_required, saying which check failed.
func checkLicense(lic domain.License, org domain.OrgID, now time.Time, need domain.Plan) error {
	switch {
	case lic.OrgID != org:
		return domain.Errorf(domain.CodeLicenseRequired, "the installed licence belongs to another organization")
	case !now.Before(lic.ExpiresAt):
		return domain.Errorf(domain.CodeLicenseRequired, "the licence expired at %s", lic.ExpiresAt.UTC().Format(time.RFC3339))
	case need == domain.PlanEnterprise && lic.Plan != domain.PlanEnterprise:
		return domain.Errorf(domain.CodeLicenseRequired, "this operation requires an ENTERPRISE licence; the organization has %s", lic.Plan)
	}
	return nil
}

// LicenseStatus returns org's installed licence and whether it unlocks the
// ENTERPRISE data operations and actions now; when it does not, reason is
// the license_required error saying why (expired, standard plan, other
// org). Errors: license_required (none installed, or unverifiable),
// not_found.
func (s *Service) LicenseStatus(ctx context.Context, org domain.OrgID) (lic domain.License, reason error, err error) {
	if lic, err = s.OrgLicense(ctx, org); err != nil {
		return domain.License{}, nil, err
	}
	return lic, checkLicense(lic, org, s.now(), domain.PlanEnterprise), nil
}
