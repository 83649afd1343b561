package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parleyhq/parley/domain"
)

const orgColumns = `id, name, license_token, created_at`

func scanOrg(row scanner) (domain.Organization, error) {
	var o domain.Organization
	err := row.Scan(&o.ID, &o.Name, &o.LicenseToken, &o.CreatedAt)
	o.CreatedAt = o.CreatedAt.UTC()
	return o, err
}

// CreateOrg stores org.
func (t *tx) CreateOrg(ctx context.Context, org domain.Organization) error {
	_, err := t.exec(ctx, `INSERT INTO orgs (`+orgColumns+`) VALUES ($1, $2, $3, $4)`,
		org.ID, org.Name, org.LicenseToken, org.CreatedAt)
	if err != nil {
		return fmt.Errorf("postgres: create org: %w", err)
	}
	return nil
}

// GetOrg returns the org; CodeNotFound when it does not exist.
func (t *tx) GetOrg(ctx context.Context, id domain.OrgID) (domain.Organization, error) {
	return get(ctx, t, "org", id, scanOrg, `SELECT `+orgColumns+` FROM orgs WHERE id = $1`, id)
}

// ListOrgs returns every org, oldest first.
func (t *tx) ListOrgs(ctx context.Context) ([]domain.Organization, error) {
	return collect(ctx, t, scanOrg, `SELECT `+orgColumns+` FROM orgs ORDER BY created_at, id`)
}

// SetOrgLicense installs a licence token ("" for none); CodeNotFound when
// the org does not exist.
func (t *tx) SetOrgLicense(ctx context.Context, id domain.OrgID, token string) error {
	return t.execOne(ctx, "org", id, `UPDATE orgs SET license_token = $2 WHERE id = $1`, id, token)
}

const apiKeyColumns = `id, org_id, name, scope, prefix, hash, created_at, revoked_at`

func scanAPIKey(row scanner) (domain.APIKey, error) {
	var k domain.APIKey
	err := row.Scan(&k.ID, &k.OrgID, &k.Name, &k.Scope, &k.Prefix, &k.Hash, &k.CreatedAt, &k.RevokedAt)
	k.CreatedAt = k.CreatedAt.UTC()
	k.RevokedAt = utcOrNil(k.RevokedAt)
	return k, err
}

// CreateAPIKey stores key; a duplicate hash is a transient conflict.
func (t *tx) CreateAPIKey(ctx context.Context, key domain.APIKey) error {
	_, err := t.exec(ctx, `INSERT INTO api_keys (`+apiKeyColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		key.ID, key.OrgID, key.Name, key.Scope, key.Prefix, key.Hash, key.CreatedAt, key.RevokedAt)
	if err != nil {
		return fmt.Errorf("postgres: create api key: %w", err)
	}
	return nil
}

// GetAPIKeyByHash finds a key in any org; CodeNotFound when none matches.
func (t *tx) GetAPIKeyByHash(ctx context.Context, hash []byte) (domain.APIKey, error) {
	return get(ctx, t, "api key", "with that hash", scanAPIKey,
		`SELECT `+apiKeyColumns+` FROM api_keys WHERE hash = $1`, hash)
}

// CheckAPIKey calls accept with the key of hash. In a View the read waits
// for the transaction's next statement (or its commit) and goes out in
// the same pipeline, saving a round trip: accept's error is returned by
// that statement. A read-write transaction reads the key now, since its
// COMMIT may go out in the pipeline that would carry the read.
func (t *tx) CheckAPIKey(ctx context.Context, hash []byte, accept func(domain.APIKey, error) error) error {
	if !t.readOnly {
		return accept(t.GetAPIKeyByHash(ctx, hash))
	}
	return t.laterRow(ctx, func(row pgx.Row) error {
		key, err := scanAPIKey(row)
		if errors.Is(err, pgx.ErrNoRows) {
			err = domain.NotFound("api key", "with that hash")
		}
		return accept(key, err)
	}, `SELECT `+apiKeyColumns+` FROM api_keys WHERE hash = $1`, hash)
}

// ListAPIKeys returns the org's keys, oldest first.
func (t *tx) ListAPIKeys(ctx context.Context, org domain.OrgID) ([]domain.APIKey, error) {
	return collect(ctx, t, scanAPIKey,
		`SELECT `+apiKeyColumns+` FROM api_keys WHERE org_id = $1 ORDER BY created_at, id`, org)
}

// RevokeAPIKey marks the key revoked at at; revoking again keeps the first
// time. CodeNotFound when the key does not exist in org.
func (t *tx) RevokeAPIKey(ctx context.Context, org domain.OrgID, id domain.APIKeyID, at time.Time) error {
	return t.execOne(ctx, "api key", id,
		`UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $3) WHERE org_id = $1 AND id = $2`, org, id, at)
}
