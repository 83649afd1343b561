// Package client is a Go client of Parley's HTTP API. It depends only on
// the standard library.
//
//	c := client.New("http://127.0.0.1:8080", apiKey)
//	app, err := c.CreateApp(ctx, client.CreateAppRequest{Name: "support"})
//
// Every failure the server reports is an *Error carrying the HTTP status and
// the problem's stable code; Code(err) extracts the code.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// Client calls one Parley server with one API key. It is safe for
// concurrent use.
type Client struct {
	baseURL   string
	apiKey    string
	http      *http.Client
	userAgent string
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client (default http.DefaultClient).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.http = hc } }

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// New returns a client of the server at baseURL (such as
// "http://127.0.0.1:8080") authenticating with apiKey ("" for none).
func New(baseURL, apiKey string, opts ...Option) *Client {
	c := &Client{
		baseURL:   strings.TrimRight(baseURL, "/"),
		apiKey:    apiKey,
		http:      http.DefaultClient,
		userAgent: "parley-go-client",
	}
	for _, opt := range opts {
		opt(c)
	}
	return c
}

// WithAPIKey returns a copy of c using another API key.
func (c *Client) WithAPIKey(apiKey string) *Client {
	cp := *c
	cp.apiKey = apiKey
	return &cp
}

// Error is a failure reported by the server as application/problem+json
// (RFC 9457), or an unexpected non-problem error response.
type Error struct {
	Status  int            // HTTP status
	Type    string         // problem type URI
	Title   string         // short summary of the code
	Code    string         // stable code, such as "license_required"
	Detail  string         // human-readable explanation
	Details map[string]any // structured facts, such as holderCustomerId
}

func (e *Error) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("parley: HTTP %d: %s", e.Status, e.Detail)
	}
	return fmt.Sprintf("parley: %s (HTTP %d): %s", e.Code, e.Status, e.Detail)
}

// Code returns the problem code of err: "" when err is nil or not an *Error.
func Code(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// Response describes a successful response beyond its body.
type Response struct {
	Status int
	// Replayed is true when the server repeated the stored response of an
	// earlier request with the same Idempotency-Key.
	Replayed bool
}

// Request is a raw API request, for routes or options the typed methods do
// not cover.
type Request struct {
	Method string
	Path   string     // such as "/v1/apps"
	Query  url.Values // optional
	Body   any        // JSON-encoded when not nil
	// IdempotencyKey sets the Idempotency-Key header when not "".
	IdempotencyKey string
}

// Do sends req and decodes a JSON response body into out (when not nil).
// Errors: *Error for an error response, or a transport error.
func (c *Client) Do(ctx context.Context, req Request, out any) (Response, error) {
	var body io.Reader
	if req.Body != nil {
		b, err := json.Marshal(req.Body)
		if err != nil {
			return Response{}, fmt.Errorf("parley: encoding request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	u := c.baseURL + req.Path
	if len(req.Query) > 0 {
		u += "?" + req.Query.Encode()
	}
	hr, err := http.NewRequestWithContext(ctx, req.Method, u, body)
	if err != nil {
		return Response{}, fmt.Errorf("parley: %w", err)
	}
	if req.Body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	hr.Header.Set("Accept", "application/json, application/problem+json")
	hr.Header.Set("User-Agent", c.userAgent)
	if c.apiKey != "" {
		hr.Header.Set("Authorization", "Bearer "+c.apiKey)
	}
	if req.IdempotencyKey != "" {
		hr.Header.Set("Idempotency-Key", req.IdempotencyKey)
	}
	resp, err := c.http.Do(hr)
	if err != nil {
		return Response{}, fmt.Errorf("parley: %s %s: %w", req.Method, req.Path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return Response{}, fmt.Errorf("parley: reading response of %s %s: %w", req.Method, req.Path, err)
	}
	info := Response{Status: resp.StatusCode, Replayed: resp.Header.Get("Idempotent-Replayed") == "true"}
	if resp.StatusCode >= 400 {
		return info, parseError(resp, data)
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return info, fmt.Errorf("parley: decoding response of %s %s: %w", req.Method, req.Path, err)
		}
	}
	return info, nil
}

// parseError builds an *Error from an error response.
func parseError(resp *http.Response, data []byte) error {
	e := &Error{Status: resp.StatusCode}
	mediaType, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mediaType == "application/problem+json" || mediaType == "application/json" {
		var p struct {
			Type    string         `json:"type"`
			Title   string         `json:"title"`
			Code    string         `json:"code"`
			Detail  string         `json:"detail"`
			Details map[string]any `json:"details"`
		}
		if json.Unmarshal(data, &p) == nil && p.Code != "" {
			e.Type, e.Title, e.Code, e.Detail, e.Details = p.Type, p.Title, p.Code, p.Detail, p.Details
			return e
		}
	}
	e.Detail = strings.TrimSpace(string(data))
	if len(e.Detail) > 500 {
		e.Detail = e.Detail[:500] + "..."
	}
	if e.Detail == "" {
		e.Detail = http.StatusText(resp.StatusCode)
	}
	return e
}

// call is Do for the typed methods: path segments are escaped by the
// caller with seg.
func (c *Client) call(ctx context.Context, method, path string, query url.Values, body any, idemKey string, out any) error {
	_, err := c.Do(ctx, Request{Method: method, Path: path, Query: query, Body: body, IdempotencyKey: idemKey}, out)
	return err
}

// seg escapes an id for use as a path segment.
func seg(id string) string { return url.PathEscape(id) }
