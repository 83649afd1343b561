package console

import (
	"net/http"
	"net/url"
	"slices"

	"github.com/parleyhq/parley/domain"
)

type customerView struct {
	Customer domain.Customer
	// History is the customer's identifier intervals, newest first.
	History       []domain.IdentifierInterval
	Conversations conversationPage
	// The identifier form: what was typed, why it failed, and the holder
	// when it is identifier_taken.
	Input, Error string
	Holder       domain.CustomerID
	Updated      bool
}

// customer shows a customer: current identifier, identifier timeline,
// conversations, and the form to change the identifier.
func (c *Console) customer(w http.ResponseWriter, r *http.Request, op *operator) error {
	v, err := c.customerView(r, op, domain.CustomerID(r.PathValue("customerId")))
	if err != nil {
		return err
	}
	v.Updated = r.URL.Query().Has("updated")
	return c.renderCustomer(w, r, op, http.StatusOK, v)
}

func (c *Console) customerView(r *http.Request, op *operator, id domain.CustomerID) (customerView, error) {
	var v customerView
	var err error
	if v.Customer, err = c.svc.GetCustomer(r.Context(), op.org.ID, id); err != nil {
		return v, err
	}
	if v.History, err = c.svc.CustomerHistory(r.Context(), op.org.ID, id); err != nil {
		return v, err
	}
	slices.Reverse(v.History)
	base := url.URL{Path: "/console/customers/" + url.PathEscape(string(id))}
	v.Conversations, err = c.listConversations(r, op.org.ID, domain.ConversationFilter{CustomerID: id}, base)
	return v, err
}

func (c *Console) renderCustomer(w http.ResponseWriter, r *http.Request, op *operator, status int, v customerView) error {
	title := "Customer " + string(v.Customer.ID)
	if v.Customer.Identifier != "" {
		title = v.Customer.Identifier
	}
	return c.render(w, r, status, "customer", page{Title: title, Nav: "search", Op: op, Data: v})
}

// updateIdentifier changes a customer's identifier with the API's rules;
// identifier_taken names the holder with a link to them.
func (c *Console) updateIdentifier(w http.ResponseWriter, r *http.Request, op *operator) error {
	id := domain.CustomerID(r.PathValue("customerId"))
	input := r.PostFormValue("identifier")
	_, err := c.svc.SetCustomerIdentifier(r.Context(), op.org.ID, id, input)
	var status int
	switch domain.ErrorCode(err) {
	case "":
		http.Redirect(w, r, "/console/customers/"+url.PathEscape(string(id))+"?updated", http.StatusSeeOther)
		return nil
	case domain.CodeIdentifierTaken:
		status = http.StatusConflict
	case domain.CodeIdentifierInvalid:
		status = http.StatusBadRequest
	case domain.CodeLicenseRequired:
		status = http.StatusForbidden
	default:
		return err
	}
	v, verr := c.customerView(r, op, id)
	if verr != nil {
		return verr
	}
	v.Input, v.Error = input, domain.ErrorMessage(err)
	if holder, ok := domain.ErrorDetails(err)["holderCustomerId"].(string); ok {
		v.Holder = domain.CustomerID(holder)
	}
	return c.renderCustomer(w, r, op, status, v)
}
