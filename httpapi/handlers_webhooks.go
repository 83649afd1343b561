package httpapi

import (
	"net/http"
	"net/url"
	"time"

	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/service"
)

// Webhook endpoints, their deliveries and attempts.

type webhookEndpointResponse struct {
	ID             string   `json:"id"`
	URL            string   `json:"url"`
	Description    string   `json:"description"`
	EventTypes     []string `json:"eventTypes"`
	Enabled        bool     `json:"enabled"`
	DisabledReason *string  `json:"disabledReason"`
	// PreviousSecretExpiresAt is the end of a rotation's overlap, while
	// the replaced secret still signs deliveries.
	PreviousSecretExpiresAt *timestamp `json:"previousSecretExpiresAt"`
	CreatedAt               timestamp  `json:"createdAt"`
	UpdatedAt               timestamp  `json:"updatedAt"`
}

func toWebhookEndpoint(e domain.WebhookEndpoint) webhookEndpointResponse {
	types := e.EventTypes
	if types == nil {
		types = []string{}
	}
	resp := webhookEndpointResponse{
		ID: string(e.ID), URL: e.URL, Description: e.Description, EventTypes: types, Enabled: e.Enabled,
		DisabledReason: optString(e.DisabledReason), CreatedAt: timestamp(e.CreatedAt), UpdatedAt: timestamp(e.UpdatedAt),
	}
	if e.PreviousSecret != "" {
		resp.PreviousSecretExpiresAt = optTime(e.PreviousSecretUntil)
	}
	return resp
}

// newWebhookEndpointResponse carries the secret, shown once.
type newWebhookEndpointResponse struct {
	webhookEndpointResponse
	Secret string `json:"secret"`
}

type webhookEndpointRequest struct {
	URL         *string   `json:"url"`
	Description *string   `json:"description"`
	EventTypes  *[]string `json:"eventTypes"`
	Enabled     *bool     `json:"enabled"`
}

func (req webhookEndpointRequest) input() service.WebhookEndpointInput {
	return service.WebhookEndpointInput{URL: req.URL, Description: req.Description, EventTypes: req.EventTypes}
}

func endpointID(r *http.Request) domain.WebhookEndpointID {
	return domain.WebhookEndpointID(r.PathValue("endpointId"))
}

func (s *server) createWebhookEndpoint(w http.ResponseWriter, r *http.Request) error {
	var req webhookEndpointRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.Enabled != nil && !*req.Enabled {
		return invalid("a new endpoint is enabled; disable it with PATCH")
	}
	created, err := s.svc.CreateWebhookEndpoint(r.Context(), orgOf(r), req.input())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, newWebhookEndpointResponse{toWebhookEndpoint(created.Endpoint), created.Secret})
}

