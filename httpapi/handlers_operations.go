package httpapi

import (
	"net/http"
	"slices"
	"strings"

	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/service"
)

// Data operations and actions.

type runRequest struct {
	Inputs         map[string]any `json:"inputs"`
	SessionID      string         `json:"sessionId"`
	OutputVariable string         `json:"outputVariable"`
}

func (s *server) runDataOperation(w http.ResponseWriter, r *http.Request) error {
	answer := answerWith(r, http.StatusOK, toOperationResult)
	res, err := s.runOperation(r, domain.KindDataOperation)
	if err != nil {
		return err
	}
	return answer(w, res)
}

func (s *server) runAction(w http.ResponseWriter, r *http.Request) error {
	answer := answerWith(r, http.StatusOK, toActionResult)
	res, err := s.runOperation(r, domain.KindAction)
	if err != nil {
		return err
	}
	return answer(w, res)
}

func toOperationResult(res service.RunResult) operationResultResponse {
	return operationResultResponse{
		Operation: res.Name, Variable: optString(res.Variable), Value: res.Value,
		Error: toOutcome(res.Error), RunID: string(res.RunID),
	}
}

func toActionResult(res service.RunResult) actionResultResponse {
	return actionResultResponse{
		Action: res.Name, Variable: optString(res.Variable), Value: res.Value,
		Error: toOutcome(res.Error), RunID: string(res.RunID),
	}
}

// runOperation runs the named operation and counts its outcome. A business
// outcome is in the result; a thrown failure is the error.
func (s *server) runOperation(r *http.Request, kind domain.RunKind) (service.RunResult, error) {
	name := r.PathValue("name")
	var req runRequest
	if err := decodeJSON(r, &req); err != nil {
		return service.RunResult{}, err
	}
	info := infoOf(r)
	res, err := s.svc.Run(r.Context(), orgOf(r), service.RunRequest{
		Kind: kind, Name: name, Inputs: req.Inputs,
		SessionID: domain.SessionID(req.SessionID), OutputVariable: req.OutputVariable,
		VerifyKey: info.verifyKey,
	})
	// Run has verified the key, whatever its outcome: keyFirst need not
	// look it up again.
	info.verifyKey = ""

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

// listEvents answers the events after the after cursor, oldest first,
// filtered by type (type=a&type=b or type=a,b: any of them), customerId
// (the customer's conversations included) and conversationId.
func (s *server) listEvents(w http.ResponseWriter, r *http.Request) error {
	f, err := eventFilter(r)
	if err != nil {
		return err
	}
	events, err := s.svc.FindEvents(r.Context(), orgOf(r), f)
	if err != nil {
		return err
	}
	page := eventPageResponse{Items: mapItems(events, toEvent).Items, Next: f.After}
	if len(events) > 0 {
		page.Next = events[len(events)-1].Seq
	}
	return writeJSON(w, http.StatusOK, page)
}

// eventFilter reads the query of listEvents. Errors: invalid_argument.
func eventFilter(r *http.Request) (domain.EventFilter, error) {
	var f domain.EventFilter
	q, err := queryValues(r)
	if err != nil {
		return f, err
	}
	if f.Limit, err = queryLimit(q); err != nil {
		return f, err
	}
	if f.After, err = queryInt(q, "after", 0); err != nil {
		return f, err
	}
	for _, v := range q["type"] {
		for t := range strings.SplitSeq(v, ",") {
			if t = strings.TrimSpace(t); t != "" && !slices.Contains(f.Types, t) {
				f.Types = append(f.Types, t)
			}
		}
	}
	if q.Has("type") && len(f.Types) == 0 {
		return f, invalid("query parameter type is empty; leave it out for every type")
	}
	customer, err := queryID(q, "customerId")
	if err != nil {
		return f, err
	}
	conversation, err := queryID(q, "conversationId")
	f.CustomerID, f.ConversationID = domain.CustomerID(customer), domain.ConversationID(conversation)
	return f, err
}
