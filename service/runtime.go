package service

import (
	"context"
	"errors"
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
	// VerifyKey, when set, is the secret of the API key the caller acts
	// for, taken from UnverifiedKey: Run checks it in the operation's own
	// transaction (and again before answering a failure), so a revoked
	// key is refused with unauthorized and nothing of the request is
	// applied or recorded.
	VerifyKey string
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

// Run executes a data operation or action by name. Every run is recorded
// with its inputs, output, error code and duration. A business outcome
// commits (the output, false or empty, is written) and is returned in
// RunResult.Error; any other failure changes nothing but the run log and
// is returned as the error. Errors: invalid_argument (unknown name, bad
// inputs or variable, unknown session), identifier_invalid,
// license_required, not_deployed, unavailable, internal.
//
// A run that writes records itself in its own transaction. A read-only
// operation outside a session (find, transcript) reads a snapshot and
// never waits for writers; its record, like that of a failed run, goes to
// the run log (Config.RunLog), which writes it a moment later.
func (s *Service) Run(ctx context.Context, org domain.OrgID, req RunRequest) (RunResult, error) {
	clockStart, startedAt := time.Now(), s.now()
	res, err := s.run(ctx, org, req, clockStart, startedAt)
	if err == nil {
		return res, nil
	}
	if req.VerifyKey != "" && (errors.Is(err, errKeyRejected) || s.keyRejected(ctx, org, req.VerifyKey)) {
		return RunResult{}, errKeyRejected
	}
	s.recordFailure(ctx, org, req, err, clockStart, startedAt)
	return res, err
}

// checkKey verifies req.VerifyKey in tx, when it is set.
func (s *Service) checkKey(ctx context.Context, tx domain.Tx, org domain.OrgID, req RunRequest) error {
	if req.VerifyKey == "" {
		return nil
	}
	return s.verifyKey(ctx, tx, org, req.VerifyKey)
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
	if err := s.requireEnterprise(ctx, nil, org); err != nil {
		return RunResult{}, err
	}
	res := RunResult{RunID: domain.RunID(s.ids.NewID("run")), Kind: op.kind, Name: op.name, Variable: variable}
	if op.readOnly && req.SessionID == "" {
		view := s.store.View
		if op.oneRead {
			view = s.store.ViewLatest
		}
		err = view(ctx, func(tx domain.Tx) (err error) {
			if err := s.checkKey(ctx, tx, org, req); err != nil {
				return err
			}
			res.Value, res.Error, err = op.exec(s, ctx, &runContext{org: org, tx: tx, args: a})
			return err
		})
		if err == nil {
			err = s.answerAlone(ctx, org, res)
		}
		if err != nil {
			return RunResult{}, err
		}
		s.runLog.Record(ctx, s.runRecord(org, req, res, clockStart, startedAt), nil)
		return res, nil
	}
	err = s.update(ctx, org, func(tx domain.Tx) error {
		if err := s.checkKey(ctx, tx, org, req); err != nil {
			return err
		}
		rc := &runContext{org: org, tx: tx, args: a}
		session, err := s.runSession(ctx, rc, req.SessionID, op.deployedOnly)
		if err != nil {
			return err
		}
		if res.Value, res.Error, err = op.exec(s, ctx, rc); err != nil {
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

// runSession loads the run's session and locks its conversation, so runs
// and turns of one conversation take turns and none loses another's
// variables. A deployed-only operation inside a preview run throws
// not_deployed.
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
	conv, err := rc.tx.LockConversation(ctx, rc.org, session.ConversationID)
	if err != nil {
		return nil, err
	}
	if deployedOnly {
		if err := requireDeployed(conv); err != nil {
			return nil, err
		}
	}
	// The variables as of the lock: a run that held it may have changed them.
	if session, err = rc.tx.GetSession(ctx, rc.org, id); err != nil {
		return nil, err
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

// recordFailure logs a thrown failure. Its transaction rolled back, so the
// record goes to the run log, which writes it once the database answers:
// a run that failed because the database was unreachable is recorded when
// it is back (unless the run log's buffer filled up meanwhile).
func (s *Service) recordFailure(ctx context.Context, org domain.OrgID, req RunRequest, failure error, clockStart, startedAt time.Time) {
	res := RunResult{RunID: domain.RunID(s.ids.NewID("run")), Error: &domain.Error{
		Code: domain.ErrorCode(failure), Message: domain.ErrorMessage(failure),
	}}
	rec := s.runRecord(org, req, res, clockStart, startedAt)
	s.runLog.Record(ctx, rec, []domain.Event{runFailedEvent(rec, s.now())})
	if code := res.Error.Code; code == domain.CodeInternal || code == domain.CodeUnavailable {
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
