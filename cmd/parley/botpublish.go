package main

import (
	"context"
	"fmt"
	"os"

	"github.com/parleyhq/parley/bot"
	"github.com/parleyhq/parley/domain"
)

// cmdBotPublish creates a version of an app from a definition file (YAML
// or JSON), checked as the API checks it, and publishes it.
func cmdBotPublish(ctx context.Context, c *cli, args []string) error {
	f := newFlagSet("bot publish", "Create a version of a bot from a definition file (YAML or JSON, docs/BOTS.md) and publish it;\n"+
		"prints PARLEY_APP=..., PARLEY_VERSION=... and PARLEY_DEPLOYMENT=... for eval.", c.getenv, c.stderr)
	af := addAdminFlags(f)
	org := f.String("org", "PARLEY_ORG", "", "organization id (required)")
	file := f.String("file", "", "", "the definition, YAML or JSON (required)")
	app := f.String("app", "", "", "the app to add the version to; empty: a new app named --name")
	name := f.String("name", "", "", "name of the new app (default: the file name)")
	env := f.String("environment", "", string(domain.EnvProduction), "where to publish: development, qa or production")
	prefix := addEnvPrefix(f)
	if err := f.parse(args); err != nil {
		return err
	}
	if err := f.required("org", *org, "file", *file); err != nil {
		return err
	}
	if err := f.oneOf("environment", *env, string(domain.EnvDevelopment), string(domain.EnvQA), string(domain.EnvProduction)); err != nil {
		return err
	}
	if err := checkEnvPrefix(*prefix); err != nil {
		return err
	}
	doc, err := os.ReadFile(*file)
	if err != nil {
		return err
	}
	definition, err := bot.ToJSON(doc)
	if err != nil {
		return fmt.Errorf("%s: %w", *file, err)
	}
	a, err := openAdmin(ctx, c, af)
	if err != nil {
		return err
	}
	defer a.Close()
	orgID, appID := domain.OrgID(*org), domain.AppID(*app)
	if appID == "" {
		if *name == "" {
			*name = *file
		}
		created, err := a.svc.CreateApp(ctx, orgID, *name)
		if err != nil {
			return err
		}
		appID = created.ID
	}
	v, err := a.svc.CreateVersion(ctx, orgID, appID, definition)
	if err != nil {
		return fmt.Errorf("%s: %w", *file, err)
	}
	d, err := a.svc.Publish(ctx, orgID, appID, v.ID, domain.Environment(*env))
	if err != nil {
		return err
	}
	printVars(c.stdout, *prefix, "APP", string(appID), "VERSION", string(v.ID), "DEPLOYMENT", string(d.ID))
	fmt.Fprintf(c.stderr, "# published version %d of app %s to %s (deployment %s)\n", v.Number, appID, d.Environment, d.ID)
	return nil
}
