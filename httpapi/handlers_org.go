package httpapi

import (
	"net/http"

	"github.com/parleyhq/parley/domain"
)

// Organization and licence.

func (s *server) getOrg(w http.ResponseWriter, r *http.Request) error {
	org, err := s.svc.GetOrg(r.Context(), orgOf(r))
	if err != nil {
		return err
	}
	resp := orgResponse{ID: string(org.ID), Name: org.Name, CreatedAt: timestamp(org.CreatedAt)}
	lic, reason, err := s.svc.LicenseStatus(r.Context(), org.ID)
	switch domain.ErrorCode(err) {
	case "":
		l := toLicense(lic, reason)
		resp.License = &l
	case domain.CodeLicenseRequired:
		resp.LicenseError = &codedMessage{Code: domain.CodeLicenseRequired, Message: domain.ErrorMessage(err)}
	default:
		return err
	}
	return writeJSON(w, http.StatusOK, resp)
}

func (s *server) getLicense(w http.ResponseWriter, r *http.Request) error {
	lic, reason, err := s.svc.LicenseStatus(r.Context(), orgOf(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toLicense(lic, reason))
}

type installLicenseRequest struct {
	Token string `json:"token"`
}

func (s *server) installLicense(w http.ResponseWriter, r *http.Request) error {
	var req installLicenseRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if _, err := s.svc.InstallLicense(r.Context(), orgOf(r), req.Token); err != nil {
		return err
	}
	return s.getLicense(w, r)
}

// API keys.

func (s *server) listAPIKeys(w http.ResponseWriter, r *http.Request) error {
	keys, err := s.svc.ListAPIKeys(r.Context(), orgOf(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, mapItems(keys, toAPIKey))
}

type createAPIKeyRequest struct {
	Name  string `json:"name"`
	Scope string `json:"scope"` // admin (default) or runtime
}

func (s *server) createAPIKey(w http.ResponseWriter, r *http.Request) error {
	var req createAPIKeyRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	key, err := s.svc.CreateAPIKey(r.Context(), orgOf(r), req.Name, domain.Scope(req.Scope))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, newAPIKeyResponse{apiKeyResponse: toAPIKey(key.Key), Secret: key.Secret})
}

func (s *server) revokeAPIKey(w http.ResponseWriter, r *http.Request) error {
	if err := s.svc.RevokeAPIKey(r.Context(), orgOf(r), domain.APIKeyID(r.PathValue("keyId"))); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
