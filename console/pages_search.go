package console

import (
	"net/http"
	"net/url"
	"strings"
	"time"
	_ "time/tzdata" // the viewer's time zone for "as of", on any host

	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/service"
)

// pageSize is the length of the console's paginated lists.
const pageSize = 25

// conversationRow is a conversation in a list, with its channel's name.
type conversationRow struct {
	domain.Conversation
	Channel string
}

// conversationPage is one page of conversations, newest first.
type conversationPage struct {
	Rows []conversationRow
	// Next is the URL of the next (older) page, "" on the last.
	Next string
	// OneCustomer is true when every row is one customer's (no customer
	// column then).
	OneCustomer bool
}

// listConversations reads one page of conversations matching f (its
// cursor from the "before" query value) and names their channels; base is
// the URL the next page link keeps (with its other query values).
func (c *Console) listConversations(r *http.Request, org domain.OrgID, f domain.ConversationFilter, base url.URL) (conversationPage, error) {
	var err error
	if f.BeforeStartedAt, f.BeforeID, err = parseConversationCursor(r.URL.Query().Get("before")); err != nil {
		return conversationPage{}, err
	}
	f.Limit = pageSize + 1
	cs, err := c.svc.ListConversations(r.Context(), org, f)
	if err != nil {
		return conversationPage{}, err
	}
	channels, err := c.channelNames(r, org)
	if err != nil {
		return conversationPage{}, err
	}
	p := conversationPage{OneCustomer: f.CustomerID != ""}
	if len(cs) > pageSize {
		cs = cs[:pageSize]
		last := cs[len(cs)-1]
		q := base.Query()
		q.Set("before", last.StartedAt.Format(time.RFC3339Nano)+" "+string(last.ID))
		base.RawQuery = q.Encode()
		p.Next = base.String()
	}
	for _, conv := range cs {
		p.Rows = append(p.Rows, conversationRow{Conversation: conv, Channel: channels[conv.ResourceID]})
	}
	return p, nil
}

func parseConversationCursor(v string) (time.Time, domain.ConversationID, error) {
	if v == "" {
		return time.Time{}, "", nil
	}
	at, id, ok := strings.Cut(v, " ")
	t, err := time.Parse(time.RFC3339Nano, at)
	if !ok || err != nil || id == "" {
		return time.Time{}, "", domain.Errorf(domain.CodeInvalidArgument, "this page link is damaged: go back to the first page")
	}
	return t, domain.ConversationID(id), nil
}

// channelNames names each channel resource of org: "Website (webchat)".
func (c *Console) channelNames(r *http.Request, org domain.OrgID) (map[domain.ResourceID]string, error) {
	rs, err := c.svc.ListResources(r.Context(), org)
	if err != nil {
		return nil, err
	}
	names := make(map[domain.ResourceID]string, len(rs))
	for _, res := range rs {
		names[res.ID] = res.Name + " (" + string(res.Kind) + ")"
	}
	return names, nil
}

type homeView struct {
	Search        searchView
	Status        string
	Conversations conversationPage
}

// home is the search form and the org's conversations, newest first.
func (c *Console) home(w http.ResponseWriter, r *http.Request, op *operator) error {
	status := r.URL.Query().Get("status")
	if status != string(domain.StatusLive) && status != string(domain.StatusClosed) {
		status = ""
	}
	base := url.URL{Path: "/console/"}
	if status != "" {
		base.RawQuery = url.Values{"status": {status}}.Encode()
	}
	convs, err := c.listConversations(r, op.org.ID,
		domain.ConversationFilter{Status: domain.ConversationStatus(status)}, base)
	if err != nil {
		return err
	}
	return c.render(w, r, http.StatusOK, "home", page{Title: "Search", Nav: "search", Op: op,
		Data: homeView{Status: status, Conversations: convs}})
}

type searchView struct {
	Query, AsOfInput, TZ string
	AsOf                 *time.Time
	// Error explains why the query could not be searched.
	Error   string
	Holding service.IdentifierHolding
	Holder  domain.Customer
	// Conversations are the holder's, newest first.
	Conversations conversationPage
}

