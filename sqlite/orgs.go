package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/parleyhq/parley/domain"
)

const orgColumns = `id, name, license_token, created_at`

func scanOrg(s scanner) (domain.Organization, error) {
	var o domain.Organization
	var created int64
	err := s.Scan(&o.ID, &o.Name, &o.LicenseToken, &created)
	o.CreatedAt = fromMicros(created)
	return o, err
}

// CreateOrg stores org; a duplicate id is a conflict.
func (t *tx) CreateOrg(ctx context.Context, org domain.Organization) error {
	return t.insert(ctx, "create org",
		`INSERT INTO orgs (`+orgColumns+`) VALUES (?, ?, ?, ?)`,
		org.ID, org.Name, org.LicenseToken, micros(org.CreatedAt))
}

// GetOrg returns the org; CodeNotFound when missing.
func (t *tx) GetOrg(ctx context.Context, id domain.OrgID) (domain.Organization, error) {
	return get(ctx, t, "org", id, scanOrg,
		`SELECT `+orgColumns+` FROM orgs WHERE id = ?`, id)
}

// ListOrgs returns every org, oldest first.
func (t *tx) ListOrgs(ctx context.Context) ([]domain.Organization, error) {
	return list(ctx, t, "list orgs", scanOrg,
		`SELECT `+orgColumns+` FROM orgs ORDER BY created_at, id`)
}

// SetOrgLicense installs token; CodeNotFound when the org is missing.
func (t *tx) SetOrgLicense(ctx context.Context, id domain.OrgID, token string) error {
	return t.update(ctx, "org", id,
		`UPDATE orgs SET license_token = ? WHERE id = ?`, token, id)
}

const apiKeyColumns = `id, org_id, name, scope, prefix, hash, created_at, revoked_at`

func scanAPIKey(s scanner) (domain.APIKey, error) {
	var k domain.APIKey
	var created int64
	var revoked sql.NullInt64
	err := s.Scan(&k.ID, &k.OrgID, &k.Name, &k.Scope, &k.Prefix, &k.Hash, &created, &revoked)
	k.CreatedAt = fromMicros(created)
	k.RevokedAt = optMicros(revoked)
	return k, err
}

// CreateAPIKey stores key; a duplicate id or hash is a conflict.
func (t *tx) CreateAPIKey(ctx context.Context, key domain.APIKey) error {
	return t.insert(ctx, "create api key",
		`INSERT INTO api_keys (`+apiKeyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		key.ID, key.OrgID, key.Name, key.Scope, key.Prefix, key.Hash, micros(key.CreatedAt), nullMicros(key.RevokedAt))
}

// GetAPIKeyByHash finds a key of any org by the hash of its secret;
// CodeNotFound when none.
func (t *tx) GetAPIKeyByHash(ctx context.Context, hash []byte) (domain.APIKey, error) {
	return get(ctx, t, "api key", "with this hash", scanAPIKey,
		`SELECT `+apiKeyColumns+` FROM api_keys WHERE hash = ?`, hash)
}

// CheckAPIKey calls accept with the key of hash, read now.
func (t *tx) CheckAPIKey(ctx context.Context, hash []byte, accept func(domain.APIKey, error) error) error {
	return accept(t.GetAPIKeyByHash(ctx, hash))
}

// ListAPIKeys returns the org's keys, oldest first.
func (t *tx) ListAPIKeys(ctx context.Context, org domain.OrgID) ([]domain.APIKey, error) {
	return list(ctx, t, "list api keys", scanAPIKey,
		`SELECT `+apiKeyColumns+` FROM api_keys WHERE org_id = ? ORDER BY created_at, id`, org)
}

// RevokeAPIKey marks the key revoked at at; revoking again keeps the first
// time. CodeNotFound when the key is not in org.
func (t *tx) RevokeAPIKey(ctx context.Context, org domain.OrgID, id domain.APIKeyID, at time.Time) error {
	return t.update(ctx, "api key", id,
		`UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?) WHERE org_id = ? AND id = ?`,
		micros(at), org, id)
}
