package service

import (
	"context"
	"time"

	"github.com/parleyhq/parley/domain"
)

// RunRequest runs a data operation or action by name with literal inputs,
// optionally inside a session (whose variables receive the output).
type RunRequest struct {
	Kind           domain.RunKind
	Name           string
	Inputs         map[string]any
	SessionID      domain.SessionID
	OutputVariable string // renames the default output variable
}

// RunResult is a completed run. Error is set for a business outcome
// (identifier_taken, conversation_closed, conversation_not_found); Value is
// then false, an empty list or nil.
type RunResult struct {
	RunID    domain.RunID
	Kind     domain.RunKind
	Name     string
	Variable string // "" for actions, which write no variable
	Value    any
	Error    *domain.Error
}

// runContext is what an operation sees while it runs.
type runContext struct {
	org  domain.OrgID
	tx   domain.Tx
	args args
	// conv is the conversation of the run's session, nil outside a session.
	conv *domain.Conversation
}

// Run executes a data operation or action. Every run is recorded with its
// inputs, output, error code and duration. A business outcome commits (the
// output, false or empty, is written) and is returned in RunResult.Error;
// any other failure changes nothing but the run log and is returned as the
// error. Errors: invalid_argument (unknown name, bad inputs or variable,
// unknown session), identifier_invalid, license_required, not_deployed,
// internal.
func (s *Service) Run(ctx context.Context, org domain.OrgID, req RunRequest) (RunResult, error) {
	clockStart, startedAt := time.Now(), s.now()
	res, err := s.run(ctx, org, req, clockStart, startedAt)
	if err != nil {
		s.recordFailure(ctx, org, req, err, clockStart, startedAt)
	}
	return res, err
}

func (s *Service) run(ctx context.Context, org domain.OrgID, req RunRequest, clockStart, startedAt time.Time) (RunResult, error) {
	op, err := lookupOperation(req.Kind, req.Name)
	if err != nil {
		return RunResult{}, err
	}
	variable, err := op.outputVariable(req.OutputVariable)
	if err != nil {
		return RunResult{}, err
	}
	if req.SessionID != "" {
		if err := checkID("sessionId", string(req.SessionID)); err != nil {
			return RunResult{}, err
		}
	}
	a, err := op.parse(s.identifiers, req.Inputs)
	if err != nil {
		return RunResult{}, err
	}
	// An operation that writes nothing but its run record (find and
	// transcript outside a session) need not wait for the org's writers.
	write := func(fn func(domain.Tx) error) error { return s.update(ctx, org, fn) }
	if op.readOnly && req.SessionID == "" {
		write = func(fn func(domain.Tx) error) error { return s.store.Update(ctx, fn) }
	}
	var res RunResult
	err = write(func(tx domain.Tx) error {
		var session *domain.Session
		res, session, err = s.execute(ctx, tx, org, req, op, variable, a)
		if err != nil {
			return err
		}
		if session != nil && variable != "" {
			vars := cloneVariables(session.Variables)
			vars[variable] = res.Value
			if err := tx.SetSessionVariables(ctx, org, session.ID, vars, s.now()); err != nil {
				return err
			}
		}
		if err := tx.RecordRun(ctx, s.runRecord(org, req, res, clockStart, startedAt)); err != nil {
			return err
		}
		return s.answer(ctx, tx, res)
	})
	if err != nil {
		return RunResult{}, err
	}
	return res, nil
}

// execute checks the licence, loads the session and runs the operation in
// tx; it returns the result and the run's session (nil outside one).
func (s *Service) execute(ctx context.Context, tx domain.Tx, org domain.OrgID, req RunRequest, op operation, variable string, a args) (RunResult, *domain.Session, error) {
	if err := s.requireEnterprise(ctx, tx, org); err != nil {
		return RunResult{}, nil, err
	}
	rc := &runContext{org: org, tx: tx, args: a}
	session, err := s.runSession(ctx, rc, req.SessionID, op.deployedOnly)
	if err != nil {
		return RunResult{}, nil, err
	}
	value, outcome, err := op.exec(s, ctx, rc)
	if err != nil {
		return RunResult{}, nil, err
	}
	return RunResult{
		RunID: domain.RunID(s.ids.NewID("run")), Kind: op.kind, Name: op.name,
		Variable: variable, Value: value, Error: outcome,
	}, session, nil
}

// runSession loads the run's session and its conversation. A deployed-only
// operation inside a preview run throws not_deployed.
func (s *Service) runSession(ctx context.Context, rc *runContext, id domain.SessionID, deployedOnly bool) (*domain.Session, error) {
	if id == "" {
		return nil, nil
	}
	session, err := rc.tx.GetSession(ctx, rc.org, id)
	if domain.IsNotFound(err) {
		return nil, invalidf("sessionId %s does not name a session", id)
	}
	if err != nil {
		return nil, err
	}
	conv, err := rc.tx.GetConversation(ctx, rc.org, session.ConversationID)
	if err != nil {
		return nil, err
	}
	if deployedOnly {
		if err := requireDeployed(conv); err != nil {
			return nil, err
		}
	}
	rc.conv = &conv
	return &session, nil
}

func (s *Service) runRecord(org domain.OrgID, req RunRequest, res RunResult, clockStart, startedAt time.Time) domain.OperationRun {
	r := domain.OperationRun{
		ID: res.RunID, OrgID: org, Kind: req.Kind, Name: printable(req.Name, 80),
		SessionID: domain.SessionID(printable(string(req.SessionID), maxIDLen)),
		Inputs:    req.Inputs, Variable: res.Variable, Output: res.Value,
		Duration: time.Since(clockStart), StartedAt: startedAt,
	}
	if res.Error != nil {
		r.ErrorCode, r.ErrorMessage = res.Error.Code, res.Error.Message
	}
	return r
}

// recordFailure logs a thrown failure in the run log, in a transaction of
// its own since the run's transaction rolled back.
func (s *Service) recordFailure(ctx context.Context, org domain.OrgID, req RunRequest, failure error, clockStart, startedAt time.Time) {
	res := RunResult{RunID: domain.RunID(s.ids.NewID("run")), Error: &domain.Error{
		Code: domain.ErrorCode(failure), Message: domain.ErrorMessage(failure),
	}}
	rec := s.runRecord(org, req, res, clockStart, startedAt)
	// Inserts only: no need to wait for the org's other writers.
	err := s.store.Update(ctx, func(tx domain.Tx) error {
		if err := tx.RecordRun(ctx, rec); err != nil {
			return err
		}
		return tx.AppendEvent(ctx, runFailedEvent(rec, s.now()))
	})
	if err != nil {
		s.log.Error("recording a failed run", "org", org, "operation", req.Name, "err", err)
	}
	if rec.ErrorCode == domain.CodeInternal {
		s.log.Error("operation failed", "org", org, "operation", req.Name, "err", failure)
	}
}

// runFailedEvent is the run.failed event of a failed run's record.
func runFailedEvent(r domain.OperationRun, at time.Time) domain.Event {
	return domain.Event{
		OrgID: r.OrgID, Type: domain.EventRunFailed, Subject: string(r.ID), CreatedAt: at,
		Payload: map[string]any{
			"runId": string(r.ID), "kind": string(r.Kind), "name": r.Name, "sessionId": string(r.SessionID),
			"errorCode": r.ErrorCode, "errorMessage": r.ErrorMessage,
		},
	}
}

func cloneVariables(vars map[string]any) map[string]any {
	out := make(map[string]any, len(vars)+1)
	for k, v := range vars {
		out[k] = v
	}
	return out
}
