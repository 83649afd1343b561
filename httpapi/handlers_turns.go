package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/parleyhq/parley/domain"
)

// turnResponse is a bot turn with its trace.
type turnResponse struct {
	ID                   string          `json:"id"`
	ConversationID       string          `json:"conversationId"`
	Number               int64           `json:"number"`
	Trigger              string          `json:"trigger"`
	MessageID            *string         `json:"messageId"`
	VersionID            string          `json:"versionId"`
	Outcome              string          `json:"outcome"`
	Error                *codedMessage   `json:"error"`
	WaitingAt            *string         `json:"waitingAt"`
	Trace                json.RawMessage `json:"trace"`
	DurationMicroseconds int64           `json:"durationMicroseconds"`
	StartedAt            timestamp       `json:"startedAt"`
}

func toTurn(t domain.Turn) turnResponse {
	out := turnResponse{
		ID: string(t.ID), ConversationID: string(t.ConversationID), Number: t.Number, Trigger: t.Trigger,
		MessageID: optString(string(t.MessageID)), VersionID: string(t.VersionID), Outcome: t.Outcome,
		WaitingAt: optString(t.WaitStep), Trace: t.Trace,
		DurationMicroseconds: t.Duration.Microseconds(), StartedAt: timestamp(t.StartedAt),
	}
	if t.ErrorCode != "" {
		out.Error = &codedMessage{Code: t.ErrorCode, Message: t.ErrorMessage}
	}
	if len(out.Trace) == 0 {
		out.Trace = json.RawMessage("null")
	}
	return out
}

// listTurns answers a conversation's bot turns after the turn number
// "after", oldest first.
func (s *server) listTurns(w http.ResponseWriter, r *http.Request) error {
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
	turns, err := s.svc.ListTurns(r.Context(), orgOf(r), conversationID(r), after, limit)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, mapItems(turns, toTurn))
}

func (s *server) getTurn(w http.ResponseWriter, r *http.Request) error {
	t, err := s.svc.GetTurn(r.Context(), orgOf(r), domain.TurnID(r.PathValue("turnId")))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toTurn(t))
}
