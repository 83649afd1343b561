package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"

	"github.com/parleyhq/parley/domain"
)

const appColumns = `id, org_id, name, created_at`

func scanApp(s scanner) (domain.App, error) {
	var a domain.App
	var created int64
	err := s.Scan(&a.ID, &a.OrgID, &a.Name, &created)
	a.CreatedAt = fromMicros(created)
	return a, err
}

// CreateApp stores app; a duplicate id is a conflict.
func (t *tx) CreateApp(ctx context.Context, app domain.App) error {
	return t.insert(ctx, "create app",
		`INSERT INTO apps (`+appColumns+`) VALUES (?, ?, ?, ?)`,
		app.ID, app.OrgID, app.Name, micros(app.CreatedAt))
}

// GetApp returns the app; CodeNotFound when it is not in org.
func (t *tx) GetApp(ctx context.Context, org domain.OrgID, id domain.AppID) (domain.App, error) {
	return get(ctx, t, "app", id, scanApp,
		`SELECT `+appColumns+` FROM apps WHERE org_id = ? AND id = ?`, org, id)
}

// ListApps returns the org's apps, oldest first.
func (t *tx) ListApps(ctx context.Context, org domain.OrgID) ([]domain.App, error) {
	return list(ctx, t, "list apps", scanApp,
		`SELECT `+appColumns+` FROM apps WHERE org_id = ? ORDER BY created_at, id`, org)
}

const versionColumns = `id, org_id, app_id, number, definition, created_at`

func scanVersion(s scanner) (domain.AppVersion, error) {
	var v domain.AppVersion
	var definition string
	var created int64
	err := s.Scan(&v.ID, &v.OrgID, &v.AppID, &v.Number, &definition, &created)
	v.Definition = json.RawMessage(definition)
	v.CreatedAt = fromMicros(created)
	return v, err
}

// CreateVersion stores v; a duplicate id or (app, number) is a conflict.
func (t *tx) CreateVersion(ctx context.Context, v domain.AppVersion) error {
	return t.insert(ctx, "create version",
		`INSERT INTO app_versions (`+versionColumns+`) VALUES (?, ?, ?, ?, ?, ?)`,
		v.ID, v.OrgID, v.AppID, v.Number, string(v.Definition), micros(v.CreatedAt))
}

// GetVersion returns the version; CodeNotFound when it is not in org.
func (t *tx) GetVersion(ctx context.Context, org domain.OrgID, id domain.VersionID) (domain.AppVersion, error) {
	return get(ctx, t, "version", id, scanVersion,
		`SELECT `+versionColumns+` FROM app_versions WHERE org_id = ? AND id = ?`, org, id)
}

// ListVersions returns the versions of app, by number.
func (t *tx) ListVersions(ctx context.Context, org domain.OrgID, app domain.AppID) ([]domain.AppVersion, error) {
	return list(ctx, t, "list versions", scanVersion,
		`SELECT `+versionColumns+` FROM app_versions WHERE app_id = ? AND org_id = ? ORDER BY number`, app, org)
}

// LatestVersionNumber returns the highest version number of app, 0 if none.
func (t *tx) LatestVersionNumber(ctx context.Context, org domain.OrgID, app domain.AppID) (int, error) {
	n, _, err := lookup(ctx, t, func(s scanner) (int, error) {
		var n int
		return n, s.Scan(&n)
	}, `SELECT number FROM app_versions WHERE app_id = ? AND org_id = ? ORDER BY number DESC LIMIT 1`, app, org)
	if err != nil {
		return 0, wrap("latest version number", err)
	}
	return n, nil
}

const deploymentColumns = `id, org_id, app_id, version_id, environment, published_at, replaced_at`

func scanDeployment(s scanner) (domain.Deployment, error) {
	var d domain.Deployment
	var published int64
	var replaced sql.NullInt64
	err := s.Scan(&d.ID, &d.OrgID, &d.AppID, &d.VersionID, &d.Environment, &published, &replaced)
	d.PublishedAt = fromMicros(published)
	d.ReplacedAt = optMicros(replaced)
	return d, err
}

