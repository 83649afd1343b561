package console

import (
	"net/http"

	"github.com/parleyhq/parley/domain"
)

type appRow struct {
	domain.App
	// Active are the app's active deployments.
	Active []deploymentRow
}

type deploymentRow struct {
	domain.Deployment
	VersionNumber int
}

// apps lists the org's apps with what is published where.
func (c *Console) apps(w http.ResponseWriter, r *http.Request, op *operator) error {
	apps, err := c.svc.ListApps(r.Context(), op.org.ID)
	if err != nil {
		return err
	}
	rows := make([]appRow, 0, len(apps))
	for _, app := range apps {
		deps, err := c.deploymentRows(r, op.org.ID, app.ID)
		if err != nil {
			return err
		}
		row := appRow{App: app}
		for _, d := range deps {
			if d.Active() {
				row.Active = append(row.Active, d)
			}
		}
		rows = append(rows, row)
	}
	return c.render(w, r, http.StatusOK, "apps", page{Title: "Apps", Nav: "apps", Op: op, Data: rows})
}

// deploymentRows returns an app's deployments, newest first, with their
// version numbers.
func (c *Console) deploymentRows(r *http.Request, org domain.OrgID, app domain.AppID) ([]deploymentRow, error) {
	deps, err := c.svc.ListDeployments(r.Context(), org, app)
	if err != nil {
		return nil, err
	}
	versions, err := c.svc.ListVersions(r.Context(), org, app)
	if err != nil {
		return nil, err
	}
	numbers := make(map[domain.VersionID]int, len(versions))
	for _, v := range versions {
		numbers[v.ID] = v.Number
	}
	rows := make([]deploymentRow, len(deps))
	for i, d := range deps {
		rows[i] = deploymentRow{Deployment: d, VersionNumber: numbers[d.VersionID]}
	}
	return rows, nil
}

type appView struct {
	App         domain.App
	Versions    []domain.AppVersion
	Deployments []deploymentRow
}

// app shows an app's versions (newest first, with their definitions) and
// every deployment.
func (c *Console) app(w http.ResponseWriter, r *http.Request, op *operator) error {
	id := domain.AppID(r.PathValue("appId"))
	var v appView
	var err error
	if v.App, err = c.svc.GetApp(r.Context(), op.org.ID, id); err != nil {
		return err
	}
	if v.Versions, err = c.svc.ListVersions(r.Context(), op.org.ID, id); err != nil {
		return err
	}
	for i, j := 0, len(v.Versions)-1; i < j; i, j = i+1, j-1 {
		v.Versions[i], v.Versions[j] = v.Versions[j], v.Versions[i]
	}
	if v.Deployments, err = c.deploymentRows(r, op.org.ID, id); err != nil {
		return err
	}
	return c.render(w, r, http.StatusOK, "app", page{Title: v.App.Name, Nav: "apps", Op: op, Data: v})
}
