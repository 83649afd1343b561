// Package httpapi is Parley's HTTP transport: a JSON API on the standard
// library's ServeMux, with bearer API keys, RFC 9457 problem responses,
// Idempotency-Key support on creating POSTs, Prometheus metrics and slog
// request logs. Every route is listed in one place: (*server).routes.
package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/ids"
	"github.com/parleyhq/parley/service"
)

// DefaultMaxBodyBytes bounds request bodies when Config.MaxBodyBytes is 0.
const DefaultMaxBodyBytes = 1 << 20

// Config wires the HTTP API. Service and Store are required.
type Config struct {
	Service *service.Service
	// Store answers /readyz.
	Store  domain.Store
	Logger *slog.Logger
	// Metrics receives the HTTP and operation metrics; /metrics serves it
	// when it is also a prometheus.Gatherer (a *prometheus.Registry is),
	// and prometheus.DefaultGatherer otherwise. Nil means a fresh registry.
	Metrics prometheus.Registerer
	// MaxBodyBytes bounds request bodies (413 beyond); 0 means 1 MiB.
	MaxBodyBytes int64
	// RequestIDs makes the id of a request that brings no acceptable
	// X-Request-Id; nil means random ids (ids.Random).
	RequestIDs domain.IDGenerator
	// HoldAnswer, a test hook, is called for each successful request with
	// an Idempotency-Key after its change committed and before its answer
	// is written, so that a test can kill the process at that instant.
	// Nil in production (cmd/parley sets it only from a test-only variable).
	HoldAnswer func(r *http.Request)
	// Channels are the web chat and Twilio endpoints (optional).
	Channels Channels
}

// server holds the dependencies of the handlers.
type server struct {
	svc      *service.Service
	store    domain.Store
	log      *slog.Logger
	maxBody  int64
	metrics  *metrics
	reqIDs   domain.IDGenerator
	hold     func(r *http.Request)
	channels Channels
}

// New returns the HTTP handler of the whole API.
func New(cfg Config) http.Handler {
	s := newServer(cfg)
	mux := http.NewServeMux()
	for _, rt := range s.routes() {
		mux.Handle(rt.method+" "+rt.pattern, s.wrap(rt))
	}
	return s.unmatched(mux)
}

func newServer(cfg Config) *server {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	maxBody := cfg.MaxBodyBytes
	if maxBody <= 0 {
		maxBody = DefaultMaxBodyBytes
	}
	reqIDs := cfg.RequestIDs
	if reqIDs == nil {
		reqIDs = ids.Random{}
	}
	return &server{
		svc:      cfg.Service,
		store:    cfg.Store,
		log:      logger,
		maxBody:  maxBody,
		metrics:  newMetrics(cfg.Metrics),
		reqIDs:   reqIDs,
		hold:     cfg.HoldAnswer,
		channels: cfg.Channels,
	}
}

// handlerFunc handles one route. A returned error is written as a problem
// unless the handler already wrote a response.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// route is one entry of the route table.
type route struct {
	method  string
	pattern string // ServeMux pattern path, also the metrics route label
	handler handlerFunc
	// access says which API keys may call the route.
	access access
	// idempotent honours the Idempotency-Key header (POSTs that create).
	idempotent bool
}

// access is who may call a route.
type access int

const (
	// public routes need no API key.
	public access = iota
	// anyKey routes need a key of the org, admin or runtime.
	anyKey
	// adminKey routes manage the org (apps, publishing, channel resources,
	// keys, licence) and need an admin key: a runtime key gets forbidden.
	adminKey
	// runKey routes run a data operation or action and take any key of the
	// org. A key this process authenticated before is not looked up again:
	// the run verifies it in its own transaction (service.UnverifiedKey),
	// one read less per call. With an Idempotency-Key the key is looked up
	// first, as on anyKey routes.
	runKey
)

// authenticated reports whether the route needs an API key.
func (rt route) authenticated() bool { return rt.access != public }

