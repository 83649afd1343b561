package console

import (
	"net/http"
	"net/url"
	"slices"

	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/service"
)

// runErrorCodes are the error codes a run can record, offered as filters.
var runErrorCodes = []string{
	domain.CodeIdentifierTaken, domain.CodeConversationClosed, domain.CodeConversationNotFound,
	domain.CodeLicenseRequired, domain.CodeNotDeployed, domain.CodeIdentifierInvalid,
	domain.CodeInvalidArgument, domain.CodeConflict, domain.CodeInternal,
}

type runsView struct {
	// The filters: operation name, outcome ("failed" or an error code) and
	// session.
	Operation, Outcome, Session string
	Operations, Codes           []string
	Runs                        []domain.OperationRun
	Next                        string
	Filtered                    bool
	// Single shows one run, without the filters.
	Single bool
}

// runs lists the run log, newest first, filtered by operation and error.
func (c *Console) runs(w http.ResponseWriter, r *http.Request, op *operator) error {
	q := r.URL.Query()
	v := runsView{Operation: q.Get("operation"), Outcome: q.Get("outcome"), Session: q.Get("session"), Codes: runErrorCodes}
	for _, info := range service.Operations() {
		if !slices.Contains(v.Operations, info.Name) {
			v.Operations = append(v.Operations, info.Name)
		}
	}
	slices.Sort(v.Operations)
	f := domain.RunFilter{Name: v.Operation, SessionID: domain.SessionID(v.Session),
		Before: domain.RunID(q.Get("before")), Limit: pageSize + 1}
	switch v.Outcome {
	case "":
	case "failed":
		f.Failed = true
	default:
		f.ErrorCode = v.Outcome
	}
	v.Filtered = f.Name != "" || f.Failed || f.ErrorCode != "" || f.SessionID != ""
	var err error
	if v.Runs, err = c.svc.FindRuns(r.Context(), op.org.ID, f); err != nil {
		return err
	}
	if len(v.Runs) > pageSize {
		v.Runs = v.Runs[:pageSize]
		next := url.Values{"before": {string(v.Runs[pageSize-1].ID)}}
		for name, value := range map[string]string{"operation": v.Operation, "outcome": v.Outcome, "session": v.Session} {
			if value != "" {
				next.Set(name, value)
			}
		}
		v.Next = "/console/runs?" + next.Encode()
	}
	return c.render(w, r, http.StatusOK, "runs", page{Title: "Runs", Nav: "runs", Op: op, Data: v})
}

// runConversation returns the conversation a run's inputs name, "" when
// none (its conversationId or conversation input).
func runConversation(inputs map[string]any) string {
	for _, name := range []string{"conversationId", "conversation"} {
		if id, ok := inputs[name].(string); ok && id != "" {
			return id
		}
	}
	return ""
}

// run shows one run of the log.
func (c *Console) run(w http.ResponseWriter, r *http.Request, op *operator) error {
	run, err := c.svc.GetRun(r.Context(), op.org.ID, domain.RunID(r.PathValue("runId")))
	if err != nil {
		return err
	}
	v := runsView{Runs: []domain.OperationRun{run}, Single: true}
	return c.render(w, r, http.StatusOK, "runs", page{Title: "Run " + string(run.ID), Nav: "runs", Op: op, Data: v})
}
