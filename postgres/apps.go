package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/parleyhq/parley/domain"
)

const appColumns = `id, org_id, name, created_at`

func scanApp(row scanner) (domain.App, error) {
	var a domain.App
	err := row.Scan(&a.ID, &a.OrgID, &a.Name, &a.CreatedAt)
	a.CreatedAt = a.CreatedAt.UTC()
	return a, err
}

// CreateApp stores app.
func (t *tx) CreateApp(ctx context.Context, app domain.App) error {
	_, err := t.exec(ctx, `INSERT INTO apps (`+appColumns+`) VALUES ($1, $2, $3, $4)`,
		app.ID, app.OrgID, app.Name, app.CreatedAt)
	if err != nil {
		return fmt.Errorf("postgres: create app: %w", err)
	}
	return nil
}

// GetApp returns the app; CodeNotFound when it does not exist in org.
func (t *tx) GetApp(ctx context.Context, org domain.OrgID, id domain.AppID) (domain.App, error) {
	return get(ctx, t, "app", id, scanApp,
		`SELECT `+appColumns+` FROM apps WHERE org_id = $1 AND id = $2`, org, id)
}

// ListApps returns the org's apps, oldest first.
func (t *tx) ListApps(ctx context.Context, org domain.OrgID) ([]domain.App, error) {
	return collect(ctx, t, scanApp,
		`SELECT `+appColumns+` FROM apps WHERE org_id = $1 ORDER BY created_at, id`, org)
}

const versionColumns = `id, org_id, app_id, number, definition, created_at`

func scanVersion(row scanner) (domain.AppVersion, error) {
	var v domain.AppVersion
	var definition []byte
	err := row.Scan(&v.ID, &v.OrgID, &v.AppID, &v.Number, &definition, &v.CreatedAt)
	v.Definition = definition
	v.CreatedAt = v.CreatedAt.UTC()
	return v, err
}

// CreateVersion stores v; a duplicate number per app is a transient
// conflict.
func (t *tx) CreateVersion(ctx context.Context, v domain.AppVersion) error {
	definition := string(v.Definition)
	if definition == "" {
		definition = "null"
	}
	_, err := t.exec(ctx, `INSERT INTO app_versions (`+versionColumns+`) VALUES ($1, $2, $3, $4, $5, $6)`,
		v.ID, v.OrgID, v.AppID, v.Number, definition, v.CreatedAt)
	if err != nil {
		return fmt.Errorf("postgres: create version: %w", err)
	}
	return nil
}

// GetVersion returns the version; CodeNotFound when it does not exist in org.
func (t *tx) GetVersion(ctx context.Context, org domain.OrgID, id domain.VersionID) (domain.AppVersion, error) {
	return get(ctx, t, "version", id, scanVersion,
		`SELECT `+versionColumns+` FROM app_versions WHERE org_id = $1 AND id = $2`, org, id)
}

// ListVersions returns the app's versions by ascending number.
func (t *tx) ListVersions(ctx context.Context, org domain.OrgID, app domain.AppID) ([]domain.AppVersion, error) {
	return collect(ctx, t, scanVersion,
		`SELECT `+versionColumns+` FROM app_versions WHERE org_id = $1 AND app_id = $2 ORDER BY number`, org, app)
}

// LatestVersionNumber returns the app's highest version number, 0 if none.
func (t *tx) LatestVersionNumber(ctx context.Context, org domain.OrgID, app domain.AppID) (int, error) {
	var number int
	err := t.queryRow(ctx,
		`SELECT COALESCE(MAX(number), 0) FROM app_versions WHERE org_id = $1 AND app_id = $2`, org, app).Scan(&number)
	if err != nil {
		return 0, t.note(fmt.Errorf("postgres: latest version: %w", err))
	}
	return number, nil
}

const deploymentColumns = `id, org_id, app_id, version_id, environment, published_at, replaced_at`

func scanDeployment(row scanner) (domain.Deployment, error) {
	var d domain.Deployment
	err := row.Scan(&d.ID, &d.OrgID, &d.AppID, &d.VersionID, &d.Environment, &d.PublishedAt, &d.ReplacedAt)
	d.PublishedAt = d.PublishedAt.UTC()
	d.ReplacedAt = utcOrNil(d.ReplacedAt)
	return d, err
}

