package httpapi

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/service"
)

// Conversations.

// partyRequest is the party of a new conversation, in both start requests.
type partyRequest struct {
	ResourceID          string  `json:"resourceId"`
	ExternalID          string  `json:"externalId"`
	CustomerDestination string  `json:"customerDestination"`
	CustomerIdentifier  *string `json:"customerIdentifier"` // nil when absent or null
}

// party returns the service's party. Errors: identifier_invalid.
func (p partyRequest) party() (service.Party, error) {
	ident, err := optionalIdentifier("customerIdentifier", p.CustomerIdentifier)
	return service.Party{
		ResourceID: domain.ResourceID(p.ResourceID), ExternalID: p.ExternalID,
		CustomerDestination: p.CustomerDestination, CustomerIdentifier: ident,
	}, err
}

// optionalIdentifier reads an optional identifier field: absent (or null)
// means no identifier; present, it must be an identifier, so empty or
// blank text is identifier_invalid as it is everywhere else.
func optionalIdentifier(field string, v *string) (string, error) {
	if v == nil {
		return "", nil
	}
	if strings.TrimSpace(*v) == "" {
		return "", domain.Errorf(domain.CodeIdentifierInvalid,
			"%s is empty; leave it out (or null) for no identifier", field)
	}
	return *v, nil
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
	party, err := req.party()
	if err != nil {
		return err
	}
	answer := answerWith(r, http.StatusCreated, toStarted)
	st, err := s.svc.StartConversation(r.Context(), orgOf(r), service.StartInput{
		DeploymentID: domain.DeploymentID(req.DeploymentID), Party: party,
	})
	if err != nil {
		return err
	}
	return answer(w, st)
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
	party, err := req.party()
	if err != nil {
		return err
	}
	answer := answerWith(r, http.StatusCreated, toStarted)
	st, err := s.svc.StartPreview(r.Context(), orgOf(r), service.PreviewInput{
		VersionID: domain.VersionID(req.VersionID), Party: party,
	})
	if err != nil {
		return err
	}
	return answer(w, st)
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
		last := cs[len(cs)-1]
		page.NextCursor = encodeCursor(last.StartedAt, string(last.ID))
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
		var id string
		if f.BeforeStartedAt, id, err = decodeCursor(c); err != nil {
			return f, err
		}
		f.BeforeID = domain.ConversationID(id)
	}
	return f, nil
}

// encodeCursor makes an opaque keyset cursor: the time and id of the last
// item of a page.
func encodeCursor(at time.Time, id string) *string {
	raw := strconv.FormatInt(at.UnixMicro(), 10) + "|" + id
	cursor := base64.RawURLEncoding.EncodeToString([]byte(raw))
	return &cursor
}

// decodeCursor reads a cursor made by encodeCursor.
// Errors: invalid_argument.
func decodeCursor(cursor string) (time.Time, string, error) {
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
	return at, id, nil
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
	// Direction is inbound (the customer's message: the bot answers; the
	// default) or outbound (an operator's message).
	Direction string `json:"direction"`
	Text      string `json:"text"`
	// ClientID is the sender's id of an inbound message: resending it
	// stores nothing and answers the first message again. Absent means
	// none; present and empty is invalid_argument.
	ClientID *string `json:"clientId"`
}

// addMessage writes a message; an inbound one runs the bot's turn and the
// answer carries its replies. A resent clientId answers 200 with the
// message stored the first time.
func (s *server) addMessage(w http.ResponseWriter, r *http.Request) error {
	var req addMessageRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.Direction == "" {
		req.Direction = string(domain.Inbound)
	}
	if req.ClientID != nil && *req.ClientID == "" {
		return domain.Errorf(domain.CodeInvalidArgument, "clientId is empty: leave it out for a message without one")
	}
	answer := answerWithStatus(r, receivedStatus, toReceived)
	rec, err := s.svc.AddMessage(r.Context(), orgOf(r), conversationID(r), domain.Direction(req.Direction), req.Text, deref(req.ClientID))
	if err != nil {
		return err
	}
	return answer(w, rec)
}

// receivedStatus is 201 for a new message, 200 for a duplicate (its
// clientId was received before).
func receivedStatus(rec service.Received) int {
	if rec.Duplicate {
		return http.StatusOK
	}
	return http.StatusCreated
}

// listMessages answers the messages after the cursor: a sequence number,
// or (as in earlier versions) the id of a message of the conversation.
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
	afterSeq, err := s.svc.MessageCursor(r.Context(), orgOf(r), conversationID(r), after)
	if err != nil {
		return err
	}
	ms, err := s.svc.ListMessages(r.Context(), orgOf(r), conversationID(r), afterSeq, limit)
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