// CreateDeployment stores d; a second active deployment of (app,
// environment) is a conflict.
func (t *tx) CreateDeployment(ctx context.Context, d domain.Deployment) error {
	return t.insert(ctx, "create deployment",
		`INSERT INTO deployments (`+deploymentColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		d.ID, d.OrgID, d.AppID, d.VersionID, d.Environment, micros(d.PublishedAt), nullMicros(d.ReplacedAt))
}

// GetDeployment returns the deployment; CodeNotFound when it is not in org.
func (t *tx) GetDeployment(ctx context.Context, org domain.OrgID, id domain.DeploymentID) (domain.Deployment, error) {
	return get(ctx, t, "deployment", id, scanDeployment,
		`SELECT `+deploymentColumns+` FROM deployments WHERE org_id = ? AND id = ?`, org, id)
}

// ActiveDeployment returns the active deployment of app in env;
// CodeNotFound when there is none.
func (t *tx) ActiveDeployment(ctx context.Context, org domain.OrgID, app domain.AppID, env domain.Environment) (domain.Deployment, error) {
	return get(ctx, t, "deployment", "of app "+string(app)+" in "+string(env), scanDeployment,
		`SELECT `+deploymentColumns+` FROM deployments
		WHERE app_id = ? AND environment = ? AND replaced_at IS NULL AND org_id = ?`, app, env, org)
}

// ReplaceDeployment marks the deployment replaced at at; replacing again
// keeps the first time. CodeNotFound when it is not in org.
func (t *tx) ReplaceDeployment(ctx context.Context, org domain.OrgID, id domain.DeploymentID, at time.Time) error {
	return t.update(ctx, "deployment", id,
		`UPDATE deployments SET replaced_at = coalesce(replaced_at, ?) WHERE org_id = ? AND id = ?`,
		micros(at), org, id)
}

// ListDeployments returns the deployments of app, newest first.
func (t *tx) ListDeployments(ctx context.Context, org domain.OrgID, app domain.AppID) ([]domain.Deployment, error) {
	return list(ctx, t, "list deployments", scanDeployment,
		`SELECT `+deploymentColumns+` FROM deployments WHERE app_id = ? AND org_id = ?
		ORDER BY published_at DESC, id DESC`, app, org)
}

const resourceColumns = `id, org_id, kind, name, address, deployment_id, app_id, environment, identify_by, created_at`

func scanResource(s scanner) (domain.ChannelResource, error) {
	var r domain.ChannelResource
	var deployment, app sql.NullString
	var created int64
	err := s.Scan(&r.ID, &r.OrgID, &r.Kind, &r.Name, &r.Address, &deployment, &app, &r.Environment, &r.IdentifyBy, &created)
	r.DeploymentID, r.AppID = domain.DeploymentID(deployment.String), domain.AppID(app.String)
	r.CreatedAt = fromMicros(created)
	return r, err
}

// CreateResource stores r; a duplicate id is a conflict.
func (t *tx) CreateResource(ctx context.Context, r domain.ChannelResource) error {
	return t.insert(ctx, "create resource",
		`INSERT INTO channel_resources (`+resourceColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.OrgID, r.Kind, r.Name, r.Address, nullString(r.DeploymentID), nullString(r.AppID),
		r.Environment, r.IdentifyBy, micros(r.CreatedAt))
}

// GetResource returns the channel resource; CodeNotFound when it is not
// in org.
func (t *tx) GetResource(ctx context.Context, org domain.OrgID, id domain.ResourceID) (domain.ChannelResource, error) {
	return get(ctx, t, "resource", id, scanResource,
		`SELECT `+resourceColumns+` FROM channel_resources WHERE org_id = ? AND id = ?`, org, id)
}

// ListResources returns the org's channel resources, oldest first.
func (t *tx) ListResources(ctx context.Context, org domain.OrgID) ([]domain.ChannelResource, error) {
	return list(ctx, t, "list resources", scanResource,
		`SELECT `+resourceColumns+` FROM channel_resources WHERE org_id = ? ORDER BY created_at, id`, org)
}