// CreateDeployment stores d; a second active deployment of the app in the
// environment is a transient conflict.
func (t *tx) CreateDeployment(ctx context.Context, d domain.Deployment) error {
	_, err := t.exec(ctx, `INSERT INTO deployments (`+deploymentColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		d.ID, d.OrgID, d.AppID, d.VersionID, d.Environment, d.PublishedAt, d.ReplacedAt)
	if err != nil {
		return fmt.Errorf("postgres: create deployment: %w", err)
	}
	return nil
}

// GetDeployment returns the deployment; CodeNotFound when it does not exist
// in org.
func (t *tx) GetDeployment(ctx context.Context, org domain.OrgID, id domain.DeploymentID) (domain.Deployment, error) {
	return get(ctx, t, "deployment", id, scanDeployment,
		`SELECT `+deploymentColumns+` FROM deployments WHERE org_id = $1 AND id = $2`, org, id)
}

// ActiveDeployment returns the active deployment of app in env;
// CodeNotFound when there is none.
func (t *tx) ActiveDeployment(ctx context.Context, org domain.OrgID, app domain.AppID, env domain.Environment) (domain.Deployment, error) {
	return get(ctx, t, "deployment", fmt.Sprintf("of app %s in %s", app, env), scanDeployment,
		`SELECT `+deploymentColumns+` FROM deployments
		 WHERE org_id = $1 AND app_id = $2 AND environment = $3 AND replaced_at IS NULL`, org, app, env)
}

// ReplaceDeployment marks the deployment replaced at at; replacing again
// keeps the first time. CodeNotFound when it does not exist in org.
func (t *tx) ReplaceDeployment(ctx context.Context, org domain.OrgID, id domain.DeploymentID, at time.Time) error {
	return t.execOne(ctx, "deployment", id,
		`UPDATE deployments SET replaced_at = COALESCE(replaced_at, $3) WHERE org_id = $1 AND id = $2`, org, id, at)
}

// ListDeployments returns the app's deployments, newest first.
func (t *tx) ListDeployments(ctx context.Context, org domain.OrgID, app domain.AppID) ([]domain.Deployment, error) {
	return collect(ctx, t, scanDeployment,
		`SELECT `+deploymentColumns+` FROM deployments WHERE org_id = $1 AND app_id = $2
		 ORDER BY published_at DESC, id DESC`, org, app)
}

const resourceColumns = `id, org_id, kind, name, address, deployment_id, app_id, environment, identify_by, created_at`

func scanResource(row scanner) (domain.ChannelResource, error) {
	var r domain.ChannelResource
	var deployment, app *string
	err := row.Scan(&r.ID, &r.OrgID, &r.Kind, &r.Name, &r.Address, &deployment, &app, &r.Environment, &r.IdentifyBy, &r.CreatedAt)
	if deployment != nil {
		r.DeploymentID = domain.DeploymentID(*deployment)
	}
	if app != nil {
		r.AppID = domain.AppID(*app)
	}
	r.CreatedAt = r.CreatedAt.UTC()
	return r, err
}

// CreateResource stores r.
func (t *tx) CreateResource(ctx context.Context, r domain.ChannelResource) error {
	_, err := t.exec(ctx, `INSERT INTO channel_resources (`+resourceColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		r.ID, r.OrgID, r.Kind, r.Name, r.Address, nullIfEmpty(r.DeploymentID), nullIfEmpty(r.AppID),
		r.Environment, r.IdentifyBy, r.CreatedAt)
	if err != nil {
		return fmt.Errorf("postgres: create resource: %w", err)
	}
	return nil
}

// GetResource returns the channel resource; CodeNotFound when it does not
// exist in org.
func (t *tx) GetResource(ctx context.Context, org domain.OrgID, id domain.ResourceID) (domain.ChannelResource, error) {
	return get(ctx, t, "resource", id, scanResource,
		`SELECT `+resourceColumns+` FROM channel_resources WHERE org_id = $1 AND id = $2`, org, id)
}

// ListResources returns the org's channel resources, oldest first.
func (t *tx) ListResources(ctx context.Context, org domain.OrgID) ([]domain.ChannelResource, error) {
	return collect(ctx, t, scanResource,
		`SELECT `+resourceColumns+` FROM channel_resources WHERE org_id = $1 ORDER BY created_at, id`, org)
}
