package httpapi

import (
	"net/http"

	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/service"
)

// Channels are the channel transports' public endpoints, mounted by the
// route table; a nil handler answers not_found (the channel is not
// configured in this server).
type Channels struct {
	TwilioInbound, TwilioStatus               ChannelHandler
	WebChatWidget, WebChatDemo, WebChatSocket ChannelHandler
}

// ChannelHandler handles a channel's request; a returned error is
// written as a problem unless a response was already written.
type ChannelHandler = func(w http.ResponseWriter, r *http.Request) error

// channel returns the handler pick selects, or not_found.
func (s *server) channel(pick func(Channels) ChannelHandler) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		h := pick(s.channels)
		if h == nil {
			return domain.Errorf(domain.CodeNotFound, "this channel is not served here")
		}
		return h(w, r)
	}
}

// updateResourceRequest is the PATCH body: only the fields present change.
type updateResourceRequest struct {
	Name           *string            `json:"name"`
	DeploymentID   *string            `json:"deploymentId"`
	AppID          *string            `json:"appId"`
	Environment    *string            `json:"environment"`
	IdentifyBy     *string            `json:"identifyBy"`
	Secrets        map[string]*string `json:"secrets"`
	AllowedOrigins *[]string          `json:"allowedOrigins"`
}

type secretInfoResponse struct {
	Name               string     `json:"name"`
	UpdatedAt          timestamp  `json:"updatedAt"`
	PreviousValidUntil *timestamp `json:"previousValidUntil"`
}

type channelSettingsResponse struct {
	Secrets        []secretInfoResponse `json:"secrets"`
	AllowedOrigins []string             `json:"allowedOrigins"`
}

type resourceWithSettingsResponse struct {
	resourceResponse
	Settings channelSettingsResponse `json:"settings"`
}

func toSettings(cs service.ChannelSettings) channelSettingsResponse {
	out := channelSettingsResponse{Secrets: []secretInfoResponse{}, AllowedOrigins: cs.AllowedOrigins}
	for _, sec := range cs.Secrets {
		info := secretInfoResponse{Name: string(sec.Name), UpdatedAt: timestamp(sec.UpdatedAt)}
		if sec.PreviousValidUntil != nil {
			until := timestamp(*sec.PreviousValidUntil)
			info.PreviousValidUntil = &until
		}
		out.Secrets = append(out.Secrets, info)
	}
	return out
}

// updateResource changes a resource's name, binding, identity rule,
// secrets (write-only: the answer says which are set, never their values)
// and allowed origins.
func (s *server) updateResource(w http.ResponseWriter, r *http.Request) error {
	var req updateResourceRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	u := service.ResourceUpdate{Name: req.Name}
	if req.DeploymentID != nil || req.AppID != nil || req.Environment != nil {
		u.Binding = &service.ResourceBinding{
			DeploymentID: domain.DeploymentID(deref(req.DeploymentID)),
			AppID:        domain.AppID(deref(req.AppID)),
			Environment:  domain.Environment(deref(req.Environment)),
		}
	}
	if req.IdentifyBy != nil {
		by := domain.IdentifyBy(*req.IdentifyBy)
		u.IdentifyBy = &by
	}
	if req.Secrets != nil {
		u.Settings.Secrets = map[domain.SecretName]string{}
		for name, value := range req.Secrets {
			if value == nil {
				return domain.Errorf(domain.CodeInvalidArgument, "secrets.%s must be a string", name)
			}
			u.Settings.Secrets[domain.SecretName(name)] = *value
		}
	}
	if req.AllowedOrigins != nil {
		u.Settings.AllowedOrigins = append([]string{}, (*req.AllowedOrigins)...)
	}
	res, settings, err := s.svc.UpdateResource(r.Context(), orgOf(r), domain.ResourceID(r.PathValue("resourceId")), u)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, resourceWithSettingsResponse{toResource(res), toSettings(settings)})
}

func (s *server) getResourceSettings(w http.ResponseWriter, r *http.Request) error {
	settings, err := s.svc.GetChannelSettings(r.Context(), orgOf(r), domain.ResourceID(r.PathValue("resourceId")))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toSettings(settings))
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// smsResponse is the outbox record of an outbound SMS: where Parley is in
// sending it (state) and what the provider reported (status).
type smsResponse struct {
	MessageID         string     `json:"messageId"`
	ConversationID    string     `json:"conversationId"`
	ResourceID        string     `json:"resourceId"`
	From              string     `json:"from"`
	To                string     `json:"to"`
	State             string     `json:"state"`
	Status            *string    `json:"status"`
	ProviderMessageID *string    `json:"providerMessageId"`
	Attempts          int        `json:"attempts"`
	NextAttemptAt     *timestamp `json:"nextAttemptAt"`
	ErrorCode         *string    `json:"errorCode"`
	ErrorMessage      *string    `json:"errorMessage"`
	CreatedAt         timestamp  `json:"createdAt"`
	UpdatedAt         timestamp  `json:"updatedAt"`
}

func toSMS(m domain.SMSOutbound) smsResponse {
	out := smsResponse{
		MessageID: string(m.MessageID), ConversationID: string(m.ConversationID), ResourceID: string(m.ResourceID),
		From: m.From, To: m.To, State: string(m.State), Status: optString(m.Status),
		ProviderMessageID: optString(m.ProviderID), Attempts: m.Attempts,
		ErrorCode: optString(m.ErrorCode), ErrorMessage: optString(m.ErrorMessage),
		CreatedAt: timestamp(m.CreatedAt), UpdatedAt: timestamp(m.UpdatedAt),
	}
	if m.State == domain.SMSPending {
		next := timestamp(m.NextAttemptAt)
		out.NextAttemptAt = &next
	}
	return out
}

// getSMS answers the outbox record of an outbound message of an SMS
// conversation (a bot's or an operator's reply). Errors: not_found.
func (s *server) getSMS(w http.ResponseWriter, r *http.Request) error {
	m, err := s.svc.GetSMS(r.Context(), orgOf(r), domain.MessageID(r.PathValue("messageId")))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toSMS(m))
}
