package httpapi

import (
	"net/http"

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
