package service

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/parleyhq/parley/domain"
)

// WebhookPolicy is what the service needs from webhook delivery (package
// webhook implements it): whether a URL may be a target, and new signing
// secrets.
type WebhookPolicy interface {
	// CheckURL returns an error with CodeURLForbidden when u resolves to an
	// address deliveries may not reach (private, loopback, link-local...),
	// or CodeInvalidArgument when its host does not resolve.
	CheckURL(ctx context.Context, u *url.URL) error
	// NewSecret returns a new signing secret ("whsec_" + base64).
	NewSecret() (string, error)
}

// Limits of webhook endpoints.
const (
	// MaxWebhookEndpoints bounds an org's endpoints, so the fan-out of one
	// event stays small.
	MaxWebhookEndpoints = 50
	maxWebhookURLLen    = 2000
	maxEventTypes       = 50
	// DefaultSecretOverlap is how long the replaced secret still signs
	// deliveries after a rotation, unless the request says otherwise.
	DefaultSecretOverlap = 24 * time.Hour
	// MaxSecretOverlap bounds a rotation's overlap.
	MaxSecretOverlap = 7 * 24 * time.Hour
	// disabledByRequest is the reason of an endpoint disabled through the API.
	disabledByRequest = "disabled through the API"
)

var eventTypePattern = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$`)

// WebhookEndpointInput holds the fields a client sets on an endpoint. In an
// update, nil fields are left as they are.
type WebhookEndpointInput struct {
	URL         *string
	Description *string
	// EventTypes are the subscribed types; empty for every type.
	EventTypes *[]string
}

// NewWebhookEndpoint is a created endpoint with its secret, shown once.
type NewWebhookEndpoint struct {
	Endpoint domain.WebhookEndpoint
	Secret   string
}

// CreateWebhookEndpoint registers an endpoint of org with a new secret.
// Errors: invalid_argument (URL, description, event types, too many
// endpoints), url_forbidden (a private, loopback or link-local target),
// internal (no webhook policy configured).
func (s *Service) CreateWebhookEndpoint(ctx context.Context, org domain.OrgID, in WebhookEndpointInput) (NewWebhookEndpoint, error) {
	if in.URL == nil {
		return NewWebhookEndpoint{}, invalidf("url is required")
	}
	e := domain.WebhookEndpoint{ID: domain.WebhookEndpointID(s.ids.NewID("whe")), OrgID: org, Enabled: true}
	if err := s.applyEndpointInput(ctx, &e, in); err != nil {
		return NewWebhookEndpoint{}, err
	}
	secret, err := s.webhooks.NewSecret()
	if err != nil {
		return NewWebhookEndpoint{}, err
	}
	e.Secret = secret
	err = s.update(ctx, org, func(tx domain.Tx) error {
		existing, err := tx.ListWebhookEndpoints(ctx, org)
		if err != nil {
			return err
		}
		if len(existing) >= MaxWebhookEndpoints {
			return invalidf("an organization has at most %d webhook endpoints", MaxWebhookEndpoints)
		}
		e.CreatedAt = s.now()
		e.UpdatedAt = e.CreatedAt
		return tx.CreateWebhookEndpoint(ctx, e)
	})
	if err != nil {
		return NewWebhookEndpoint{}, err
	}
	return NewWebhookEndpoint{Endpoint: e, Secret: secret}, nil
}

// applyEndpointInput checks the given fields of in and sets them on e.
func (s *Service) applyEndpointInput(ctx context.Context, e *domain.WebhookEndpoint, in WebhookEndpointInput) error {
	if s.webhooks == nil {
		return domain.Errorf(domain.CodeInternal, "webhooks are not configured on this server")
	}
	if in.URL != nil {
		u, err := checkWebhookURL(*in.URL)
		if err != nil {
			return err
		}
		if err := s.webhooks.CheckURL(ctx, u); err != nil {
			return err
		}
		e.URL = u.String()
	}
	if in.Description != nil {
		desc := strings.TrimSpace(*in.Description)
		if err := checkText("description", desc, maxTextLen, false); err != nil {
			return err
		}
		e.Description = desc
	}
	if in.EventTypes != nil {
		types, err := checkEventTypes(*in.EventTypes)
		if err != nil {
			return err
		}
		e.EventTypes = types
	}
	return nil
}

// checkWebhookURL parses an absolute http or https URL without
// credentials or fragment. Errors: invalid_argument.
func checkWebhookURL(raw string) (*url.URL, error) {
	if len(raw) > maxWebhookURLLen {
		return nil, invalidf("url is longer than %d bytes", maxWebhookURLLen)
	}
	if err := checkText("url", raw, maxWebhookURLLen, false); err != nil {
		return nil, err
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" || u.Opaque != "" {
		return nil, invalidf("url must be an absolute http or https URL, got %q", raw)
	}
	if u.User != nil {
		return nil, invalidf("url must not carry credentials")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return nil, invalidf("url must not have a fragment")
	}
	return u, nil
}

// checkEventTypes validates subscribed types and removes duplicates.
func checkEventTypes(types []string) ([]string, error) {
	if len(types) > maxEventTypes {
		return nil, invalidf("eventTypes holds at most %d types", maxEventTypes)
	}
	var out []string
	for _, t := range types {
		if len(t) > 100 || !eventTypePattern.MatchString(t) {
			return nil, invalidf("eventTypes: %q is not an event type such as %q", printable(t, 100), domain.EventConversationStarted)
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

// GetWebhookEndpoint returns an endpoint. Errors: not_found.
func (s *Service) GetWebhookEndpoint(ctx context.Context, org domain.OrgID, id domain.WebhookEndpointID) (e domain.WebhookEndpoint, err error) {
	err = s.view(ctx, func(tx domain.Tx) error {
		e, err = tx.GetWebhookEndpoint(ctx, org, id)
		return err
	})
	return e, err
}

// ListWebhookEndpoints returns the org's endpoints, oldest first.
func (s *Service) ListWebhookEndpoints(ctx context.Context, org domain.OrgID) (es []domain.WebhookEndpoint, err error) {
	err = s.view(ctx, func(tx domain.Tx) error {
		es, err = tx.ListWebhookEndpoints(ctx, org)
		return err
	})
	return es, err
}

// UpdateWebhookEndpoint changes the given fields of an endpoint.
// Errors: not_found, invalid_argument, url_forbidden.
func (s *Service) UpdateWebhookEndpoint(ctx context.Context, org domain.OrgID, id domain.WebhookEndpointID, in WebhookEndpointInput) (domain.WebhookEndpoint, error) {
	var changed domain.WebhookEndpoint
	if err := s.applyEndpointInput(ctx, &changed, in); err != nil {
		return changed, err
	}
	return s.changeEndpoint(ctx, org, id, func(_ domain.Tx, e *domain.WebhookEndpoint) error {
		if in.URL != nil {
			e.URL = changed.URL
		}
		if in.Description != nil {
			e.Description = changed.Description
		}
		if in.EventTypes != nil {
			e.EventTypes = changed.EventTypes
		}
		return nil
	})
}

// DisableWebhookEndpoint stops deliveries to an endpoint: its pending
// deliveries fail with reason (a replay can bring them back once it is
// enabled again). reason "" means disabled through the API.
// Errors: not_found.
func (s *Service) DisableWebhookEndpoint(ctx context.Context, org domain.OrgID, id domain.WebhookEndpointID, reason string) (domain.WebhookEndpoint, error) {
	if reason == "" {
		reason = disabledByRequest
	}
	return s.changeEndpoint(ctx, org, id, func(tx domain.Tx, e *domain.WebhookEndpoint) error {
		if !e.Enabled {
			return nil
		}
		e.Enabled, e.DisabledReason = false, printable(reason, 500)
		_, err := tx.FailPendingWebhookDeliveries(ctx, org, id, "endpoint disabled: "+e.DisabledReason)
		return err
	})
}

// EnableWebhookEndpoint resumes deliveries to an endpoint (of events from
// now on; failed ones come back with a replay). Errors: not_found.
func (s *Service) EnableWebhookEndpoint(ctx context.Context, org domain.OrgID, id domain.WebhookEndpointID) (domain.WebhookEndpoint, error) {
	return s.changeEndpoint(ctx, org, id, func(tx domain.Tx, e *domain.WebhookEndpoint) error {
		e.Enabled, e.DisabledReason = true, ""
		return tx.MarkWebhookEndpointHealthy(ctx, org, id)
	})
}

// RotateWebhookSecret gives an endpoint a new secret; the replaced one
// still signs deliveries (a second signature) during overlap.
// Errors: not_found, invalid_argument (overlap).
func (s *Service) RotateWebhookSecret(ctx context.Context, org domain.OrgID, id domain.WebhookEndpointID, overlap time.Duration) (NewWebhookEndpoint, error) {
	if overlap < 0 || overlap > MaxSecretOverlap {
		return NewWebhookEndpoint{}, invalidf("overlap must be between 0 and %s", MaxSecretOverlap)
	}
	if s.webhooks == nil {
		return NewWebhookEndpoint{}, domain.Errorf(domain.CodeInternal, "webhooks are not configured on this server")
	}
	secret, err := s.webhooks.NewSecret()
	if err != nil {
		return NewWebhookEndpoint{}, err
	}
	e, err := s.changeEndpoint(ctx, org, id, func(_ domain.Tx, e *domain.WebhookEndpoint) error {
		e.PreviousSecret, e.PreviousSecretUntil = "", nil
		if overlap > 0 {
			until := s.now().Add(overlap)
			e.PreviousSecret, e.PreviousSecretUntil = e.Secret, &until
		}
		e.Secret = secret
		return nil
	})
	return NewWebhookEndpoint{Endpoint: e, Secret: secret}, err
}

// changeEndpoint applies change to the stored endpoint and saves it. It
// locks the endpoint first (writers of one org run in parallel), so two
// changes of one endpoint cannot overwrite each other.
func (s *Service) changeEndpoint(ctx context.Context, org domain.OrgID, id domain.WebhookEndpointID, change func(domain.Tx, *domain.WebhookEndpoint) error) (e domain.WebhookEndpoint, err error) {
	err = s.update(ctx, org, func(tx domain.Tx) error {
		if err := tx.LockKeys(ctx, org, "webhook-endpoint:"+string(id)); err != nil {
			return err
		}
		if e, err = tx.GetWebhookEndpoint(ctx, org, id); err != nil {
			return err
		}
		if err := change(tx, &e); err != nil {
			return err
		}
		e.UpdatedAt = s.now()
		return tx.UpdateWebhookEndpoint(ctx, e)
	})
	return e, err
}

// DeleteWebhookEndpoint deletes an endpoint with its deliveries and their
// attempts. Errors: not_found.
func (s *Service) DeleteWebhookEndpoint(ctx context.Context, org domain.OrgID, id domain.WebhookEndpointID) error {
	return s.update(ctx, org, func(tx domain.Tx) error { return tx.DeleteWebhookEndpoint(ctx, org, id) })
}

// ListWebhookDeliveries returns an endpoint's deliveries in event order.
// Errors: not_found (endpoint), invalid_argument (limit, state).
func (s *Service) ListWebhookDeliveries(ctx context.Context, org domain.OrgID, id domain.WebhookEndpointID, f domain.DeliveryFilter) (ds []domain.WebhookDelivery, err error) {
	if f.Limit <= 0 || f.Limit > MaxPageSize {
		return nil, invalidf("limit must be between 1 and %d", MaxPageSize)
	}
	switch f.State {
	case "", domain.DeliveryPending, domain.DeliveryDelivered, domain.DeliveryFailed:
	default:
		return nil, invalidf("state must be pending, delivered or failed")
	}
	err = s.view(ctx, func(tx domain.Tx) error {
		if _, err := tx.GetWebhookEndpoint(ctx, org, id); err != nil {
			return err
		}
		ds, err = tx.ListWebhookDeliveries(ctx, org, id, f)
		return err
	})
	return ds, err
}

// ListWebhookAttempts returns an endpoint's logged attempts, newest first.
// Errors: not_found (endpoint), invalid_argument (limit).
func (s *Service) ListWebhookAttempts(ctx context.Context, org domain.OrgID, id domain.WebhookEndpointID, f domain.AttemptFilter) (as []domain.WebhookAttempt, err error) {
	if f.Limit <= 0 || f.Limit > MaxPageSize {
		return nil, invalidf("limit must be between 1 and %d", MaxPageSize)
	}
	err = s.view(ctx, func(tx domain.Tx) error {
		if _, err := tx.GetWebhookEndpoint(ctx, org, id); err != nil {
			return err
		}
		as, err = tx.ListWebhookAttempts(ctx, org, id, f)
		return err
	})
	return as, err
}

// ReplayWebhookEvent sends event seq to an enabled endpoint again, now,
// whatever happened to it before; an event the endpoint never had a
// delivery of (it was created later, or not subscribed) is sent when the
// event is still stored. It returns 0 when an attempt of the event is
// under way already. Errors: not_found (endpoint, or event),
// invalid_argument (disabled endpoint).
func (s *Service) ReplayWebhookEvent(ctx context.Context, org domain.OrgID, id domain.WebhookEndpointID, seq int64) (n int, err error) {
	err = s.update(ctx, org, func(tx domain.Tx) error {
		if err := requireEnabled(ctx, tx, org, id); err != nil {
			return err
		}
		now := s.now()
		_, err := tx.GetWebhookDelivery(ctx, org, id, seq)
		if err == nil {
			n, err = tx.RescheduleWebhookDeliveries(ctx, org, id, seq, time.Time{}, now)
			return err
		}
		if !domain.IsNotFound(err) {
			return err
		}
		events, err := tx.ListEvents(ctx, org, seq-1, 1)
		if err != nil {
			return err
		}
		if len(events) == 0 || events[0].Seq != seq {
			return domain.NotFound("event", domain.EventIDOf(seq))
		}
		e := events[0]
		payload, err := json.Marshal(e.Payload)
		if err != nil {
			return fmt.Errorf("service: event %s payload: %w", e.ID(), err)
		}
		n = 1
		return tx.CreateWebhookDelivery(ctx, domain.WebhookDelivery{
			OrgID: org, EndpointID: id, EventSeq: seq, EventType: e.Type, Subject: e.Subject, Payload: payload,
			EventCreatedAt: e.CreatedAt, State: domain.DeliveryPending, NextAttemptAt: now,
		})
	})
	return n, err
}

// ReplayFailedWebhookDeliveries sends again, now, every failed delivery of
// an enabled endpoint whose event was created at or after since, and
// returns how many. Errors: not_found, invalid_argument (disabled).
func (s *Service) ReplayFailedWebhookDeliveries(ctx context.Context, org domain.OrgID, id domain.WebhookEndpointID, since time.Time) (n int, err error) {
	err = s.update(ctx, org, func(tx domain.Tx) error {
		if err := requireEnabled(ctx, tx, org, id); err != nil {
			return err
		}
		n, err = tx.RescheduleWebhookDeliveries(ctx, org, id, 0, since, s.now())
		return err
	})
	return n, err
}

func requireEnabled(ctx context.Context, tx domain.Tx, org domain.OrgID, id domain.WebhookEndpointID) error {
	e, err := tx.GetWebhookEndpoint(ctx, org, id)
	if err != nil {
		return err
	}
	if !e.Enabled {
		return invalidf("webhook endpoint %s is disabled (%s): enable it before replaying", id, e.DisabledReason)
	}
	return nil
}
