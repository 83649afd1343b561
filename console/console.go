// Package console is Parley's operator console: server-rendered pages
// (html/template, every asset embedded) under /console for the people who
// run the bots. Operators sign in with an admin API key; the session lives
// in the store (service.SignInConsole) behind an HttpOnly, SameSite=Strict
// cookie, and every state-changing form carries the session's CSRF token.
// The console calls only service methods; every route is listed in
// (*Console).routes.
package console

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/service"
)

// Defaults of Config.
const (
	DefaultSessionTTL   = 12 * time.Hour
	DefaultPollInterval = time.Second
	// maxStream bounds one live transcript stream; the browser reconnects
	// where it left off.
	maxStream = 5 * time.Minute
)

// Config wires the console. Service is required.
type Config struct {
	Service *service.Service
	Logger  *slog.Logger
	// SessionTTL is how long a sign-in lasts; 0 means DefaultSessionTTL.
	SessionTTL time.Duration
	// PollInterval is how often a live transcript reads new messages and
	// the conversation's status; 0 means DefaultPollInterval. With a
	// Notifier, new messages come at once and the poll is a fallback, five
	// times slower.
	PollInterval time.Duration
	// Notifier announces the messages every server process writes
	// (PostgreSQL LISTEN/NOTIFY; in process for SQLite); nil to poll only.
	Notifier domain.Notifier
}

// Console serves the operator console. Close ends its live streams.
type Console struct {
	svc      *service.Service
	log      *slog.Logger
	ttl      time.Duration
	poll     time.Duration
	notifier domain.Notifier
	pages    *pages
	mux      *http.ServeMux
	closing  chan struct{}
	closeOne sync.Once
}

// New returns the console; mount it at /console (it answers every path
// under /console and nothing else).
func New(cfg Config) *Console {
	c := &Console{
		svc: cfg.Service, log: cfg.Logger, ttl: cfg.SessionTTL, poll: cfg.PollInterval, notifier: cfg.Notifier,
		pages: loadPages(), mux: http.NewServeMux(), closing: make(chan struct{}),
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.ttl <= 0 {
		c.ttl = DefaultSessionTTL
	}
	if c.poll <= 0 {
		c.poll = DefaultPollInterval
	}
	if c.notifier != nil {
		c.poll *= 5
	}
	for _, rt := range c.routes() {
		c.mux.Handle(rt.method+" "+rt.pattern, c.wrap(rt))
	}
	c.mux.HandleFunc("/console/", c.notFound)
	return c
}

// Close ends the live transcript streams (call it when the server shuts
// down: http.Server.RegisterOnShutdown).
func (c *Console) Close() { c.closeOne.Do(func() { close(c.closing) }) }

// ServeHTTP serves the console's pages.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setSecurityHeaders(w.Header())
	c.mux.ServeHTTP(w, r)
}

// access says who may use a route.
type access int

const (
	// anyone: the sign-in page and the assets.
	anyone access = iota
	// signedIn: pages that need a console session.
	signedIn
	// signedInForm: state-changing POSTs that also need the CSRF token.
	signedInForm
)

// route is one entry of the route table.
type route struct {
	method, pattern string
	access          access
	handler         handlerFunc
}

// handlerFunc serves a request; a returned error is rendered as an error
// page.
type handlerFunc func(w http.ResponseWriter, r *http.Request, op *operator) error

// routes is the single list of every console route.
func (c *Console) routes() []route {
	return []route{
		{"GET", "/console", anyone, c.redirectHome},
		{"GET", "/console/assets/{file}", anyone, serveAsset},
		{"GET", "/console/sign-in", anyone, c.signInPage},
		{"POST", "/console/sign-in", anyone, c.signIn},
		{"POST", "/console/sign-out", signedInForm, c.signOut},

		{"GET", "/console/{$}", signedIn, c.home},
		{"GET", "/console/search", signedIn, c.search},
		{"GET", "/console/identifiers", signedIn, c.identifier},
		{"GET", "/console/customers", signedIn, c.customers},
		{"GET", "/console/customers/{customerId}", signedIn, c.customer},
		{"POST", "/console/customers/{customerId}/identifier", signedInForm, c.updateIdentifier},
		{"GET", "/console/conversations/{conversationId}", signedIn, c.conversation},
		{"GET", "/console/conversations/{conversationId}/live", signedIn, c.live},
		{"POST", "/console/conversations/{conversationId}/messages", signedInForm, c.sendMessage},
		{"POST", "/console/conversations/{conversationId}/close", signedInForm, c.closeConversation},
		{"GET", "/console/sessions/{sessionId}", signedIn, c.session},
		{"GET", "/console/runs", signedIn, c.runs},
		{"GET", "/console/runs/{runId}", signedIn, c.run},
		{"GET", "/console/apps", signedIn, c.apps},
		{"GET", "/console/apps/{appId}", signedIn, c.app},
		{"GET", "/console/webhooks", signedIn, c.webhooks},
		{"GET", "/console/webhooks/{endpointId}", signedIn, c.webhook},
		{"POST", "/console/webhooks/{endpointId}/replay", signedInForm, c.replayWebhook},
	}
}

// operator is the signed-in operator of a request (nil on public routes).
type operator struct {
	session domain.ConsoleSession
	org     domain.Organization
}

// wrap applies a route's access rules, then runs its handler and renders
// its error.
func (c *Console) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rt.access != anyone && r.Method != http.MethodGet {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		}
		var op *operator
		if rt.access != anyone {
			var err error
			if op, err = c.authenticate(r); err != nil {
				c.needSignIn(w, r, err)
				return
			}
		}
		if rt.access == signedInForm {
			if err := checkForm(r, op.session.CSRFToken); err != nil {
				c.fail(w, r, op, err)
				return
			}
		}
		if err := rt.handler(w, r, op); err != nil {
			c.fail(w, r, op, err)
		}
	})
}

// authenticate returns the operator of the session cookie.
// Errors: unauthorized.
func (c *Console) authenticate(r *http.Request) (*operator, error) {
	cookie, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, domain.Errorf(domain.CodeUnauthorized, "not signed in")
	}
	cs, err := c.svc.ConsoleSession(r.Context(), cookie.Value)
	if err != nil {
		return nil, err
	}
	org, err := c.svc.GetOrg(r.Context(), cs.OrgID)
	if err != nil {
		return nil, err
	}
	return &operator{session: cs, org: org}, nil
}

// setSecurityHeaders forbids inline scripts and styles, framing and
// sniffing, and keeps pages out of caches and referrers.
func setSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "+
		"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

func (c *Console) redirectHome(w http.ResponseWriter, r *http.Request, _ *operator) error {
	http.Redirect(w, r, "/console/", http.StatusFound)
	return nil
}

// done is closed when the console closes or the request ends.
func (c *Console) done(ctx context.Context) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		select {
		case <-ctx.Done():
		case <-c.closing:
		}
	}()
	return ch
}
