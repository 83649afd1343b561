package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/service"
)

// Apps, versions and deployments.

type createAppRequest struct {
	Name string `json:"name"`
}

func (s *server) createApp(w http.ResponseWriter, r *http.Request) error {
	var req createAppRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	answer := answerWith(r, http.StatusCreated, toApp)
	app, err := s.svc.CreateApp(r.Context(), orgOf(r), req.Name)
	if err != nil {
		return err
	}
	return answer(w, app)
}

func (s *server) listApps(w http.ResponseWriter, r *http.Request) error {
	apps, err := s.svc.ListApps(r.Context(), orgOf(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, mapItems(apps, toApp))
}

func (s *server) getApp(w http.ResponseWriter, r *http.Request) error {
	app, err := s.svc.GetApp(r.Context(), orgOf(r), appID(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toApp(app))
}

func appID(r *http.Request) domain.AppID { return domain.AppID(r.PathValue("appId")) }

type createVersionRequest struct {
	Definition json.RawMessage `json:"definition"`
}

func (s *server) createVersion(w http.ResponseWriter, r *http.Request) error {
	var req createVersionRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	answer := answerWith(r, http.StatusCreated, toVersion)
	v, err := s.svc.CreateVersion(r.Context(), orgOf(r), appID(r), req.Definition)
	if err != nil {
		return err
	}
	return answer(w, v)
}

func (s *server) listVersions(w http.ResponseWriter, r *http.Request) error {
	vs, err := s.svc.ListVersions(r.Context(), orgOf(r), appID(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, mapItems(vs, toVersion))
}

func (s *server) getVersion(w http.ResponseWriter, r *http.Request) error {
	v, err := s.svc.GetVersion(r.Context(), orgOf(r), appID(r), domain.VersionID(r.PathValue("versionId")))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toVersion(v))
}

type publishRequest struct {
	VersionID   string `json:"versionId"`
	Environment string `json:"environment"`
}

func (s *server) publish(w http.ResponseWriter, r *http.Request) error {
	var req publishRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	answer := answerWith(r, http.StatusCreated, toDeployment)
	d, err := s.svc.Publish(r.Context(), orgOf(r), appID(r), domain.VersionID(req.VersionID), domain.Environment(req.Environment))
	if err != nil {
		return err
	}
	return answer(w, d)
}

func (s *server) listDeployments(w http.ResponseWriter, r *http.Request) error {
	ds, err := s.svc.ListDeployments(r.Context(), orgOf(r), appID(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, mapItems(ds, toDeployment))
}

func (s *server) getDeployment(w http.ResponseWriter, r *http.Request) error {
	d, err := s.svc.GetDeployment(r.Context(), orgOf(r), domain.DeploymentID(r.PathValue("deploymentId")))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toDeployment(d))
}

// Channel resources.

type createResourceRequest struct {
	Kind         string `json:"kind"`
	Name         string `json:"name"`
	Address      string `json:"address"`
	DeploymentID string `json:"deploymentId"`
	AppID        string `json:"appId"`
	Environment  string `json:"environment"`
	IdentifyBy   string `json:"identifyBy"`
}

func (s *server) createResource(w http.ResponseWriter, r *http.Request) error {
	var req createResourceRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	answer := answerWith(r, http.StatusCreated, toResource)
	res, err := s.svc.CreateResource(r.Context(), orgOf(r), service.ResourceInput{
		Kind: domain.ResourceKind(req.Kind), Name: req.Name, Address: req.Address,
		DeploymentID: domain.DeploymentID(req.DeploymentID), AppID: domain.AppID(req.AppID),
		Environment: domain.Environment(req.Environment), IdentifyBy: domain.IdentifyBy(req.IdentifyBy),
	})
	if err != nil {
		return err
	}
	return answer(w, res)
}

func (s *server) listResources(w http.ResponseWriter, r *http.Request) error {
	rs, err := s.svc.ListResources(r.Context(), orgOf(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, mapItems(rs, toResource))
}

func (s *server) getResource(w http.ResponseWriter, r *http.Request) error {
	res, err := s.svc.GetResource(r.Context(), orgOf(r), domain.ResourceID(r.PathValue("resourceId")))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toResource(res))
}
