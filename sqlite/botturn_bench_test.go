package sqlite_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/parleyhq/parley/bot"
	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/service"
)

// turnBot is the benchmarked bot: on each message, two steps: a data
// operation (one run, its output in one variable) and one reply.
const turnBot = `{"triggers": {"message_received": "look"}, "steps": {
	"look": {"do": "find_conversations_by_customer_identifier", "with": {"customerIdentifier": "customer.identifier"}, "next": "answer"},
	"answer": {"say": "'You have ' + string(size(session['conversation-ids'])) + ' conversations with us.'"}}}`

// turnConversations is how many conversations the turns rotate over.
const turnConversations = 1000

// BenchmarkBotTurn measures one bot turn three ways:
//   - engine: the interpreter and CEL alone, with a host that stores
//     nothing;
//   - store: a whole turn through the service on SQLite (the inbound
//     message, the two steps, the run, the variable, the reply, the
//     events and the trace, in one transaction);
//   - raw: the same reads and rows by hand-written SQL in one transaction.
//
// The database holds PARLEY_BENCH_CUSTOMERS customers (default 50,000)
// with 20 conversations each beside the benchmark's own, so indexes have
// a realistic depth. docs/PERFORMANCE.md records the results.
func BenchmarkBotTurn(b *testing.B) {
	b.Run("engine", benchTurnEngine)
	w := newBenchWorld(b)
	customers := 50_000
	if v, err := strconv.Atoi(os.Getenv("PARLEY_BENCH_CUSTOMERS")); err == nil && v > 0 {
		customers = v
	}
	if err := seedConversations(w, customers); err != nil {
		b.Fatal(err)
	}
	d, _ := w.PublishBot([]byte(turnBot))
	start := func(offset int) []service.Started {
		out := make([]service.Started, turnConversations)
		for i := range out {
			out[i] = w.StartOn(d.ID, fmt.Sprintf("ext:turn-%d", offset+i))
		}
		return out
	}
	storeConvs, rawConvs := start(0), start(turnConversations)
	b.Run("store", func(b *testing.B) {
		b.ReportAllocs()
		ctx := context.Background()
		for n := 0; n < b.N; n++ {
			conv := storeConvs[n%len(storeConvs)].Conversation.ID
			rec, err := w.Service.ReceiveInConversation(ctx, w.Org, conv, "how many?", "")
			if err != nil || len(rec.Replies) != 1 {
				b.Fatalf("turn: %+v (%v)", rec, err)
			}
		}
	})
	raw := newRawTurn(w, d)
	b.Run("raw", func(b *testing.B) {
		b.ReportAllocs()
		for n := 0; n < b.N; n++ {
			if err := raw.turn(rawConvs[n%len(rawConvs)]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// nullHost answers the find without a store.
type nullHost struct{}

func (nullHost) Send(context.Context, string) error { return nil }

func (nullHost) Run(context.Context, bot.Call) (bot.Result, error) {
	return bot.Result{Value: []any{"conv_1", "conv_2"}, RunID: "run_1"}, nil
}

func benchTurnEngine(b *testing.B) {
	e, err := bot.NewEngine(service.BotCatalogue(), bot.Limits{})
	if err != nil {
		b.Fatal(err)
	}
	bt, err := e.Compile([]byte(turnBot))
	if err != nil {
		b.Fatal(err)
	}
	ev := bot.Event{
		Trigger:      bot.TriggerMessageReceived,
		Input:        bot.Input{Text: "how many?", Channel: "webchat", Time: time.Now()},
		Conversation: bot.Conversation{ID: "conv_1", Status: "live", Channel: "webchat", Destination: "web-1"},
		Customer:     bot.Customer{ID: "cus_1", Identifier: "ext:turn-1"},
		Variables: map[string]any{"channels": map[string]any{"message": map[string]any{
			"conversationId": "conv_1", "identifier": "web-1"}}},
	}
	b.ReportAllocs()
	for n := 0; n < b.N; n++ {
		turn := bt.Run(context.Background(), nullHost{}, ev)
		if turn.Failure != nil || len(turn.Sent) != 1 {
			b.Fatalf("turn: %+v", turn.Failure)
		}
		if _, err := json.Marshal(turn.Trace); err != nil {
			b.Fatal(err)
		}
	}
}

// rawTurn writes a turn's rows by hand.
type rawTurn struct {
	w       benchWorld
	version domain.VersionID
	trace   string
}

func newRawTurn(w benchWorld, d domain.Deployment) *rawTurn {
	// A trace of the same shape and size as the store's.
	trace := bot.Trace{Trigger: "message_received", Outcome: "completed", DurationUS: 300, Steps: []bot.StepTrace{
		{Step: "look", Kind: "do", Next: "answer", DurationUS: 200,
			Expressions: []bot.ExprTrace{{Path: "/steps/look/with/customerIdentifier", Result: `"ext:turn-1000"`, Cost: 2}},
			Operation: &bot.OperationTrace{Kind: "data_operation", Name: service.OpFindConversations, RunID: "run_000000000000",
				Inputs: map[string]any{"customerIdentifier": "ext:turn-1000"}, Variable: "conversation-ids", Value: `["conv_000000000000"]`, DurationUS: 150}},
		{Step: "answer", Kind: "say", DurationUS: 60, Sent: "You have 1 conversations with us.",
			Expressions: []bot.ExprTrace{{Path: "/steps/answer/say", Result: `"You have 1 conversations with us."`, Cost: 9}}},
	}}
	return &rawTurn{w: w, version: d.VersionID, trace: mustJSON(trace)}
}

// turn is what the store does for one message, by hand: lock the
// conversation, the inbound message and its event, the wait state, the
// find's reads, its run, the variables, the reply and its event, the
// turn's record.
func (r *rawTurn) turn(st service.Started) error {
	w := r.w
	ctx, org, now := context.Background(), w.Org, time.Now().UnixMicro()
	conv := st.Conversation
	tx, err := w.raw.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var status, customer, session string
	if err := tx.QueryRowContext(ctx, `SELECT status, customer_id, session_id FROM conversations WHERE org_id = ? AND id = ?`,
		org, conv.ID).Scan(&status, &customer, &session); err != nil {
		return err
	}
	message := func(dir domain.Direction, author domain.Author, text, eventType string) error {
		var seq int64
		if err := tx.QueryRowContext(ctx, `UPDATE conversations SET last_seq = last_seq + 1 WHERE org_id = ? AND id = ? RETURNING last_seq`,
			org, conv.ID).Scan(&seq); err != nil {
			return err
		}
		id := w.IDs.NewID("msg")
		if _, err := tx.ExecContext(ctx, `INSERT INTO messages (id, org_id, conversation_id, resource_id, conversation_seq, direction,
			author, text, client_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)`,
			id, org, conv.ID, conv.ResourceID, seq, dir, author, text, now); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO events (org_id, type, subject, payload, created_at) VALUES (?, ?, ?, ?, ?)`,
			org, eventType, conv.ID, mustJSON(map[string]any{"conversationId": conv.ID, "customerId": customer, "messageId": id,
				"seq": seq, "direction": dir, "author": author, "text": text, "clientId": nil}), now)
		return err
	}
	if err := message(domain.Inbound, domain.AuthorCustomer, "how many?", domain.EventMessageReceived); err != nil {
		return err
	}
	var number int64
	var waitStep string
	err = tx.QueryRowContext(ctx, `SELECT number, wait_step FROM turns WHERE org_id = ? AND conversation_id = ? ORDER BY number DESC LIMIT 1`,
		org, conv.ID).Scan(&number, &waitStep)
	if err != nil && err != sql.ErrNoRows {
		return err
	}
	var variables, identifier string
	if err := tx.QueryRowContext(ctx, `SELECT variables FROM sessions WHERE org_id = ? AND id = ?`, org, session).Scan(&variables); err != nil {
		return err
	}
	if err := tx.QueryRowContext(ctx, `SELECT identifier FROM customers WHERE org_id = ? AND id = ?`, org, customer).Scan(&identifier); err != nil {
		return err
	}
	ids, err := rawFindIn(ctx, tx, org, identifier)
	if err != nil {
		return err
	}
	run := rawRun(w, service.OpFindConversations, map[string]any{"customerIdentifier": identifier}, "conversation-ids", ids, now)
	if _, err := tx.ExecContext(ctx, run.query, run.args...); err != nil {
		return err
	}
	var vars map[string]any
	if err := json.Unmarshal([]byte(variables), &vars); err != nil {
		return err
	}
	vars["conversation-ids"] = ids
	if _, err := tx.ExecContext(ctx, `UPDATE sessions SET variables = ?, updated_at = ? WHERE org_id = ? AND id = ?`,
		mustJSON(vars), now, org, session); err != nil {
		return err
	}
	if err := message(domain.Outbound, domain.AuthorBot, fmt.Sprintf("You have %d conversations with us.", len(ids)), domain.EventMessageSent); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO turns (id, org_id, conversation_id, number, trigger_name, message_id, version_id,
		outcome, error_code, error_message, wait_step, wait_attempts, started_at, duration_us, trace)
		VALUES (?, ?, ?, ?, 'message_received', ?, ?, 'completed', '', '', '', 0, ?, 300, ?)`,
		w.IDs.NewID("turn"), org, conv.ID, number+1, "msg", r.version, now, r.trace); err != nil {
		return err
	}
	return tx.Commit()
}

// rawFindIn is the find's reads: the identifier's current holder and its
// conversations, newest first.
func rawFindIn(ctx context.Context, tx *sql.Tx, org domain.OrgID, ident string) ([]any, error) {
	var holder string
	var validTo sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT customer_id, valid_to FROM identifier_intervals
		WHERE org_id = ? AND identifier = ? ORDER BY valid_from DESC LIMIT 1`, org, ident).Scan(&holder, &validTo); err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT id FROM conversations WHERE org_id = ? AND customer_id = ?
		ORDER BY started_at DESC, id DESC`, org, holder)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	ids := []any{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}
