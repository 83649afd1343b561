package httpapi

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/parleyhq/parley/domain"
)

// Sessions and customers.

func (s *server) getSession(w http.ResponseWriter, r *http.Request) error {
	ses, err := s.svc.GetSession(r.Context(), orgOf(r), domain.SessionID(r.PathValue("sessionId")))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toSession(ses))
}

func customerID(r *http.Request) domain.CustomerID {
	return domain.CustomerID(r.PathValue("customerId"))
}

func (s *server) getCustomer(w http.ResponseWriter, r *http.Request) error {
	c, err := s.svc.GetCustomer(r.Context(), orgOf(r), customerID(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toCustomer(c))
}

func (s *server) customerIdentifiers(w http.ResponseWriter, r *http.Request) error {
	ivs, err := s.svc.CustomerHistory(r.Context(), orgOf(r), customerID(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, mapItems(ivs, toInterval))
}

func (s *server) customerConversations(w http.ResponseWriter, r *http.Request) error {
	ids, err := s.svc.CustomerConversations(r.Context(), orgOf(r), customerID(r))
	if err != nil {
		return err
	}
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = string(id)
	}
	return writeJSON(w, http.StatusOK, conversationIDsResponse{ConversationIDs: out})
}

// listCustomers answers one page of customers, newest first, with an
// opaque cursor to the next page (null on the last page); ?identifier=
// selects the customer holding that identifier now.
func (s *server) listCustomers(w http.ResponseWriter, r *http.Request) error {
	q, err := queryValues(r)
	if err != nil {
		return err
	}
	f := domain.CustomerFilter{}
	if f.Limit, err = queryLimit(q); err != nil {
		return err
	}
	if f.Identifier, err = queryIdentifier(q); err != nil {
		return err
	}
	if c := q.Get("cursor"); c != "" {
		var id string
		if f.BeforeCreatedAt, id, err = decodeCursor(c); err != nil {
			return err
		}
		f.BeforeID = domain.CustomerID(id)
	}
	cs, err := s.svc.ListCustomers(r.Context(), orgOf(r), f)
	if err != nil {
		return err
	}
	page := customerPageResponse{Items: mapItems(cs, toCustomer).Items}
	if len(cs) == f.Limit {
		last := cs[len(cs)-1]
		page.NextCursor = encodeCursor(last.CreatedAt, string(last.ID))
	}
	return writeJSON(w, http.StatusOK, page)
}

// queryIdentifier reads the optional identifier query parameter: absent
// is none; present, it must be an identifier (so empty is
// identifier_invalid, as everywhere). Errors: identifier_invalid.
func queryIdentifier(q url.Values) (string, error) {
	if !q.Has("identifier") {
		return "", nil
	}
	v := q.Get("identifier")
	return optionalIdentifier("identifier", &v)
}

// identifierHolders answers a page of an identifier's timeline (who held
// it when), oldest first. The identifier is one path segment: a client
// percent-encodes it (a "/" as %2F, "." and ".." as %2E and %2E%2E).
func (s *server) identifierHolders(w http.ResponseWriter, r *http.Request) error {
	q, err := queryValues(r)
	if err != nil {
		return err
	}
	f := domain.HolderFilter{Identifier: r.PathValue("identifier")}
	if f.Limit, err = queryLimit(q); err != nil {
		return err
	}
	if c := q.Get("cursor"); c != "" {
		var position string
		if f.AfterValidFrom, position, err = decodeCursor(c); err != nil {
			return err
		}
		if f.AfterPosition, err = strconv.ParseInt(position, 10, 64); err != nil || f.AfterPosition <= 0 {
			return invalid("cursor is not a cursor returned by this API")
		}
	}
	ident, hs, err := s.svc.IdentifierHolders(r.Context(), orgOf(r), f)
	if err != nil {
		return err
	}
	page := holderPageResponse{Identifier: ident, Items: make([]intervalResponse, len(hs))}
	for i, h := range hs {
		page.Items[i] = toInterval(h.IdentifierInterval)
	}
	if len(hs) == f.Limit {
		last := hs[len(hs)-1]
		page.NextCursor = encodeCursor(last.ValidFrom, strconv.FormatInt(last.Position, 10))
	}
	return writeJSON(w, http.StatusOK, page)
}
