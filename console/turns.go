package console

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"

	"github.com/parleyhq/parley/bot"
	"github.com/parleyhq/parley/domain"
)

// turnRow is a bot turn with its decoded trace.
type turnRow struct {
	domain.Turn
	Trace bot.Trace
	// Failed is true when the turn broke its chain; Errors when it or one
	// of its steps or operations met an error (a business outcome such as
	// identifier_taken included), so the page opens it.
	Failed, Errors bool
}

// turnsPage is one page of a conversation's bot turns, oldest first.
type turnsPage struct {
	Rows []turnRow
	// Later links to the following turns, "" on the last page.
	Later string
}

// listTurns reads the conversation's turns after the "turns" query value
// (a turn number).
func (c *Console) listTurns(r *http.Request, org domain.OrgID, conv domain.ConversationID) (turnsPage, error) {
	after, err := seqParam(r.URL.Query().Get("turns"))
	if err != nil {
		return turnsPage{}, err
	}
	ts, err := c.svc.ListTurns(r.Context(), org, conv, after, pageSize+1)
	if err != nil {
		return turnsPage{}, err
	}
	var p turnsPage
	if len(ts) > pageSize {
		ts = ts[:pageSize]
		p.Later = "/console/conversations/" + url.PathEscape(string(conv)) + "?" +
			url.Values{"turns": {strconv.FormatInt(ts[pageSize-1].Number, 10)}}.Encode() + "#turns-h"
	}
	for _, t := range ts {
		row := turnRow{Turn: t, Failed: t.Outcome == bot.OutcomeFailed || t.ErrorCode != ""}
		if len(t.Trace) > 0 {
			if err := json.Unmarshal(t.Trace, &row.Trace); err != nil {
				c.log.WarnContext(r.Context(), "unreadable turn trace", "turn", t.ID, "err", err)
			}
		}
		row.Errors = row.Failed || row.Trace.Error != nil
		for _, st := range row.Trace.Steps {
			if st.Error != nil || (st.Operation != nil && st.Operation.Error != nil) {
				row.Errors = true
			}
		}
		p.Rows = append(p.Rows, row)
	}
	return p, nil
}
