package bench

import (
	"context"
	"encoding/json"
	"time"

	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/examples"
	"github.com/parleyhq/parley/service"
)

// publishOverAPI publishes the example bot (examples/change-number) to
// production as a new app named name, through the API.
func publishOverAPI(ctx context.Context, c *client.Client, name string) (*client.App, *client.Deployment, error) {
	app, err := c.CreateApp(ctx, client.CreateAppRequest{Name: name})
	if err != nil {
		return nil, nil, err
	}
	v, err := c.CreateVersion(ctx, app.ID, client.CreateVersionRequest{Definition: json.RawMessage(examples.ChangeNumberJSON)})
	if err != nil {
		return nil, nil, err
	}
	dep, err := c.Publish(ctx, app.ID, client.PublishRequest{VersionID: v.ID, Environment: client.EnvProduction})
	return app, dep, err
}

// publishInProcess is publishOverAPI through the service.
func publishInProcess(ctx context.Context, svc *service.Service, org domain.OrgID, name string) (domain.App, domain.Deployment, error) {
	app, err := svc.CreateApp(ctx, org, name)
	if err != nil {
		return app, domain.Deployment{}, err
	}
	v, err := svc.CreateVersion(ctx, org, app.ID, examples.ChangeNumberJSON)
	if err != nil {
		return app, domain.Deployment{}, err
	}
	dep, err := svc.Publish(ctx, org, app.ID, v.ID, domain.EnvProduction)
	return app, dep, err
}

// callResults are one client's timed calls.
type callResults struct {
	latencies []time.Duration
	errors    int
	firstErr  error
}

// add records a call that started at t0 and ended with err.
func (r *callResults) add(t0 time.Time, err error) {
	if err != nil {
		r.errors++
		if r.firstErr == nil {
			r.firstErr = err
		}
		return
	}
	r.latencies = append(r.latencies, time.Since(t0))
}