// routes is the single list of every route of the API.
func (s *server) routes() []route {
	const (
		authed = anyKey
		admin  = adminKey
		runner = runKey
		plain  = false
		idem   = true
	)
	return []route{
		{"GET", "/healthz", s.healthz, public, plain},
		{"GET", "/readyz", s.readyz, public, plain},
		{"GET", "/metrics", s.serveMetrics, public, plain},
		{"GET", "/openapi.json", s.openAPI, public, plain},

		{"GET", "/v1/org", s.getOrg, authed, plain},
		{"GET", "/v1/license", s.getLicense, authed, plain},
		{"PUT", "/v1/license", s.installLicense, admin, plain},

		{"GET", "/v1/api-keys", s.listAPIKeys, admin, plain},
		// Not idempotent: a stored response would keep the new secret.
		{"POST", "/v1/api-keys", s.createAPIKey, admin, plain},
		{"DELETE", "/v1/api-keys/{keyId}", s.revokeAPIKey, admin, plain},

		{"POST", "/v1/apps", s.createApp, admin, idem},
		{"GET", "/v1/apps", s.listApps, authed, plain},
		{"GET", "/v1/apps/{appId}", s.getApp, authed, plain},
		{"POST", "/v1/apps/{appId}/versions", s.createVersion, admin, idem},
		{"GET", "/v1/apps/{appId}/versions", s.listVersions, authed, plain},
		{"GET", "/v1/apps/{appId}/versions/{versionId}", s.getVersion, authed, plain},
		{"POST", "/v1/apps/{appId}/deployments", s.publish, admin, idem},
		{"GET", "/v1/apps/{appId}/deployments", s.listDeployments, authed, plain},
		{"GET", "/v1/deployments/{deploymentId}", s.getDeployment, authed, plain},

		{"POST", "/v1/channel-resources", s.createResource, admin, idem},
		{"GET", "/v1/channel-resources", s.listResources, authed, plain},
		{"GET", "/v1/channel-resources/{resourceId}", s.getResource, authed, plain},
		{"PATCH", "/v1/channel-resources/{resourceId}", s.updateResource, admin, plain},
		{"GET", "/v1/channel-resources/{resourceId}/settings", s.getResourceSettings, admin, plain},
		{"GET", "/v1/messages/{messageId}/sms", s.getSMS, authed, plain},

		// The channels' public endpoints: Twilio's webhooks (signed with
		// the resource's auth token) and the web chat.
		{"POST", "/channels/twilio/{resourceId}/messages", s.channel(func(c Channels) ChannelHandler { return c.TwilioInbound }), public, plain},
		{"POST", "/channels/twilio/{resourceId}/status", s.channel(func(c Channels) ChannelHandler { return c.TwilioStatus }), public, plain},
		{"GET", "/webchat/widget.js", s.channel(func(c Channels) ChannelHandler { return c.WebChatWidget }), public, plain},
		{"GET", "/webchat/{resourceId}/demo", s.channel(func(c Channels) ChannelHandler { return c.WebChatDemo }), public, plain},
		{"GET", "/webchat/{resourceId}/socket", s.channel(func(c Channels) ChannelHandler { return c.WebChatSocket }), public, plain},

		{"POST", "/v1/conversations", s.startConversation, authed, idem},
		{"POST", "/v1/previews", s.startPreview, authed, idem},
		{"GET", "/v1/conversations", s.listConversations, authed, plain},
		{"GET", "/v1/conversations/{conversationId}", s.getConversation, authed, plain},
		{"POST", "/v1/conversations/{conversationId}/messages", s.addMessage, authed, idem},
		{"GET", "/v1/conversations/{conversationId}/messages", s.listMessages, authed, plain},
		{"POST", "/v1/conversations/{conversationId}/close", s.closeConversation, authed, plain},
		{"GET", "/v1/conversations/{conversationId}/transcript", s.transcript, authed, plain},
		{"GET", "/v1/conversations/{conversationId}/turns", s.listTurns, authed, plain},
		{"GET", "/v1/turns/{turnId}", s.getTurn, authed, plain},

		{"GET", "/v1/sessions/{sessionId}", s.getSession, authed, plain},
		{"GET", "/v1/customers", s.listCustomers, authed, plain},
		{"GET", "/v1/customers/{customerId}", s.getCustomer, authed, plain},
		{"GET", "/v1/customers/{customerId}/identifiers", s.customerIdentifiers, authed, plain},
		{"GET", "/v1/customers/{customerId}/conversations", s.customerConversations, authed, plain},
		{"GET", "/v1/identifiers/{identifier}/holders", s.identifierHolders, authed, plain},

		{"POST", "/v1/data-operations/{name}", s.runDataOperation, runner, idem},
		{"POST", "/v1/actions/{name}", s.runAction, runner, idem},
		{"GET", "/v1/runs", s.listRuns, authed, plain},
		{"GET", "/v1/runs/{runId}", s.getRun, authed, plain},
		{"GET", "/v1/events", s.listEvents, authed, plain},

		// Not idempotent: a stored response would keep the new secret.
		{"POST", "/v1/webhook-endpoints", s.createWebhookEndpoint, admin, plain},
		{"GET", "/v1/webhook-endpoints", s.listWebhookEndpoints, authed, plain},
		{"GET", "/v1/webhook-endpoints/{endpointId}", s.getWebhookEndpoint, authed, plain},
		{"PATCH", "/v1/webhook-endpoints/{endpointId}", s.updateWebhookEndpoint, admin, plain},
		{"DELETE", "/v1/webhook-endpoints/{endpointId}", s.deleteWebhookEndpoint, admin, plain},
		{"POST", "/v1/webhook-endpoints/{endpointId}/rotate-secret", s.rotateWebhookSecret, admin, plain},
		{"GET", "/v1/webhook-endpoints/{endpointId}/deliveries", s.listWebhookDeliveries, authed, plain},
		{"GET", "/v1/webhook-endpoints/{endpointId}/attempts", s.listWebhookAttempts, authed, plain},
		{"POST", "/v1/webhook-endpoints/{endpointId}/replay", s.replayWebhookDeliveries, admin, plain},
	}
}

