package console

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/parleyhq/parley/domain"
)

// webhooks lists the org's webhook endpoints.
func (c *Console) webhooks(w http.ResponseWriter, r *http.Request, op *operator) error {
	es, err := c.svc.ListWebhookEndpoints(r.Context(), op.org.ID)
	if err != nil {
		return err
	}
	return c.render(w, r, http.StatusOK, "webhooks", page{Title: "Webhooks", Nav: "webhooks", Op: op, Data: es})
}

type webhookView struct {
	Endpoint domain.WebhookEndpoint
	// State filters the deliveries ("" for all).
	State      string
	Deliveries []domain.WebhookDelivery
	Next       string
	Attempts   []domain.WebhookAttempt
	// Replayed says what the last replay scheduled.
	Replayed string
}

// webhook shows an endpoint, its deliveries in event order (filtered by
// state) with a replay button each, and its latest attempts.
func (c *Console) webhook(w http.ResponseWriter, r *http.Request, op *operator) error {
	ctx, org := r.Context(), op.org.ID
	id := domain.WebhookEndpointID(r.PathValue("endpointId"))
	q := r.URL.Query()
	v := webhookView{State: q.Get("state"), Replayed: q.Get("replayed")}
	switch domain.DeliveryState(v.State) {
	case domain.DeliveryPending, domain.DeliveryDelivered, domain.DeliveryFailed:
	default:
		v.State = ""
	}
	after, err := seqParam(q.Get("after"))
	if err != nil {
		return err
	}
	if v.Endpoint, err = c.svc.GetWebhookEndpoint(ctx, org, id); err != nil {
		return err
	}
	v.Deliveries, err = c.svc.ListWebhookDeliveries(ctx, org, id, domain.DeliveryFilter{
		State: domain.DeliveryState(v.State), AfterSeq: after, Limit: pageSize + 1,
	})
	if err != nil {
		return err
	}
	if len(v.Deliveries) > pageSize {
		v.Deliveries = v.Deliveries[:pageSize]
		next := url.Values{"after": {strconv.FormatInt(v.Deliveries[pageSize-1].EventSeq, 10)}}
		if v.State != "" {
			next.Set("state", v.State)
		}
		v.Next = webhookPath(id) + "?" + next.Encode()
	}
	if v.Attempts, err = c.svc.ListWebhookAttempts(ctx, org, id, domain.AttemptFilter{Limit: pageSize}); err != nil {
		return err
	}
	return c.render(w, r, http.StatusOK, "webhook", page{Title: "Webhook endpoint", Nav: "webhooks", Op: op, Data: v})
}

func webhookPath(id domain.WebhookEndpointID) string {
	return "/console/webhooks/" + url.PathEscape(string(id))
}

// replayWebhook sends one event to the endpoint again ("event" is its
// id, evt_N), or every failed delivery ("failed").
func (c *Console) replayWebhook(w http.ResponseWriter, r *http.Request, op *operator) error {
	id := domain.WebhookEndpointID(r.PathValue("endpointId"))
	var replayed string
	if r.PostFormValue("failed") != "" {
		n, err := c.svc.ReplayFailedWebhookDeliveries(r.Context(), op.org.ID, id, time.Time{})
		if err != nil {
			return err
		}
		replayed = strconv.Itoa(n) + " failed deliveries"
	} else {
		event := r.PostFormValue("event")
		seq, ok := domain.ParseEventID(event)
		if !ok {
			return domain.Errorf(domain.CodeInvalidArgument, "%q is not an event id (evt_ and a number)", event)
		}
		n, err := c.svc.ReplayWebhookEvent(r.Context(), op.org.ID, id, seq)
		if err != nil {
			return err
		}
		replayed = event
		if n == 0 {
			replayed += " (an attempt was already under way)"
		}
	}
	http.Redirect(w, r, webhookPath(id)+"?"+url.Values{"replayed": {replayed}}.Encode(), http.StatusSeeOther)
	return nil
}

// subjectPath is the console page of an event's subject (a customer,
// conversation or run id), "" when it has none.
func subjectPath(subject string) string {
	for prefix, path := range map[string]string{"cus_": "/console/customers/", "conv_": "/console/conversations/"} {
		if strings.HasPrefix(subject, prefix) {
			return path + url.PathEscape(subject)
		}
	}
	return ""
}
