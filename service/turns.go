package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/parleyhq/parley/bot"
	"github.com/parleyhq/parley/domain"
)

// Trigger names what starts a bot turn.
type Trigger string

// The triggers a definition can start a chain on.
const (
	// TriggerConversationStarted runs once, when a conversation starts.
	TriggerConversationStarted Trigger = "conversation_started"
	// TriggerMessageReceived runs on an inbound message while the bot is
	// not waiting for an answer.
	TriggerMessageReceived Trigger = "message_received"
)

// turnEvent is one event a conversation's bot handles.
type turnEvent struct {
	Trigger Trigger
	// Message is the inbound message of the turn: the customer's message
	// for message_received (or the answer a waiting ask receives), the
	// message that started the conversation for conversation_started, nil
	// for a conversation started through the API.
	Message *domain.Message
}

// turnOutcome is what a turn did.
type turnOutcome struct {
	// Conversation is the conversation after the turn (a close step closes
	// it).
	Conversation domain.Conversation
	// Replies are the messages the bot sent, in order.
	Replies []domain.Message
}

// maxTurnDepth bounds turns started inside turns (a bot starting a
// conversation whose bot starts one...).
const maxTurnDepth = 3

// Failure codes of turns that could not run their bot.
const (
	codeTurnDepth    = "turn_depth_exceeded"
	codeTurnInternal = domain.CodeInternal
)

// runTurn runs conv's bot for ev inside tx, which holds conv's lock (or
// created conv), and persists what it did in tx: the bot's messages (as
// they are sent), the operations' runs, the session variables, the wait
// state, the close, the turn's record and trace, and a turn.failed event
// when the chain broke. A failing bot never fails the transaction: its
// failure is in the trace. Only a failure of the store does (returned as a
// *turnFailure, which update answers by storing the event without the
// turn).
func (s *Service) runTurn(ctx context.Context, tx domain.Tx, conv domain.Conversation, ev turnEvent) (turnOutcome, error) {
	out := turnOutcome{Conversation: conv}
	if conv.Status != domain.StatusLive {
		return out, nil
	}
	versionID, err := s.bots.versionOf(ctx, tx, conv)
	if err != nil {
		return out, err
	}
	b, loadErr := s.bots.load(ctx, tx, conv.OrgID, versionID)
	if loadErr != nil && domain.ErrorCode(loadErr) != domain.CodeInvalidDefinition {
		return out, loadErr
	}
	start, err := tx.TurnStart(ctx, conv)
	if err != nil {
		return out, err
	}
	last := start.Last
	if b != nil && b.Empty() && !start.HasTurns {
		return out, nil // a bot that does nothing records nothing
	}
	rec := domain.Turn{
		ID: domain.TurnID(s.ids.NewID("turn")), OrgID: conv.OrgID, ConversationID: conv.ID,
		Number: last.Number + 1, Trigger: string(ev.Trigger), VersionID: versionID, StartedAt: s.now(),
		WaitStep: last.WaitStep, WaitAttempts: last.WaitAttempts,
	}
	if ev.Message != nil {
		rec.MessageID = ev.Message.ID
	}
	depth, _ := ctx.Value(turnDepthKey{}).(int)
	var skipped *bot.Failure
	switch off, isOff := tx.(botsOffTx); {
	case isOff:
		skipped = &bot.Failure{Code: codeTurnInternal, Message: "the turn failed in the store and was not run; the message is kept: " + domain.ErrorMessage(off.cause)}
	case loadErr != nil:
		skipped = &bot.Failure{Code: domain.CodeInvalidDefinition, Message: domain.ErrorMessage(loadErr)}
	case depth >= maxTurnDepth:
		skipped = &bot.Failure{Code: codeTurnDepth, Message: fmt.Sprintf("a turn started %d turns deep (bots starting conversations whose bots start conversations) is not run", depth)}
	}
	if skipped != nil {
		// The bot did not run: it keeps waiting where it waited.
		turn := &bot.Turn{Outcome: bot.OutcomeFailed, Failure: skipped,
			Trace: bot.Trace{Trigger: string(ev.Trigger), Steps: []bot.StepTrace{}, Outcome: bot.OutcomeFailed, Error: skipped}}
		if last.WaitStep != "" {
			turn.Wait = &bot.Wait{Step: last.WaitStep, Attempts: last.WaitAttempts}
		}
		return out, s.saveTurn(ctx, tx, conv, &rec, turn, time.Now())
	}
	out, err = s.runBot(context.WithValue(ctx, turnDepthKey{}, depth+1), tx, conv, ev, b, &rec, start)
	if _, failed := errTurnFailure(err); err != nil && !failed {
		err = &turnFailure{cause: err}
	}
	return out, err
}

type turnDepthKey struct{}

