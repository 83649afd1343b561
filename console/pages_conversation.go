package console

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/parleyhq/parley/domain"
)

// transcriptPage is how many messages one transcript page shows.
const transcriptPage = 100

type conversationView struct {
	Conv    domain.Conversation
	Channel string
	// AppName names the conversation's bot ("" if its app is gone).
	AppName  string
	Customer domain.Customer
	Messages []domain.Message
	// LastSeq is the last message shown; the live stream continues after it.
	LastSeq int64
	// Earlier and Later link to the neighbouring transcript pages ("" when
	// none); Live is true on the last page of a live conversation.
	Earlier, Later string
	Live           bool
	Variables      map[string]any
	Turns          turnsPage
	Runs           []domain.OperationRun
	MoreRuns       string
	// The operator's message form: what was typed and why it failed.
	Input, Error string
}

// conversation shows a transcript (live while the conversation is),
// its session variables and its runs, with the close and send forms.
func (c *Console) conversation(w http.ResponseWriter, r *http.Request, op *operator) error {
	after, err := seqParam(r.URL.Query().Get("after"))
	if err != nil {
		return err
	}
	v, err := c.conversationView(r, op, domain.ConversationID(r.PathValue("conversationId")), after)
	if err != nil {
		return err
	}
	return c.render(w, r, http.StatusOK, "conversation", page{Title: "Conversation " + string(v.Conv.ID), Nav: "search", Op: op, Data: v})
}

func seqParam(v string) (int64, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, domain.Errorf(domain.CodeInvalidArgument, "after must be a message number")
	}
	return n, nil
}

func (c *Console) conversationView(r *http.Request, op *operator, id domain.ConversationID, after int64) (conversationView, error) {
	ctx, org := r.Context(), op.org.ID
	var v conversationView
	var err error
	if v.Conv, err = c.svc.GetConversation(ctx, org, id); err != nil {
		return v, err
	}
	if v.Customer, err = c.svc.GetCustomer(ctx, org, v.Conv.CustomerID); err != nil {
		return v, err
	}
	channels, err := c.channelNames(r, org)
	if err != nil {
		return v, err
	}
	v.Channel = channels[v.Conv.ResourceID]
	if app, err := c.svc.GetApp(ctx, org, v.Conv.AppID); err == nil {
		v.AppName = app.Name
	} else if domain.ErrorCode(err) != domain.CodeNotFound {
		return v, err
	}
	msgs, err := c.svc.ListMessages(ctx, org, id, after, transcriptPage+1)
	if err != nil {
		return v, err
	}
	self := "/console/conversations/" + url.PathEscape(string(id))
	if len(msgs) > transcriptPage {
		msgs = msgs[:transcriptPage]
		v.Later = self + "?after=" + strconv.FormatInt(msgs[len(msgs)-1].Seq, 10)
	}
	if after > 0 {
		v.Earlier = self + "?after=" + strconv.FormatInt(max(0, after-transcriptPage), 10)
	}
	v.Messages, v.LastSeq = msgs, after
	if len(msgs) > 0 {
		v.LastSeq = msgs[len(msgs)-1].Seq
	}
	v.Live = v.Conv.Status == domain.StatusLive && v.Later == ""
	ses, err := c.svc.GetSession(ctx, org, v.Conv.SessionID)
	if err != nil {
		return v, err
	}
	v.Variables = ses.Variables
	if v.Turns, err = c.listTurns(r, org, id); err != nil {
		return v, err
	}
	v.Runs, err = c.svc.FindRuns(ctx, org, domain.RunFilter{SessionID: v.Conv.SessionID, Limit: pageSize + 1})
	if len(v.Runs) > pageSize {
		v.Runs = v.Runs[:pageSize]
		v.MoreRuns = "/console/runs?" + url.Values{"session": {string(v.Conv.SessionID)}}.Encode()
	}
	return v, err
}

// sendMessage writes an operator's outbound message.
func (c *Console) sendMessage(w http.ResponseWriter, r *http.Request, op *operator) error {
	id := domain.ConversationID(r.PathValue("conversationId"))
	text := r.PostFormValue("text")
	_, err := c.svc.AddMessage(r.Context(), op.org.ID, id, domain.Outbound, text, "")
	var status int
	switch domain.ErrorCode(err) {
	case "":
		http.Redirect(w, r, "/console/conversations/"+url.PathEscape(string(id))+"#send", http.StatusSeeOther)
		return nil
	case domain.CodeInvalidArgument:
		status = http.StatusBadRequest
	case domain.CodeConversationClosed:
		status = http.StatusConflict
	default:
		return err
	}
	v, verr := c.conversationView(r, op, id, 0)
	if verr != nil {
		return verr
	}
	v.Input, v.Error = text, domain.ErrorMessage(err)
	return c.render(w, r, status, "conversation", page{Title: "Conversation " + string(id), Nav: "search", Op: op, Data: v})
}

// closeConversation closes a live conversation.
func (c *Console) closeConversation(w http.ResponseWriter, r *http.Request, op *operator) error {
	id := domain.ConversationID(r.PathValue("conversationId"))
	if _, err := c.svc.CloseConversation(r.Context(), op.org.ID, id); err != nil {
		return err
	}
	http.Redirect(w, r, "/console/conversations/"+url.PathEscape(string(id)), http.StatusSeeOther)
	return nil
}

// session opens the conversation of a session.
func (c *Console) session(w http.ResponseWriter, r *http.Request, op *operator) error {
	ses, err := c.svc.GetSession(r.Context(), op.org.ID, domain.SessionID(r.PathValue("sessionId")))
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/console/conversations/"+url.PathEscape(string(ses.ConversationID)), http.StatusFound)
	return nil
}
