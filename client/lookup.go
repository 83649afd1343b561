package client

import (
	"context"
	"net/http"
	"net/url"
)

// ListCustomersParams pages customers; Identifier, when not "", selects
// the customer holding it now. Cursor is the NextCursor of the previous
// page.
type ListCustomersParams struct {
	Identifier string
	Limit      int // 0 for the server default (50)
	Cursor     string
}

// CustomerPage is one page of customers, newest first. NextCursor is nil
// on the last page.
type CustomerPage struct {
	Items      []Customer `json:"items"`
	NextCursor *string    `json:"nextCursor"`
}

// ListCustomers returns one page of customers, newest first, or the
// customer holding p.Identifier now. Errors: invalid_argument,
// identifier_invalid.
func (c *Client) ListCustomers(ctx context.Context, p ListCustomersParams) (*CustomerPage, error) {
	q := url.Values{}
	if p.Identifier != "" {
		q.Set("identifier", p.Identifier)
	}
	if p.Cursor != "" {
		q.Set("cursor", p.Cursor)
	}
	setInt(q, "limit", int64(p.Limit))
	return send[CustomerPage](ctx, c, http.MethodGet, "/v1/customers", q, nil, "")
}

// PageParams pages a list: Cursor is the NextCursor of the previous page.
type PageParams struct {
	Limit  int // 0 for the server default (50)
	Cursor string
}

// IdentifierHolderPage is one page of an identifier's timeline, oldest
// first: who held it from ValidFrom until ValidTo (nil while held).
type IdentifierHolderPage struct {
	Identifier string               `json:"identifier"` // as normalized
	Items      []IdentifierInterval `json:"items"`
	NextCursor *string              `json:"nextCursor"`
}

// IdentifierHolders returns a page of identifier's timeline: every
// customer who held it, with the interval. The identifier is normalized
// by the server. Errors: identifier_invalid, invalid_argument.
func (c *Client) IdentifierHolders(ctx context.Context, identifier string, p PageParams) (*IdentifierHolderPage, error) {
	q := url.Values{}
	if p.Cursor != "" {
		q.Set("cursor", p.Cursor)
	}
	setInt(q, "limit", int64(p.Limit))
	return send[IdentifierHolderPage](ctx, c, http.MethodGet, "/v1/identifiers/"+textSeg(identifier)+"/holders", q, nil, "")
}

// textSeg percent-encodes text as one path segment: "/" and every other
// reserved character escaped, and the segments "." and ".." (which a path
// would resolve) written as %2E.
func textSeg(s string) string {
	switch s {
	case ".":
		return "%2E"
	case "..":
		return "%2E%2E"
	}
	return url.PathEscape(s)
}