// runBot runs the bot's turn from the session and customer of start and
// persists it.
func (s *Service) runBot(ctx context.Context, tx domain.Tx, conv domain.Conversation, ev turnEvent, b *bot.Bot, rec *domain.Turn, start domain.TurnStart) (turnOutcome, error) {
	clockStart := time.Now()
	session, customer := start.Session, start.Customer
	kind, err := s.bots.resourceKind(ctx, tx, conv.OrgID, conv.ResourceID)
	if err != nil {
		return turnOutcome{}, err
	}
	event := bot.Event{
		Trigger:      string(ev.Trigger),
		Input:        bot.Input{Channel: string(kind), Time: conv.StartedAt},
		Conversation: conversationView(conv, kind),
		Customer:     customerView(customer),
		Variables:    session.Variables,
	}
	if ev.Message != nil {
		event.Input.Text, event.Input.Time = ev.Message.Text, ev.Message.CreatedAt
	}
	if rec.WaitStep != "" && ev.Trigger == TriggerMessageReceived {
		event.Wait = &bot.Wait{Step: rec.WaitStep, Attempts: rec.WaitAttempts}
	}
	host := &turnHost{s: s, tx: tx, conv: conv, kind: kind}
	turn := runSafely(ctx, b, host, event)
	if turn.Err != nil {
		return turnOutcome{}, &turnFailure{cause: turn.Err}
	}
	if turn.VariablesChanged {
		if err := tx.SetSessionVariables(ctx, conv.OrgID, session.ID, turn.Variables, s.now()); err != nil {
			return turnOutcome{}, &turnFailure{cause: err}
		}
	}
	if turn.Close && host.conv.Status == domain.StatusLive {
		if host.conv, err = s.closeConversation(ctx, tx, host.conv); err != nil {
			return turnOutcome{}, &turnFailure{cause: err}
		}
	}
	if err := s.saveTurn(ctx, tx, host.conv, rec, turn, clockStart); err != nil {
		return turnOutcome{}, &turnFailure{cause: err}
	}
	return turnOutcome{Conversation: host.conv, Replies: host.replies}, nil
}

// runSafely runs a turn; a panic (a defect) fails the turn like a store
// failure, so it never reaches a client.
func runSafely(ctx context.Context, b *bot.Bot, host bot.Host, ev bot.Event) (turn *bot.Turn) {
	defer func() {
		if p := recover(); p != nil {
			turn = &bot.Turn{Err: fmt.Errorf("bot: panic in a turn: %v", p)}
		}
	}()
	return b.Run(ctx, host, ev)
}

// saveTurn writes the turn's record and trace, and turn.failed for a
// broken chain.
func (s *Service) saveTurn(ctx context.Context, tx domain.Tx, conv domain.Conversation, rec *domain.Turn, turn *bot.Turn, clockStart time.Time) error {
	rec.Outcome = turn.Outcome
	rec.WaitStep, rec.WaitAttempts = "", 0
	if turn.Wait != nil {
		rec.WaitStep, rec.WaitAttempts = turn.Wait.Step, turn.Wait.Attempts
	}
	if f := turn.Failure; f != nil {
		rec.ErrorCode, rec.ErrorMessage = f.Code, f.Message
	}
	rec.Duration = time.Since(clockStart)
	turn.Trace.DurationUS = rec.Duration.Microseconds()
	trace, err := json.Marshal(turn.Trace)
	if err != nil {
		return err
	}
	rec.Trace = trace
	if err := tx.SaveTurn(ctx, *rec); err != nil {
		return err
	}
	if turn.Failure == nil {
		return nil
	}
	s.log.Info("bot turn failed", "org", conv.OrgID, "conversation", conv.ID, "turn", rec.ID,
		"step", turn.Failure.Step, "code", turn.Failure.Code)
	return tx.AppendEvent(ctx, domain.Event{
		OrgID: conv.OrgID, Type: domain.EventTurnFailed, Subject: string(conv.ID), CreatedAt: rec.StartedAt,
		Payload: map[string]any{
			"conversationId": string(conv.ID), "turnId": string(rec.ID), "step": turn.Failure.Step,
			"errorCode": turn.Failure.Code, "errorMessage": turn.Failure.Message, "messageId": nullIfEmpty(string(rec.MessageID)),
		},
	})
}

// turnFailure is a turn that failed in the store, not in the bot: the
// transaction rolls back, and update stores the event again without
// running the bot (botsOffTx), so the customer's message is never lost.
type turnFailure struct{ cause error }

func (e *turnFailure) Error() string { return "bot turn: " + e.cause.Error() }
func (e *turnFailure) Unwrap() error { return e.cause }

// botsOffTx marks the transaction that stores an event whose turn failed
// in the store: its turns record the failure instead of running.
type botsOffTx struct {
	domain.Tx
	cause error
}

// conversationView is what expressions see of a conversation.
func conversationView(c domain.Conversation, kind domain.ResourceKind) bot.Conversation {
	return bot.Conversation{
		ID: string(c.ID), Status: string(c.Status), Channel: string(kind),
		Destination: c.CustomerDestination, ExternalID: c.ExternalID, Preview: !c.Deployed(),
	}
}

func customerView(c domain.Customer) bot.Customer {
	return bot.Customer{ID: string(c.ID), Identifier: c.Identifier}
}

// errTurnFailure reports whether err is a turn that failed in the store.
func errTurnFailure(err error) (*turnFailure, bool) {
	var tf *turnFailure
	return tf, errors.As(err, &tf)
}
