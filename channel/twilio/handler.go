package twilio

import (
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/parleyhq/parley/channel"
	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/service"
)

// emptyTwiML answers an inbound message: the bot's replies go out through
// the outbox, not in the webhook's answer.
const emptyTwiML = `<?xml version="1.0" encoding="UTF-8"?><Response></Response>`

// maxForm bounds a webhook's form; Twilio's are a few kilobytes.
const maxForm = 64 << 10

// Handler serves Twilio's webhooks for the SMS resources:
// POST /channels/twilio/{resourceId}/messages (inbound messages) and
// POST /channels/twilio/{resourceId}/status (status callbacks).
// Handlers return coded errors; the HTTP layer writes them as problems.
type Handler struct {
	Service *service.Service
	// PublicBaseURL is the scheme and host Twilio requests (e.g.
	// https://parley.example.com) when this server sits behind a proxy;
	// "" uses the request's own Host and scheme.
	PublicBaseURL string
	Logger        *slog.Logger
	Metrics       *channel.Metrics
}

// Inbound receives an incoming SMS: X-Twilio-Signature checked with the
// resource's auth token (403 and nothing stored when bad or missing), the
// message handed to the conversation of its sender (a retried webhook,
// same MessageSid, is stored once), and an empty TwiML answer.
func (h *Handler) Inbound(w http.ResponseWriter, r *http.Request) error {
	ch, form, err := h.verified(r)
	if err != nil {
		h.Metrics.Message("sms", "in", "refused")
		return err
	}
	sid, from, body := form.Get("MessageSid"), form.Get("From"), form.Get("Body")
	switch {
	case sid == "":
		return h.refuse(domain.Errorf(domain.CodeInvalidArgument, "MessageSid is required"))
	case from == "":
		return h.refuse(domain.Errorf(domain.CodeInvalidArgument, "From is required"))
	case strings.TrimSpace(body) == "":
		// A picture without text: nothing Parley can store yet. Twilio
		// must not retry it, so the answer is still a success.
		h.Metrics.Message("sms", "in", "ignored_media")
		h.log().Info("twilio: inbound message without text ignored", "resource", ch.Resource.ID, "messageSid", sid)
		return writeTwiML(w)
	}
	rec, err := h.Service.ReceiveSMS(r.Context(), ch.Resource.OrgID, service.Inbound{
		ResourceID: ch.Resource.ID, Destination: from, Text: body, ClientID: sid,
	})
	if err != nil {
		return h.refuse(err)
	}
	if rec.Duplicate {
		h.Metrics.Message("sms", "in", "duplicate")
	} else {
		h.Metrics.Message("sms", "in", "stored")
	}
	return writeTwiML(w)
}

// Status records a status callback: the message's delivery status moves
// forward only, whatever order callbacks arrive in.
func (h *Handler) Status(w http.ResponseWriter, r *http.Request) error {
	ch, form, err := h.verified(r)
	if err != nil {
		return err
	}
	status := form.Get("MessageStatus")
	if status == "" {
		status = form.Get("SmsStatus")
	}
	if !service.KnownSMSStatus(status) {
		// Statuses Parley does not track (receiving, read...) change nothing.
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	err = h.Service.RecordSMSStatus(r.Context(), ch.Resource.OrgID, service.SMSStatusUpdate{
		ResourceID: ch.Resource.ID, MessageID: domain.MessageID(r.URL.Query().Get("m")),
		ProviderID: form.Get("MessageSid"), Status: status, ErrorCode: form.Get("ErrorCode"),
	})
	if err != nil {
		return err
	}
	h.Metrics.Message("sms", "out", status)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// verified loads the resource named by the path and checks the request's
// signature. Errors: not_found (resource), invalid_argument (form),
// forbidden (signature).
func (h *Handler) verified(r *http.Request) (service.Channel, url.Values, error) {
	ch, err := h.Service.LoadChannel(r.Context(), domain.ResourceID(r.PathValue("resourceId")), domain.ResourceSMS)
	if err != nil {
		return ch, nil, err
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		return ch, nil, domain.Errorf(domain.CodeInvalidArgument, "the body must be a form (application/x-www-form-urlencoded), as Twilio posts it")
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxForm+1))
	if err != nil {
		return ch, nil, domain.Errorf(domain.CodeInvalidArgument, "reading the form: %v", err)
	}
	if len(raw) > maxForm {
		return ch, nil, domain.Errorf(domain.CodePayloadTooLarge, "the form is larger than %d bytes", maxForm)
	}
	form, err := url.ParseQuery(string(raw))
	if err != nil {
		return ch, nil, domain.Errorf(domain.CodeInvalidArgument, "malformed form: %v", err)
	}
	tokens := ch.VerifyingSecrets(domain.SecretTwilioAuthToken, h.Service.Now())
	if len(tokens) == 0 {
		return ch, nil, domain.Errorf(domain.CodeForbidden, "resource %s has no twilioAuthToken to verify %s with", ch.Resource.ID, SignatureHeader)
	}
	if !ValidSignature(r.Header.Get(SignatureHeader), h.publicURL(r), form, tokens...) {
		h.log().Warn("twilio: refused a request with a bad or missing signature", "resource", ch.Resource.ID, "url", h.publicURL(r))
		return ch, nil, domain.Errorf(domain.CodeForbidden, "%s is missing or does not match this URL, form and the resource's auth token", SignatureHeader)
	}
	if account, want := form.Get("AccountSid"), ch.Secret(domain.SecretTwilioAccountSID); account != "" && want != "" && account != want {
		return ch, nil, domain.Errorf(domain.CodeForbidden, "AccountSid does not match the resource's twilioAccountSid")
	}
	return ch, form, nil
}

// publicURL is the URL Twilio requested, as it signed it.
func (h *Handler) publicURL(r *http.Request) string {
	if h.PublicBaseURL != "" {
		return strings.TrimRight(h.PublicBaseURL, "/") + r.URL.RequestURI()
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + r.URL.RequestURI()
}

func (h *Handler) refuse(err error) error {
	h.Metrics.Message("sms", "in", "refused")
	return err
}

func (h *Handler) log() *slog.Logger {
	if h.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Logger
}

func writeTwiML(w http.ResponseWriter) error {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, err := io.WriteString(w, emptyTwiML)
	return err
}