// requestInfo collects facts about a request for its log line, filled in
// as the request goes through authentication.
type requestInfo struct {
	id  string // the request id, echoed in X-Request-Id
	org domain.OrgID
	key domain.APIKeyID
	// verifyKey is the secret of an API key taken on trust from
	// service.UnverifiedKey: the run checks it (RunRequest.VerifyKey).
	verifyKey string
}

type requestInfoKey struct{}

// infoOf returns the facts collected about r (empty outside the middleware).
func infoOf(r *http.Request) *requestInfo {
	if info, ok := r.Context().Value(requestInfoKey{}).(*requestInfo); ok {
		return info
	}
	return &requestInfo{}
}

// orgOf returns the authenticated org of r ("" on public routes).
func orgOf(r *http.Request) domain.OrgID { return infoOf(r).org }

// requestIDHeader carries the request id, in the request (optional) and
// in every response.
const requestIDHeader = "X-Request-Id"

// maxRequestIDLen bounds an X-Request-Id taken from a client.
const maxRequestIDLen = 128

// begin starts the middleware of a request: it gives r its request id
// (the client's X-Request-Id when acceptable, a new one otherwise),
// echoes it in the response and returns r with its requestInfo.
func (s *server) begin(w http.ResponseWriter, r *http.Request) (*http.Request, *requestInfo) {
	info := &requestInfo{id: r.Header.Get(requestIDHeader)}
	if !acceptableRequestID(info.id) {
		info.id = s.reqIDs.NewID("req")
	}
	w.Header().Set(requestIDHeader, info.id)
	return r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, info)), info
}

// acceptableRequestID reports whether a client's request id can be logged
// and echoed as is: 1 to 128 visible ASCII characters (no space, no
// control character), so it cannot forge log lines or bloat them.
func acceptableRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return false
		}
	}
	return true
}

// wrap applies the per-route middleware: request id, metrics, logging,
// body limit, authentication, path value checks, idempotency and panic
// recovery.
func (s *server) wrap(rt route) http.Handler {
	params := patternParams(rt.pattern)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		r, info := s.begin(w, r)
		sw := &statusWriter{ResponseWriter: w}
		s.serve(rt, params, sw, r, info)
		s.observe(r, rt.pattern, sw.statusCode(), time.Since(start), info)
	})
}

func (s *server) serve(rt route, params []string, w http.ResponseWriter, r *http.Request, info *requestInfo) {
	r.Body = http.MaxBytesReader(w, r.Body, s.maxBody)
	if rt.authenticated() {
		key, err := s.authenticateRoute(r, rt, info)
		if err == nil && rt.access == adminKey {
			err = service.Authorize(key, domain.ScopeAdmin)
		}
		if err != nil {
			s.problem(w, r, err)
			return
		}
		info.org, info.key = key.OrgID, key.ID
	}
	if err := checkPathValues(r, params); err != nil {
		s.problem(w, r, s.keyFirst(r, err))
		return
	}
	if key := r.Header.Get("Idempotency-Key"); rt.idempotent && key != "" {
		s.idempotent(w, r, rt.handler, key)
		return
	}
	s.run(w, r, rt.handler)
}

// run calls h and writes its error as a problem.
func (s *server) run(w http.ResponseWriter, r *http.Request, h handlerFunc) {
	err := call(h, w, r)
	if err == nil {
		return
	}
	if ww, ok := w.(interface{ written() bool }); ok && ww.written() {
		s.log.ErrorContext(r.Context(), "handler failed after writing its response",
			"method", r.Method, "path", r.URL.Path, "err", err)
		return
	}
	s.problem(w, r, s.keyFirst(r, err))
}

