package service

import (
	"context"
	"time"

	"github.com/parleyhq/parley/bot"
	"github.com/parleyhq/parley/domain"
)

// turnHost is the bot's host during a turn: it writes the bot's messages
// and runs its operations in the turn's transaction, with the same code as
// the API's data operations and actions.
type turnHost struct {
	s       *Service
	tx      domain.Tx
	conv    domain.Conversation // as it is now (an operation may close it)
	kind    domain.ResourceKind
	replies []domain.Message
}

// Send writes a bot message. Errors: invalid_argument (text),
// conversation_closed.
func (h *turnHost) Send(ctx context.Context, text string) error {
	if err := checkMessage(text); err != nil {
		return err
	}
	m, err := h.s.appendMessage(ctx, h.tx, h.conv, domain.AuthorBot, text, "")
	if err != nil {
		return err
	}
	h.replies = append(h.replies, m)
	return nil
}

// Run runs an operation inside the conversation's session and records its
// run, whatever the outcome; a thrown failure also writes run.failed.
// Errors: as Service.Run.
func (h *turnHost) Run(ctx context.Context, call bot.Call) (bot.Result, error) {
	clockStart, startedAt := time.Now(), h.s.now()
	req := RunRequest{Kind: domain.RunKind(call.Kind), Name: call.Name, Inputs: call.Inputs, SessionID: h.conv.SessionID}
	op, err := lookupOperation(req.Kind, req.Name)
	if err != nil {
		return bot.Result{}, err
	}
	res := RunResult{RunID: domain.RunID(h.s.ids.NewID("run")), Kind: op.kind, Name: op.name, Variable: call.Variable}
	res.Value, res.Error, err = h.exec(ctx, op, call.Inputs)
	if err != nil {
		code := domain.ErrorCode(err)
		if code == domain.CodeInternal || code == domain.CodeConflict {
			return bot.Result{}, err // the store failed: the turn rolls back
		}
		res.Value, res.Error = nil, &domain.Error{Code: code, Message: domain.ErrorMessage(err)}
	}
	rec := h.s.runRecord(h.conv.OrgID, req, res, clockStart, startedAt)
	if rerr := h.tx.RecordRun(ctx, rec); rerr != nil {
		return bot.Result{}, rerr
	}
	out := bot.Result{Value: res.Value, Outcome: res.Error, RunID: string(res.RunID)}
	if err != nil {
		return out, h.runFailed(ctx, rec, err)
	}
	if !op.readOnly {
		if err := h.refresh(ctx, &out); err != nil {
			return bot.Result{}, err
		}
	}
	return out, nil
}

// exec checks the inputs, the licence and the deployed-only rule, and runs
// the operation on the current conversation.
func (h *turnHost) exec(ctx context.Context, op operation, inputs map[string]any) (any, *domain.Error, error) {
	a, err := op.parse(h.s.identifiers, inputs)
	if err != nil {
		return nil, nil, err
	}
	if err := h.s.requireEnterprise(ctx, h.tx, h.conv.OrgID); err != nil {
		return nil, nil, err
	}
	if op.deployedOnly {
		if err := requireDeployed(h.conv); err != nil {
			return nil, nil, err
		}
	}
	conv := h.conv
	return op.exec(h.s, ctx, &runContext{org: h.conv.OrgID, tx: h.tx, args: a, conv: &conv})
}

// runFailed writes run.failed for a thrown failure (as the API's failed
// runs do, with the conversation) and returns the failure.
func (h *turnHost) runFailed(ctx context.Context, rec domain.OperationRun, failure error) error {
	e := runFailedEvent(rec, h.s.now())
	e.Payload["conversationId"] = string(h.conv.ID)
	if err := h.tx.AppendEvent(ctx, e); err != nil {
		return err
	}
	return failure
}

// refresh reloads the conversation and its customer after an operation
// that may have changed them, so later steps see the change.
func (h *turnHost) refresh(ctx context.Context, out *bot.Result) error {
	conv, err := h.tx.GetConversation(ctx, h.conv.OrgID, h.conv.ID)
	if err != nil {
		return err
	}
	customer, err := h.tx.GetCustomer(ctx, conv.OrgID, conv.CustomerID)
	if err != nil {
		return err
	}
	h.conv = conv
	cv, cu := conversationView(conv, h.kind), customerView(customer)
	out.Conversation, out.Customer = &cv, &cu
	return nil
}
