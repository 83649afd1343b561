package console

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/parleyhq/parley/domain"
)

type holdersView struct {
	// Input is what was asked; Identifier its normalized form.
	Input, Identifier, Error string
	Holders                  []holderRow
	Next                     string
}

// holderRow is an interval of the identifier's timeline with its holder.
type holderRow struct {
	domain.HolderInterval
	// Now is the holder's identifier today ("" when none).
	Now string
}

// identifier shows every holder of an identifier over time, oldest first:
// who held this number on 3 March?
func (c *Console) identifier(w http.ResponseWriter, r *http.Request, op *operator) error {
	q := r.URL.Query()
	v := holdersView{Input: strings.TrimSpace(q.Get("value"))}
	if v.Input == "" {
		http.Redirect(w, r, "/console/", http.StatusFound)
		return nil
	}
	f := domain.HolderFilter{Identifier: v.Input, Limit: pageSize + 1}
	var err error
	if f.AfterValidFrom, f.AfterPosition, err = parseHolderCursor(q.Get("after")); err != nil {
		return err
	}
	status := http.StatusOK
	ident, hs, err := c.svc.IdentifierHolders(r.Context(), op.org.ID, f)
	switch domain.ErrorCode(err) {
	case "":
	case domain.CodeIdentifierInvalid:
		v.Error, status = domain.ErrorMessage(err), http.StatusBadRequest
	default:
		return err
	}
	v.Identifier = ident
	if len(hs) > pageSize {
		hs = hs[:pageSize]
		last := hs[pageSize-1]
		v.Next = "/console/identifiers?" + url.Values{
			"value": {v.Input},
			"after": {last.ValidFrom.Format(time.RFC3339Nano) + " " + strconv.FormatInt(last.Position, 10)},
		}.Encode()
	}
	now := map[domain.CustomerID]string{}
	for _, h := range hs {
		if _, seen := now[h.CustomerID]; !seen {
			cus, err := c.svc.GetCustomer(r.Context(), op.org.ID, h.CustomerID)
			if err != nil {
				return err
			}
			now[h.CustomerID] = cus.Identifier
		}
		v.Holders = append(v.Holders, holderRow{HolderInterval: h, Now: now[h.CustomerID]})
	}
	return c.render(w, r, status, "identifier", page{Title: "Holders of " + v.Input, Nav: "search", Op: op, Data: v})
}

func parseHolderCursor(v string) (time.Time, int64, error) {
	if v == "" {
		return time.Time{}, 0, nil
	}
	at, pos, ok := strings.Cut(v, " ")
	t, err := time.Parse(time.RFC3339Nano, at)
	n, perr := strconv.ParseInt(pos, 10, 64)
	if !ok || err != nil || perr != nil || n <= 0 {
		return time.Time{}, 0, domain.Errorf(domain.CodeInvalidArgument, "this page link is damaged: go back to the first page")
	}
	return t, n, nil
}

type customersView struct {
	Customers []domain.Customer
	Next      string
}

// customers lists the org's customers, newest first.
func (c *Console) customers(w http.ResponseWriter, r *http.Request, op *operator) error {
	f := domain.CustomerFilter{Limit: pageSize + 1}
	if before := r.URL.Query().Get("before"); before != "" {
		at, id, ok := strings.Cut(before, " ")
		t, err := time.Parse(time.RFC3339Nano, at)
		if !ok || err != nil || id == "" {
			return domain.Errorf(domain.CodeInvalidArgument, "this page link is damaged: go back to the first page")
		}
		f.BeforeCreatedAt, f.BeforeID = t, domain.CustomerID(id)
	}
	cs, err := c.svc.ListCustomers(r.Context(), op.org.ID, f)
	if err != nil {
		return err
	}
	var v customersView
	if len(cs) > pageSize {
		cs = cs[:pageSize]
		last := cs[pageSize-1]
		v.Next = "/console/customers?" + url.Values{"before": {last.CreatedAt.Format(time.RFC3339Nano) + " " + string(last.ID)}}.Encode()
	}
	v.Customers = cs
	return c.render(w, r, http.StatusOK, "customers", page{Title: "Customers", Nav: "customers", Op: op, Data: v})
}
