package httpapi

import (
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/service"
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
			Detail: "the store is unreachable or not fully migrated", Code: "not_ready",
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

// Apps, versions and deployments.

type createAppRequest struct {
	Name string `json:"name"`
}

func (s *server) createApp(w http.ResponseWriter, r *http.Request) error {
	var req createAppRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	app, err := s.svc.CreateApp(r.Context(), orgOf(r), req.Name)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, toApp(app))
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
	v, err := s.svc.CreateVersion(r.Context(), orgOf(r), appID(r), req.Definition)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, toVersion(v))
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
	d, err := s.svc.Publish(r.Context(), orgOf(r), appID(r), domain.VersionID(req.VersionID), domain.Environment(req.Environment))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, toDeployment(d))
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
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Address string `json:"address"`
}

func (s *server) createResource(w http.ResponseWriter, r *http.Request) error {
	var req createResourceRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	res, err := s.svc.CreateResource(r.Context(), orgOf(r), domain.ResourceKind(req.Kind), req.Name, req.Address)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, toResource(res))
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

// Conversations.

// partyRequest is the party of a new conversation, in both start requests.
type partyRequest struct {
	ResourceID          string `json:"resourceId"`
	ExternalID          string `json:"externalId"`
	CustomerDestination string `json:"customerDestination"`
	CustomerIdentifier  string `json:"customerIdentifier"`
}

func (p partyRequest) party() service.Party {
	return service.Party{
		ResourceID: domain.ResourceID(p.ResourceID), ExternalID: p.ExternalID,
		CustomerDestination: p.CustomerDestination, CustomerIdentifier: p.CustomerIdentifier,
	}
}

type startConversationRequest struct {
	DeploymentID string `json:"deploymentId"`
	partyRequest
}