func (s *server) listWebhookEndpoints(w http.ResponseWriter, r *http.Request) error {
	es, err := s.svc.ListWebhookEndpoints(r.Context(), orgOf(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, mapItems(es, toWebhookEndpoint))
}

func (s *server) getWebhookEndpoint(w http.ResponseWriter, r *http.Request) error {
	e, err := s.svc.GetWebhookEndpoint(r.Context(), orgOf(r), endpointID(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toWebhookEndpoint(e))
}

// updateWebhookEndpoint changes the given fields; "enabled": false
// disables the endpoint (its pending deliveries fail), true enables it.
func (s *server) updateWebhookEndpoint(w http.ResponseWriter, r *http.Request) error {
	var req webhookEndpointRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	ctx, org, id := r.Context(), orgOf(r), endpointID(r)
	e, err := s.svc.UpdateWebhookEndpoint(ctx, org, id, req.input())
	if err != nil {
		return err
	}
	if req.Enabled != nil && *req.Enabled != e.Enabled {
		if *req.Enabled {
			e, err = s.svc.EnableWebhookEndpoint(ctx, org, id)
		} else {
			e, err = s.svc.DisableWebhookEndpoint(ctx, org, id, "")
		}
		if err != nil {
			return err
		}
	}
	return writeJSON(w, http.StatusOK, toWebhookEndpoint(e))
}

func (s *server) deleteWebhookEndpoint(w http.ResponseWriter, r *http.Request) error {
	if err := s.svc.DeleteWebhookEndpoint(r.Context(), orgOf(r), endpointID(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type rotateSecretRequest struct {
	// OverlapSeconds is how long the replaced secret still signs
	// deliveries; nil for the default (24 h).
	OverlapSeconds *int64 `json:"overlapSeconds"`
}

func (s *server) rotateWebhookSecret(w http.ResponseWriter, r *http.Request) error {
	var req rotateSecretRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	overlap := service.DefaultSecretOverlap
	if req.OverlapSeconds != nil {
		if *req.OverlapSeconds < 0 || *req.OverlapSeconds > int64(service.MaxSecretOverlap/time.Second) {
			return invalid("overlapSeconds must be between 0 and %d", int64(service.MaxSecretOverlap/time.Second))
		}
		overlap = time.Duration(*req.OverlapSeconds) * time.Second
	}
	rotated, err := s.svc.RotateWebhookSecret(r.Context(), orgOf(r), endpointID(r), overlap)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newWebhookEndpointResponse{toWebhookEndpoint(rotated.Endpoint), rotated.Secret})
}

type webhookDeliveryResponse struct {
	EventID        string     `json:"eventId"`
	EventType      string     `json:"eventType"`
	Subject        string     `json:"subject"`
	EventCreatedAt timestamp  `json:"eventCreatedAt"`
	State          string     `json:"state"`
	Attempts       int        `json:"attempts"`
	NextAttemptAt  *timestamp `json:"nextAttemptAt"`
	FirstAttemptAt *timestamp `json:"firstAttemptAt"`
	DeliveredAt    *timestamp `json:"deliveredAt"`
	LastStatus     *int       `json:"lastStatus"`
	LastError      *string    `json:"lastError"`
}

func toWebhookDelivery(d domain.WebhookDelivery) webhookDeliveryResponse {
	resp := webhookDeliveryResponse{
		EventID: d.EventID(), EventType: d.EventType, Subject: d.Subject, EventCreatedAt: timestamp(d.EventCreatedAt),
		State: string(d.State), Attempts: d.Attempts, FirstAttemptAt: optTime(d.FirstAttemptAt),
		DeliveredAt: optTime(d.DeliveredAt), LastError: optString(d.LastError),
	}
	if d.State == domain.DeliveryPending {
		resp.NextAttemptAt = optTime(&d.NextAttemptAt)
	}
	if d.LastStatus != 0 {
		resp.LastStatus = &d.LastStatus
	}
	return resp
}

type webhookDeliveryPageResponse struct {
	Items []webhookDeliveryResponse `json:"items"`
	// Next is the after of the next page: the last item's event seq, or
	// the request's after when there are none.
	Next int64 `json:"next"`
}

// pageQuery parses the query string of a list page: its limit and its
// integer cursor (0 when absent). Errors: invalid_argument.
func pageQuery(r *http.Request, cursor string) (q url.Values, limit int, at int64, err error) {
	if q, err = queryValues(r); err != nil {
		return nil, 0, 0, err
	}
	if limit, err = queryLimit(q); err != nil {
		return nil, 0, 0, err
	}
	at, err = queryInt(q, cursor, 0)
	return q, limit, at, err
}

func (s *server) listWebhookDeliveries(w http.ResponseWriter, r *http.Request) error {
	q, limit, after, err := pageQuery(r, "after")
	if err != nil {
		return err
	}
	ds, err := s.svc.ListWebhookDeliveries(r.Context(), orgOf(r), endpointID(r), domain.DeliveryFilter{
		State: domain.DeliveryState(q.Get("state")), AfterSeq: after, Limit: limit,
	})
	if err != nil {
		return err
	}
	page := webhookDeliveryPageResponse{Items: mapItems(ds, toWebhookDelivery).Items, Next: after}
	if len(ds) > 0 {
		page.Next = ds[len(ds)-1].EventSeq
	}
	return writeJSON(w, http.StatusOK, page)
}

type webhookAttemptResponse struct {
	Seq             int64     `json:"seq"`
	EventID         string    `json:"eventId"`
	Attempt         int       `json:"attempt"`
	StartedAt       timestamp `json:"startedAt"`
	LatencyMs       float64   `json:"latencyMs"`
	Status          *int      `json:"status"`
	Error           *string   `json:"error"`
	ResponseExcerpt string    `json:"responseExcerpt"`
}

func toWebhookAttempt(a domain.WebhookAttempt) webhookAttemptResponse {
	resp := webhookAttemptResponse{
		Seq: a.Seq, EventID: domain.EventIDOf(a.EventSeq), Attempt: a.Attempt, StartedAt: timestamp(a.StartedAt),
		LatencyMs: float64(a.Latency.Microseconds()) / 1000, Error: optString(a.Error), ResponseExcerpt: a.ResponseExcerpt,
	}
	if a.Status != 0 {
		resp.Status = &a.Status
	}
	return resp
}

type webhookAttemptPageResponse struct {
	Items []webhookAttemptResponse `json:"items"`
	// Next is the before of the next (older) page: the last item's seq,
	// or null when there are no items.
	Next *int64 `json:"next"`
}

func (s *server) listWebhookAttempts(w http.ResponseWriter, r *http.Request) error {
	q, limit, before, err := pageQuery(r, "before")
	if err != nil {
		return err
	}
	f := domain.AttemptFilter{BeforeSeq: before, Limit: limit}
	if id := q.Get("eventId"); id != "" {
		seq, ok := domain.ParseEventID(id)
		if !ok {
			return invalid("eventId must be an event id such as evt_42")
		}
		f.EventSeq = seq
	}
	as, err := s.svc.ListWebhookAttempts(r.Context(), orgOf(r), endpointID(r), f)
	if err != nil {
		return err
	}
	page := webhookAttemptPageResponse{Items: mapItems(as, toWebhookAttempt).Items}
	if len(as) > 0 {
		page.Next = &as[len(as)-1].Seq
	}
	return writeJSON(w, http.StatusOK, page)
}

type replayRequest struct {
	EventID *string    `json:"eventId"`
	Since   *time.Time `json:"since"`
}

type replayResponse struct {
	Replayed int `json:"replayed"`
}

// replayWebhookDeliveries sends one event again (eventId), or every failed
// delivery whose event was created since a time (since).
func (s *server) replayWebhookDeliveries(w http.ResponseWriter, r *http.Request) error {
	var req replayRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	ctx, org, id := r.Context(), orgOf(r), endpointID(r)
	var n int
	var err error
	switch {
	case (req.EventID == nil) == (req.Since == nil):
		return invalid("give exactly one of eventId (one event) and since (every failed delivery since then)")
	case req.EventID != nil:
		seq, ok := domain.ParseEventID(*req.EventID)
		if !ok {
			return invalid("eventId must be an event id such as evt_42")
		}
		n, err = s.svc.ReplayWebhookEvent(ctx, org, id, seq)
	default:
		n, err = s.svc.ReplayFailedWebhookDeliveries(ctx, org, id, *req.Since)
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, replayResponse{Replayed: n})
}
