package service

import (
	"bytes"
	"context"
	"encoding/json"

	"github.com/parleyhq/parley/bot"
	"github.com/parleyhq/parley/domain"
)

// maxDefinitionBytes bounds a version's bot definition.
const maxDefinitionBytes = 1 << 20

// CreateApp creates a Conversation Chat Bot. Errors: invalid_argument.
func (s *Service) CreateApp(ctx context.Context, org domain.OrgID, name string) (domain.App, error) {
	name, err := cleanName("name", name)
	if err != nil {
		return domain.App{}, err
	}
	app := domain.App{ID: domain.AppID(s.ids.NewID("app")), OrgID: org, Name: name, CreatedAt: s.now()}
	return app, s.update(ctx, org, func(tx domain.Tx) error {
		if err := tx.CreateApp(ctx, app); err != nil {
			return err
		}
		return s.answer(ctx, tx, app)
	})
}

// GetApp returns an app. Errors: not_found.
func (s *Service) GetApp(ctx context.Context, org domain.OrgID, id domain.AppID) (app domain.App, err error) {
	err = s.view(ctx, func(tx domain.Tx) error {
		app, err = tx.GetApp(ctx, org, id)
		return err
	})
	return app, err
}

// ListApps returns the org's apps.
func (s *Service) ListApps(ctx context.Context, org domain.OrgID) (apps []domain.App, err error) {
	err = s.view(ctx, func(tx domain.Tx) error {
		apps, err = tx.ListApps(ctx, org)
		return err
	})
	return apps, err
}

// CreateVersion stores a new immutable version of app, numbered one past the
// latest. definition is a bot definition (docs/BOTS.md; empty means {}),
// checked before anything is stored.
// Errors: invalid_definition (with details.path), invalid_argument
// (too large), not_found (app).
func (s *Service) CreateVersion(ctx context.Context, org domain.OrgID, app domain.AppID, definition json.RawMessage) (domain.AppVersion, error) {
	def, err := s.checkDefinition(definition)
	if err != nil {
		return domain.AppVersion{}, err
	}
	var v domain.AppVersion
	err = s.update(ctx, org, func(tx domain.Tx) error {
		if _, err := tx.GetApp(ctx, org, app); err != nil {
			return err
		}
		latest, err := tx.LatestVersionNumber(ctx, org, app)
		if err != nil {
			return err
		}
		v = domain.AppVersion{
			ID: domain.VersionID(s.ids.NewID("ver")), OrgID: org, AppID: app,
			Number: latest + 1, Definition: def, CreatedAt: s.now(),
		}
		if err := tx.CreateVersion(ctx, v); err != nil {
			return err
		}
		return s.answer(ctx, tx, v)
	})
	return v, err
}

// checkDefinition checks a bot definition and returns it compacted.
func (s *Service) checkDefinition(definition json.RawMessage) (json.RawMessage, error) {
	definition = bytes.TrimSpace(definition)
	if len(definition) == 0 || string(definition) == "null" {
		return json.RawMessage(`{}`), nil
	}
	if len(definition) > maxDefinitionBytes {
		return nil, invalidf("definition is larger than %d bytes", maxDefinitionBytes)
	}
	if err := s.bots.check(definition); err != nil {
		return nil, err
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, definition); err != nil {
		return nil, bot.Invalid("", "the definition is not valid JSON")
	}
	return compact.Bytes(), nil
}

// GetVersion returns a version of app. Errors: not_found.
func (s *Service) GetVersion(ctx context.Context, org domain.OrgID, app domain.AppID, id domain.VersionID) (v domain.AppVersion, err error) {
	err = s.view(ctx, func(tx domain.Tx) error {
		v, err = tx.GetVersion(ctx, org, id)
		if err == nil && v.AppID != app {
			return domain.NotFound("version", id)
		}
		return err
	})
	return v, err
}

// ListVersions returns the versions of app. Errors: not_found (app).
func (s *Service) ListVersions(ctx context.Context, org domain.OrgID, app domain.AppID) (vs []domain.AppVersion, err error) {
	err = s.view(ctx, func(tx domain.Tx) error {
		if _, err := tx.GetApp(ctx, org, app); err != nil {
			return err
		}
		vs, err = tx.ListVersions(ctx, org, app)
		return err
	})
	return vs, err
}

// Publish deploys a version of app to env, replacing the deployment active
// there. Errors: invalid_argument (environment, version of another app),
// not_found (app or version).
func (s *Service) Publish(ctx context.Context, org domain.OrgID, app domain.AppID, version domain.VersionID, env domain.Environment) (domain.Deployment, error) {
	if !domain.ValidEnvironment(env) {
		return domain.Deployment{}, invalidf("environment must be development, qa or production")
	}
	if err := checkID("versionId", string(version)); err != nil {
		return domain.Deployment{}, err
	}
	var d domain.Deployment
	err := s.update(ctx, org, func(tx domain.Tx) error {
		if _, err := tx.GetApp(ctx, org, app); err != nil {
			return err
		}
		v, err := tx.GetVersion(ctx, org, version)
		if domain.IsNotFound(err) || (err == nil && v.AppID != app) {
			return invalidf("versionId %s is not a version of app %s", version, app)
		}
		if err != nil {
			return err
		}
		now := s.now()
		prev, err := tx.ActiveDeployment(ctx, org, app, env)
		switch {
		case err == nil:
			if err := tx.ReplaceDeployment(ctx, org, prev.ID, now); err != nil {
				return err
			}
		case !domain.IsNotFound(err):
			return err
		}
		d = domain.Deployment{
			ID: domain.DeploymentID(s.ids.NewID("dep")), OrgID: org, AppID: app,
			VersionID: version, Environment: env, PublishedAt: now,
		}
		if err := tx.CreateDeployment(ctx, d); err != nil {
			return err
		}
		err = tx.AppendEvent(ctx, domain.Event{
			OrgID: org, Type: domain.EventDeploymentPublished, Subject: string(d.ID), CreatedAt: now,
			Payload: map[string]any{"appId": string(app), "versionId": string(version), "environment": string(env), "replaced": string(prev.ID)},
		})
		if err != nil {
			return err
		}
		return s.answer(ctx, tx, d)
	})
	return d, err
}

// GetDeployment returns a deployment. Errors: not_found.
func (s *Service) GetDeployment(ctx context.Context, org domain.OrgID, id domain.DeploymentID) (d domain.Deployment, err error) {
	err = s.view(ctx, func(tx domain.Tx) error {
		d, err = tx.GetDeployment(ctx, org, id)
		return err
	})
	return d, err
}

// ListDeployments returns the deployments of app, newest first.
// Errors: not_found (app).
func (s *Service) ListDeployments(ctx context.Context, org domain.OrgID, app domain.AppID) (ds []domain.Deployment, err error) {
	err = s.view(ctx, func(tx domain.Tx) error {
		if _, err := tx.GetApp(ctx, org, app); err != nil {
			return err
		}
		ds, err = tx.ListDeployments(ctx, org, app)
		return err
	})
	return ds, err
}

// phoneNumber normalizes a phone number to E.164 with the tel: rules.
// Errors: invalid_argument.
func (s *Service) phoneNumber(field, v string) (string, error) {
	tel, err := s.identifiers.Normalize("tel:" + v)
	if err != nil {
		return "", invalidf("%s must be a phone number in international format: %s", field, domain.ErrorMessage(err))
	}
	return tel[len("tel:"):], nil
}
