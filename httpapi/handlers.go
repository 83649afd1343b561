package httpapi

import (
	_ "embed"
	"encoding/json"
	"net/http"
)

//go:embed openapi.json
var openAPIDocument []byte

// OpenAPIDocument returns the OpenAPI 3.1 description of the API.
func OpenAPIDocument() []byte { return append([]byte(nil), openAPIDocument...) }

func (s *server) healthz(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, statusResponse{Status: "ok"})
}

// readyz answers 200 when the store is reachable and migrated.
func (s *server) readyz(w http.ResponseWriter, r *http.Request) error {
	if err := s.store.Ready(r.Context()); err != nil {
		s.log.WarnContext(r.Context(), "store not ready", "err", err)
		writeBody(w, http.StatusServiceUnavailable, problemContentType, mustJSON(problemResponse{
			Type: problemTypeBase + "not_ready", Title: "Not ready", Status: http.StatusServiceUnavailable,
			Detail: "the store is unreachable or not fully migrated", Code: "not_ready", RequestID: infoOf(r).id,
		}))
		return nil
	}
	return writeJSON(w, http.StatusOK, statusResponse{Status: "ready"})
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func (s *server) serveMetrics(w http.ResponseWriter, r *http.Request) error {
	s.metrics.handler.ServeHTTP(w, r)
	return nil
}

func (s *server) openAPI(w http.ResponseWriter, r *http.Request) error {
	writeBody(w, http.StatusOK, jsonContentType, openAPIDocument)
	return nil
}