// keyFirst returns the error that a failed request answers: err, unless
// its key was taken on trust (requestInfo.verifyKey) and is refused now,
// then unauthorized, as if the key had been looked up before anything
// else.
func (s *server) keyFirst(r *http.Request, err error) error {
	secret := infoOf(r).verifyKey
	if secret == "" || domain.ErrorCode(err) == domain.CodeUnauthorized {
		return err
	}
	if _, kerr := s.svc.AuthenticateKey(r.Context(), secret); domain.ErrorCode(kerr) == domain.CodeUnauthorized {
		return kerr
	}
	return err
}

// call runs h, turning a panic into an internal error.
func call(h handlerFunc, w http.ResponseWriter, r *http.Request) (err error) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			err = fmt.Errorf("panic: %v\n%s", v, debug.Stack())
		}
	}()
	return h(w, r)
}

// authenticateRoute checks the bearer API key of a request to rt; on a
// runKey route without an Idempotency-Key it takes a key this process
// authenticated before on trust and leaves info.verifyKey for the run to
// check. Errors: unauthorized.
func (s *server) authenticateRoute(r *http.Request, rt route, info *requestInfo) (domain.APIKey, error) {
	secret, err := bearer(r)
	if err != nil {
		return domain.APIKey{}, err
	}
	if rt.access == runKey && r.Header.Get("Idempotency-Key") == "" {
		if key, ok := s.svc.UnverifiedKey(secret); ok {
			info.verifyKey = secret
			return key, nil
		}
	}
	return s.svc.AuthenticateKey(r.Context(), secret)
}

// bearer returns the secret of the Authorization header. Errors:
// unauthorized.
func bearer(r *http.Request) (string, error) {
	scheme, secret, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(secret) == "" {
		return "", domain.Errorf(domain.CodeUnauthorized, "an API key is required: Authorization: Bearer <key>")
	}
	return strings.TrimSpace(secret), nil
}

// maxLoggedPath bounds the path written to a log line.
const maxLoggedPath = 512

// observe records metrics and the log line of a finished request: method,
// route pattern, path, status, duration, request id, and the org and API
// key id of an authenticated request.
func (s *server) observe(r *http.Request, routeLabel string, status int, elapsed time.Duration, info *requestInfo) {
	s.metrics.observeRequest(routeLabel, methodLabel(r.Method), status, elapsed)
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	path := r.URL.EscapedPath()
	if len(path) > maxLoggedPath {
		path = path[:maxLoggedPath] + "..."
	}
	s.log.LogAttrs(r.Context(), level, "request",
		slog.String("method", r.Method),
		slog.String("route", routeLabel),
		slog.String("path", path),
		slog.Int("status", status),
		slog.Duration("duration", elapsed),
		slog.String("requestId", info.id),
		slog.String("org", string(info.org)),
		slog.String("key", string(info.key)),
	)
}

// unmatchedRoute labels requests that match no route in metrics and logs.
const unmatchedRoute = "unmatched"

// unmatched answers requests that match no route (404) or match a route
// with another method (405) with problem+json instead of the ServeMux's
// plain text.
func (s *server) unmatched(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		r, info := s.begin(w, r)
		iw := &interceptWriter{ResponseWriter: w}
		h.ServeHTTP(iw, r)
		status := iw.status
		switch status {
		case http.StatusNotFound:
			s.problem(w, r, domain.Errorf(domain.CodeNotFound, "no route for %s %s", r.Method, r.URL.Path))
		case http.StatusMethodNotAllowed:
			s.problem(w, r, domain.Errorf(domain.CodeMethodNotAllowed, "method %s is not allowed on %s; allowed: %s",
				r.Method, r.URL.Path, w.Header().Get("Allow")))
		}
		s.observe(r, unmatchedRoute, status, time.Since(start), info)
	})
}

// statusWriter remembers the status written through it.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) written() bool { return w.status != 0 }

func (w *statusWriter) statusCode() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// interceptWriter swallows the ServeMux's plain-text 404 and 405 bodies so
// a problem can be written instead; other responses (redirects to the
// canonical path) pass through.
type interceptWriter struct {
	http.ResponseWriter
	status      int
	intercepted bool
}

func (w *interceptWriter) WriteHeader(code int) {
	if w.status != 0 {
		return
	}
	w.status = code
	if code == http.StatusNotFound || code == http.StatusMethodNotAllowed {
		w.intercepted = true
		for _, h := range []string{"Content-Type", "X-Content-Type-Options", "Content-Length"} {
			w.Header().Del(h)
		}
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *interceptWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.intercepted {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}