func (s *server) startConversation(w http.ResponseWriter, r *http.Request) error {
	var req startConversationRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	st, err := s.svc.StartConversation(r.Context(), orgOf(r), service.StartInput{
		DeploymentID: domain.DeploymentID(req.DeploymentID), Party: req.party(),
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, toStarted(st))
}

type startPreviewRequest struct {
	VersionID string `json:"versionId"`
	partyRequest
}

func (s *server) startPreview(w http.ResponseWriter, r *http.Request) error {
	var req startPreviewRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	st, err := s.svc.StartPreview(r.Context(), orgOf(r), service.PreviewInput{
		VersionID: domain.VersionID(req.VersionID), Party: req.party(),
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, toStarted(st))
}

// listConversations answers one page, newest first, with an opaque cursor
// to the next page (null on the last page).
func (s *server) listConversations(w http.ResponseWriter, r *http.Request) error {
	f, err := conversationFilter(r)
	if err != nil {
		return err
	}
	cs, err := s.svc.ListConversations(r.Context(), orgOf(r), f)
	if err != nil {
		return err
	}
	page := conversationPageResponse{Items: mapItems(cs, toConversation).Items}
	if len(cs) == f.Limit {
		next := encodeCursor(cs[len(cs)-1])
		page.NextCursor = &next
	}
	return writeJSON(w, http.StatusOK, page)
}

// conversationFilter reads the query of listConversations.
// Errors: invalid_argument.
func conversationFilter(r *http.Request) (domain.ConversationFilter, error) {
	var f domain.ConversationFilter
	q, err := queryValues(r)
	if err != nil {
		return f, err
	}
	if f.Limit, err = queryLimit(q); err != nil {
		return f, err
	}
	f.Status = domain.ConversationStatus(q.Get("status"))
	for _, id := range []struct {
		name string
		dst  *string
	}{
		{"customerId", (*string)(&f.CustomerID)},
		{"deploymentId", (*string)(&f.DeploymentID)},
		{"resourceId", (*string)(&f.ResourceID)},
	} {
		if *id.dst, err = queryID(q, id.name); err != nil {
			return f, err
		}
	}
	if f.ExternalID, err = queryText(q, "externalId", maxExternalIDLen); err != nil {
		return f, err
	}
	if c := q.Get("cursor"); c != "" {
		if f.BeforeStartedAt, f.BeforeID, err = decodeCursor(c); err != nil {
			return f, err
		}
	}
	return f, nil
}

// encodeCursor makes the opaque keyset cursor after conversation c.
func encodeCursor(c domain.Conversation) string {
	raw := strconv.FormatInt(c.StartedAt.UnixMicro(), 10) + "|" + string(c.ID)
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// decodeCursor reads a cursor made by encodeCursor.
// Errors: invalid_argument.
func decodeCursor(cursor string) (time.Time, domain.ConversationID, error) {
	bad := invalid("cursor is not a cursor returned by this API")
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return time.Time{}, "", bad
	}
	micros, id, ok := strings.Cut(string(raw), "|")
	n, err := strconv.ParseInt(micros, 10, 64)
	if !ok || err != nil || !plausibleID(id) {
		return time.Time{}, "", bad
	}
	at := time.UnixMicro(n).UTC()
	if year := at.Year(); year < 1 || year > 9999 {
		return time.Time{}, "", bad
	}
	return at, domain.ConversationID(id), nil
}

func conversationID(r *http.Request) domain.ConversationID {
	return domain.ConversationID(r.PathValue("conversationId"))
}

func (s *server) getConversation(w http.ResponseWriter, r *http.Request) error {
	c, err := s.svc.GetConversation(r.Context(), orgOf(r), conversationID(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toConversation(c))
}

type addMessageRequest struct {
	Direction string `json:"direction"`
	Text      string `json:"text"`
}

func (s *server) addMessage(w http.ResponseWriter, r *http.Request) error {
	var req addMessageRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	m, err := s.svc.AddMessage(r.Context(), orgOf(r), conversationID(r), domain.Direction(req.Direction), req.Text)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, toMessage(m))
}

// listMessages answers the messages after the cursor message, which must
// be a message of the conversation.
func (s *server) listMessages(w http.ResponseWriter, r *http.Request) error {
	q, err := queryValues(r)
	if err != nil {
		return err
	}
	limit, err := queryLimit(q)
	if err != nil {
		return err
	}
	after, err := queryID(q, "after")
	if err != nil {
		return err
	}
	ms, err := s.svc.ListMessages(r.Context(), orgOf(r), conversationID(r), domain.MessageID(after), limit)
	if after != "" && domain.ErrorCode(err) == domain.CodeNotFound {
		// A missing conversation is conversation_not_found; not_found is
		// the cursor.
		return invalid("cursor does not name a message of this conversation")
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, mapItems(ms, toMessage))
}

func (s *server) closeConversation(w http.ResponseWriter, r *http.Request) error {
	c, err := s.svc.CloseConversation(r.Context(), orgOf(r), conversationID(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toConversation(c))
}

// transcript answers the transcript object exactly as the
// conversation_transcript data operation outputs it.
func (s *server) transcript(w http.ResponseWriter, r *http.Request) error {
	t, err := s.svc.Transcript(r.Context(), orgOf(r), conversationID(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, t)
}

// Sessions and customers.

func (s *server) getSession(w http.ResponseWriter, r *http.Request) error {
	ses, err := s.svc.GetSession(r.Context(), orgOf(r), domain.SessionID(r.PathValue("sessionId")))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toSession(ses))
}

func customerID(r *http.Request) domain.CustomerID {
	return domain.CustomerID(r.PathValue("customerId"))
}

func (s *server) getCustomer(w http.ResponseWriter, r *http.Request) error {
	c, err := s.svc.GetCustomer(r.Context(), orgOf(r), customerID(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toCustomer(c))
}

func (s *server) customerIdentifiers(w http.ResponseWriter, r *http.Request) error {
	ivs, err := s.svc.CustomerHistory(r.Context(), orgOf(r), customerID(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, mapItems(ivs, toInterval))
}

func (s *server) customerConversations(w http.ResponseWriter, r *http.Request) error {
	ids, err := s.svc.CustomerConversations(r.Context(), orgOf(r), customerID(r))
	if err != nil {
		return err
	}
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = string(id)
	}
	return writeJSON(w, http.StatusOK, conversationIDsResponse{ConversationIDs: out})
}

// Data operations and actions.

type runRequest struct {
	Inputs         map[string]any `json:"inputs"`
	SessionID      string         `json:"sessionId"`
	OutputVariable string         `json:"outputVariable"`
}

func (s *server) runDataOperation(w http.ResponseWriter, r *http.Request) error {
	res, err := s.runOperation(r, domain.KindDataOperation)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, operationResultResponse{
		Operation: res.Name, Variable: optString(res.Variable), Value: res.Value,
		Error: toOutcome(res.Error), RunID: string(res.RunID),
	})
}

func (s *server) runAction(w http.ResponseWriter, r *http.Request) error {
	res, err := s.runOperation(r, domain.KindAction)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, actionResultResponse{
		Action: res.Name, Variable: optString(res.Variable), Value: res.Value,
		Error: toOutcome(res.Error), RunID: string(res.RunID),
	})
}

// runOperation runs the named operation and counts its outcome. A business
// outcome is in the result; a thrown failure is the error.
func (s *server) runOperation(r *http.Request, kind domain.RunKind) (service.RunResult, error) {
	name := r.PathValue("name")
	var req runRequest
	if err := decodeJSON(r, &req); err != nil {
		return service.RunResult{}, err
	}
	res, err := s.svc.Run(r.Context(), orgOf(r), service.RunRequest{
		Kind: kind, Name: name, Inputs: req.Inputs,
		SessionID: domain.SessionID(req.SessionID), OutputVariable: req.OutputVariable,
	})
	code := "ok"
	switch {
	case err != nil:
		code = domain.ErrorCode(err)
	case res.Error != nil:
		code = res.Error.Code
	}
	s.metrics.observeRun(kind, name, code)
	return res, err
}

// Runs and events.

// listRuns answers the runs before the cursor run, which must be a run of
// the organization.
func (s *server) listRuns(w http.ResponseWriter, r *http.Request) error {
	q, err := queryValues(r)
	if err != nil {
		return err
	}
	limit, err := queryLimit(q)
	if err != nil {
		return err
	}
	before, err := queryID(q, "before")
	if err != nil {
		return err
	}
	runs, err := s.svc.ListRuns(r.Context(), orgOf(r), domain.RunID(before), limit)
	if before != "" && domain.ErrorCode(err) == domain.CodeNotFound {
		return invalid("cursor does not name a run of this organization")
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, mapItems(runs, toRun))
}

func (s *server) getRun(w http.ResponseWriter, r *http.Request) error {
	run, err := s.svc.GetRun(r.Context(), orgOf(r), domain.RunID(r.PathValue("runId")))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toRun(run))
}

func (s *server) listEvents(w http.ResponseWriter, r *http.Request) error {
	q, err := queryValues(r)
	if err != nil {
		return err
	}
	limit, err := queryLimit(q)
	if err != nil {
		return err
	}
	after, err := queryInt(q, "after", 0)
	if err != nil {
		return err
	}
	events, err := s.svc.ListEvents(r.Context(), orgOf(r), after, limit)
	if err != nil {
		return err
	}
	page := eventPageResponse{Items: mapItems(events, toEvent).Items, Next: after}
	if len(events) > 0 {
		page.Next = events[len(events)-1].Seq
	}
	return writeJSON(w, http.StatusOK, page)
}