// search finds what a query names: a customer, conversation or session id
// opens its page; anything else is a Customer Identifier, normalized as
// the API does, whose holder now (or as of a time) is shown.
func (c *Console) search(w http.ResponseWriter, r *http.Request, op *operator) error {
	q := r.URL.Query()
	v := searchView{Query: strings.TrimSpace(q.Get("q")), AsOfInput: q.Get("asof"), TZ: q.Get("tz")}
	if v.Query == "" {
		http.Redirect(w, r, "/console/", http.StatusFound)
		return nil
	}
	if target, err := c.idTarget(r, op.org.ID, v.Query); err != nil || target != "" {
		if target != "" {
			http.Redirect(w, r, target, http.StatusFound)
		}
		return err
	}
	status := http.StatusOK
	asOf, err := parseAsOf(v.AsOfInput, v.TZ)
	if err != nil {
		v.Error, status = domain.ErrorMessage(err), http.StatusBadRequest
	} else {
		v.AsOf = asOf
		v.Holding, err = c.svc.IdentifierHolder(r.Context(), op.org.ID, v.Query, asOf)
		switch {
		case domain.ErrorCode(err) == domain.CodeIdentifierInvalid:
			v.Error, status = domain.ErrorMessage(err), http.StatusBadRequest
		case err != nil:
			return err
		case v.Holding.Found:
			if v.Holder, err = c.svc.GetCustomer(r.Context(), op.org.ID, v.Holding.Interval.CustomerID); err != nil {
				return err
			}
			base := *r.URL
			base.Path = "/console/search"
			v.Conversations, err = c.listConversations(r, op.org.ID, domain.ConversationFilter{CustomerID: v.Holder.ID}, base)
			if err != nil {
				return err
			}
		}
	}
	return c.render(w, r, status, "search", page{Title: "Search: " + v.Query, Nav: "search", Op: op, Data: v})
}

// idTarget returns the page of the customer, conversation or session the
// query names by id, "" when it names none.
func (c *Console) idTarget(r *http.Request, org domain.OrgID, q string) (string, error) {
	ctx := r.Context()
	var err error
	switch {
	case strings.HasPrefix(q, "cus_"):
		if _, err = c.svc.GetCustomer(ctx, org, domain.CustomerID(q)); err == nil {
			return "/console/customers/" + url.PathEscape(q), nil
		}
	case strings.HasPrefix(q, "conv_"):
		if _, err = c.svc.GetConversation(ctx, org, domain.ConversationID(q)); err == nil {
			return "/console/conversations/" + url.PathEscape(q), nil
		}
	case strings.HasPrefix(q, "ses_"):
		var ses domain.Session
		if ses, err = c.svc.GetSession(ctx, org, domain.SessionID(q)); err == nil {
			return "/console/conversations/" + url.PathEscape(string(ses.ConversationID)), nil
		}
	}
	switch domain.ErrorCode(err) {
	case "", domain.CodeNotFound, domain.CodeConversationNotFound, domain.CodeInvalidArgument:
		return "", nil // not an id of this org: search it as an identifier
	}
	return "", err
}

// asOfLayouts are the forms "as of" accepts besides RFC 3339: what a
// datetime-local input sends, in the viewer's time zone.
var asOfLayouts = []string{"2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02"}

// parseAsOf reads the "as of" input in time zone tz (an IANA name the
// page's script fills in; UTC when empty or unknown). "" is nil: now.
// Errors: invalid_argument.
func parseAsOf(input, tz string) (*time.Time, error) {
	input = strings.TrimSpace(input)
	if input == "" {
		return nil, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, strings.ToUpper(input)); err == nil {
		return &t, nil
	}
	loc, err := time.LoadLocation(tz)
	if tz == "" || tz == "Local" || err != nil {
		loc = time.UTC
	}
	for _, layout := range asOfLayouts {
		if t, err := time.ParseInLocation(layout, input, loc); err == nil {
			return &t, nil
		}
	}
	return nil, domain.Errorf(domain.CodeInvalidArgument, "“as of” must be a date and time such as 2026-03-03 14:30 or 2026-03-03T14:30:00Z")
}
