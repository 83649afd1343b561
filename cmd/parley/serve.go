package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/parleyhq/parley/channel"
	"github.com/parleyhq/parley/channel/twilio"
	"github.com/parleyhq/parley/channel/webchat"
	"github.com/parleyhq/parley/clock"
	"github.com/parleyhq/parley/console"
	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/httpapi"
	"github.com/parleyhq/parley/identifier"
	"github.com/parleyhq/parley/ids"
	"github.com/parleyhq/parley/license"
	"github.com/parleyhq/parley/retention"
	"github.com/parleyhq/parley/runlog"
	"github.com/parleyhq/parley/service"
	"github.com/parleyhq/parley/webhook"
)

// shutdownTimeout bounds how long in-flight requests may finish after
// SIGINT or SIGTERM.
const shutdownTimeout = 10 * time.Second

// minIdempotencyRetention is the shortest --idempotency-retention: a key
// must outlive the lease of a request still in progress.
const minIdempotencyRetention = 2 * time.Minute

// defaultMaxBody fits the largest bot definition (1 MiB) with room to spare.
const defaultMaxBody = 2 << 20

// serveConfig is the resolved configuration of "parley serve".
type serveConfig struct {
	addr        string
	addrFile    string
	store       storeFlags
	licenseKeys string
	logFormat   string
	maxBody     int64
	// channels
	publicURL      string
	twilioBaseURL  string
	smsSendTimeout time.Duration
	webhooks       webhookFlags
	// retention is how long runs, events and finished webhook
	// deliveries are kept, and
	// idempotencyRetention how long Idempotency-Keys are remembered.
	retention, idempotencyRetention time.Duration
}

// webhookFlags configure webhook delivery.
type webhookFlags struct {
	allowPrivate bool
	timeout      time.Duration
	concurrency  int
}

// parseServeFlags resolves the flags and environment of "parley serve".
func parseServeFlags(c *cli, args []string) (serveConfig, error) {
	f := newFlagSet("serve", "Run the HTTP API server. Migrations are applied on start; SIGINT or SIGTERM shut it down gracefully.", c.getenv, c.stderr)
	cfg := serveConfig{}
	addr := f.String("addr", "PARLEY_ADDR", "127.0.0.1:8080", "address to listen on (port 0 picks a free port)")
	addrFile := f.String("addr-file", "PARLEY_ADDR_FILE", "", "write the address actually listened on (host:port) to this file")
	cfg.store = addStoreFlags(f)
	keys := f.String("license-keys", "PARLEY_LICENSE_KEYS", "",
		"comma-separated operator public keys whose licences are trusted; empty: the development key in --data, created on first start")
	logFormat := f.String("log-format", "PARLEY_LOG_FORMAT", "text", "log format: text or json")
	maxBody := f.Int64("max-body", "PARLEY_MAX_BODY", defaultMaxBody, "largest request body in bytes; larger bodies get 413")
	publicURL := f.String("public-url", "PARLEY_PUBLIC_URL", "",
		"the scheme and host clients and Twilio reach this server at (e.g. https://parley.example.com), for Twilio signatures and status callbacks behind a proxy; empty: the request's own host")
	twilioBaseURL := f.String("twilio-base-url", "PARLEY_TWILIO_BASE_URL", "https://api.twilio.com", "base URL of the Twilio-compatible Messages API that SMS replies are sent through")
	smsSendTimeout := f.Duration("sms-send-timeout", "PARLEY_SMS_SEND_TIMEOUT", 30*time.Second,
		"bound of one Messages API request; a claimed SMS whose worker stopped is given up after twice this")
	allowPrivate := f.Bool("webhooks-allow-private", "PARLEY_WEBHOOKS_ALLOW_PRIVATE", false,
		"let webhook endpoints be private, loopback or link-local addresses (refused by default, against SSRF)")
	timeout := f.Duration("webhooks-timeout", "PARLEY_WEBHOOKS_TIMEOUT", webhook.DefaultTimeout,
		"timeout of one webhook request; a claimed delivery is leased for three times as long")
	concurrency := f.Int("webhooks-concurrency", "PARLEY_WEBHOOKS_CONCURRENCY", webhook.DefaultConcurrency,
		"webhook requests in flight at most in this process")
	keep := f.Duration("retention", "PARLEY_RETENTION", retention.DefaultKeep,
		"how long operation runs, events and finished webhook deliveries are kept (e.g. 720h, the default: 30 days)")
	keepIdem := f.Duration("idempotency-retention", "PARLEY_IDEMPOTENCY_RETENTION", service.DefaultIdempotencyRetention,
		"how long an Idempotency-Key is remembered (a retry after it runs again); at least "+minIdempotencyRetention.String()+", the lease of a request in progress")
	if err := f.parse(args); err != nil {
		return cfg, err
	}
	if *keep <= 0 {
		return cfg, usagef("parley serve: --retention must be positive")
	}
	if *keepIdem < minIdempotencyRetention {
		return cfg, usagef("parley serve: --idempotency-retention must be at least %s", minIdempotencyRetention)
	}
	cfg.retention, cfg.idempotencyRetention = *keep, *keepIdem
	if *timeout <= 0 || *concurrency <= 0 {
		return cfg, usagef("parley serve: --webhooks-timeout and --webhooks-concurrency must be positive")
	}
	cfg.webhooks = webhookFlags{allowPrivate: *allowPrivate, timeout: *timeout, concurrency: *concurrency}
	for name, u := range map[string]string{"public-url": *publicURL, "twilio-base-url": *twilioBaseURL} {
		if err := checkBaseURL(name, u); err != nil {
			return cfg, err
		}
	}
	if *smsSendTimeout <= 0 {
		return cfg, usagef("parley serve: --sms-send-timeout must be positive")
	}
	cfg.publicURL, cfg.twilioBaseURL, cfg.smsSendTimeout = strings.TrimRight(*publicURL, "/"), *twilioBaseURL, *smsSendTimeout
	if err := f.oneOf("log-format", *logFormat, "text", "json"); err != nil {
		return cfg, err
	}
	if *maxBody <= 0 {
		return cfg, usagef("parley serve: --max-body must be positive")
	}
	if err := cfg.store.check(); err != nil {
		return cfg, err
	}
	cfg.addr, cfg.addrFile, cfg.licenseKeys, cfg.logFormat, cfg.maxBody = *addr, *addrFile, *keys, *logFormat, *maxBody
	return cfg, nil
}

func newLogger(format string, w io.Writer) *slog.Logger {
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

// newService wires the service on store with the system clock, random ids,
// the identifier rules, a verifier trusting keys, the webhook guard and the
// run log (nil: runs recorded one transaction each, as admin commands do).
func newService(store domain.Store, keys operatorKeys, guard *webhook.Guard, runs *runlog.Log, logger *slog.Logger) *service.Service {
	return service.New(serviceConfig(store, keys, guard, runs, logger))
}

// serviceConfig is the configuration newService wires.
func serviceConfig(store domain.Store, keys operatorKeys, guard *webhook.Guard, runs *runlog.Log, logger *slog.Logger) service.Config {
	cfg := service.Config{
		Store:       store,
		Clock:       clock.System{},
		IDs:         ids.Random{},
		Licenses:    license.NewVerifier(keys.keys...),
		Identifiers: identifier.Normalizer{},
		Logger:      logger,
	}
	if runs != nil {
		cfg.RunLog = runs
	}
	if guard != nil {
		cfg.Webhooks = guard
	}
	return cfg
}

// startWebhooks runs the webhook delivery worker until ctx is cancelled;
// the returned channel closes when it has finished its requests in flight.
func startWebhooks(ctx context.Context, cfg webhookFlags, store domain.Store, svc *service.Service, guard *webhook.Guard,
	reg prometheus.Registerer, logger *slog.Logger) <-chan struct{} {
	notifier, _ := store.(domain.Notifier)
	worker := webhook.NewWorker(webhook.Config{
		Store: store, Service: svc, Clock: clock.System{}, Logger: logger, Metrics: reg, Notifier: notifier,
		Sender:      webhook.NewSender(guard, cfg.timeout, cfg.concurrency),
		Concurrency: cfg.concurrency, Lease: 3 * cfg.timeout,
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = worker.Run(ctx)
	}()
	if cfg.allowPrivate {
		logger.Warn("webhooks may reach private, loopback and link-local addresses (--webhooks-allow-private)")
	}
	return done
}

// startRetention deletes expired runs, events, idempotency records and
// finished webhook deliveries every minute until ctx is cancelled; the returned channel closes when
// the worker has stopped.
func startRetention(ctx context.Context, keep, keepIdempotency time.Duration, store domain.Store, reg prometheus.Registerer, logger *slog.Logger) <-chan struct{} {
	worker := retention.New(retention.Config{
		Store: store, Clock: clock.System{}, Keep: keep, KeepIdempotency: keepIdempotency,
		Metrics: reg, Logger: logger,
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = worker.Run(ctx)
	}()
	return done
}

// newMetricsRegistry returns the registry /metrics serves: the API's own
// metrics plus the Go runtime and process collectors.
func newMetricsRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

func cmdServe(ctx context.Context, c *cli, args []string) error {
	cfg, err := parseServeFlags(c, args)
	if err != nil {
		return err
	}
	logger := newLogger(cfg.logFormat, c.stderr)
	keys, err := resolveOperatorKeys(cfg.licenseKeys, *cfg.store.data)
	if err != nil {
		return err
	}
	if msg := keys.describeDevKey(); msg != "" {
		logger.Info(msg)
	} else {
		logger.Info("trusting the configured operator licence keys", "count", len(keys.keys))
	}
	store, err := cfg.store.open(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	logger.Info("database ready, migrations applied", "store", cfg.store.describe())

	guard := webhook.NewGuard(cfg.webhooks.allowPrivate, nil)
	registry := newMetricsRegistry()
	runs := runlog.New(runlog.Config{Store: store, Metrics: registry, Logger: logger})
	defer closeRunLog(runs, logger) // after the HTTP server, before the store
	svcConfig := serviceConfig(store, keys, guard, runs, logger)
	svcConfig.IdempotencyRetention = cfg.idempotencyRetention
	svc := service.New(svcConfig)
	workerCtx, stopWorker := context.WithCancel(ctx)
	defer stopWorker()
	webhooksDone := startWebhooks(workerCtx, cfg.webhooks, store, svc, guard, registry, logger)
	retentionDone := startRetention(workerCtx, cfg.retention, cfg.idempotencyRetention, store, registry, logger)
	defer func() { stopWorker(); <-webhooksDone; <-retentionDone }() // before the store closes
	channelMetrics := channel.NewMetrics(registry)
	notifier, _ := store.(domain.Notifier)
	smsWorker := &twilio.Worker{
		Service: svc, BaseURL: cfg.twilioBaseURL, PublicBaseURL: cfg.publicURL, Notifier: notifier,
		SendTimeout: cfg.smsSendTimeout, Logger: logger, Metrics: channelMetrics,
	}
	channels, webChat := newChannels(svc, notifier, cfg.publicURL, logger, channelMetrics)
	defer webChat.Close()
	api := httpapi.New(httpapi.Config{
		Service:      svc,
		Store:        store,
		Logger:       logger,
		Metrics:      registry,
		MaxBodyBytes: cfg.maxBody,
		RequestIDs:   ids.Random{},
		HoldAnswer:   holdAnswers(c.getenv(holdAnswersEnv)),
		Channels:     channels,
	})
	operatorConsole := console.New(console.Config{Service: svc, Logger: logger, Notifier: notifier})
	handler := withConsole(api, operatorConsole)
	smsCtx, stopSMS := context.WithCancel(context.WithoutCancel(ctx))
	smsDone := make(chan struct{})
	go func() { defer close(smsDone); smsWorker.Run(smsCtx) }()
	defer func() { stopSMS(); <-smsDone }() // before the store closes
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	addr := ln.Addr().String()
	if cfg.addrFile != "" {
		if err := writeFileAtomic(cfg.addrFile, addr+"\n"); err != nil {
			ln.Close()
			return fmt.Errorf("writing --addr-file: %w", err)
		}
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second, // a stalled body cannot hold a connection
		WriteTimeout:      time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	srv.RegisterOnShutdown(operatorConsole.Close)
	// Hijacked web chat sockets are not tracked by Shutdown: close them
	// (1001, going away) so that their widgets reconnect elsewhere.
	srv.RegisterOnShutdown(webChat.Close)
	logger.Info("listening on http://"+addr, "addr", addr, "console", "http://"+addr+"/console/")
	return serveUntilDone(ctx, srv, ln, logger, shutdownTimeout)
}

// runLogCloseTimeout bounds how long shutdown waits for the run log to
// write what it holds.
const runLogCloseTimeout = 5 * time.Second

// closeRunLog writes the run log's buffered records before the store
// closes.
func closeRunLog(runs *runlog.Log, logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), runLogCloseTimeout)
	defer cancel()
	if err := runs.Close(ctx); err != nil {
		logger.Warn("run log: records still buffered at shutdown were dropped", "err", err)
	}
}

// newChannels builds the channels' public endpoints on svc: Twilio's
// webhooks (signatures checked over publicURL, "" for the request's own
// host) and the web chat, whose server must be closed at shutdown.
func newChannels(svc *service.Service, notifier domain.Notifier, publicURL string, logger *slog.Logger, metrics *channel.Metrics) (httpapi.Channels, *webchat.Server) {
	sms := &twilio.Handler{Service: svc, PublicBaseURL: publicURL, Logger: logger, Metrics: metrics}
	chat := &webchat.Server{Service: svc, Notifier: notifier, Logger: logger, Metrics: metrics}
	return httpapi.Channels{
		TwilioInbound: sms.Inbound, TwilioStatus: sms.Status,
		WebChatWidget: chat.Widget, WebChatDemo: chat.Demo, WebChatSocket: chat.Socket,
	}, chat
}

// holdAnswersEnv names a test-only variable. Set to a file path, it makes
// every successful request with an Idempotency-Key append "METHOD PATH" to
// that file once its change is committed, and then never answer: a test
// kills the server at that instant to check that a retry replays the
// answer instead of running the request again (e2e
// TestIdempotentRetryAfterCrash). Never set it in production.
const holdAnswersEnv = "PARLEY_TEST_HOLD_ANSWERS"

// holdAnswers returns the httpapi.Config.HoldAnswer hook of
// holdAnswersEnv, or nil when path is empty.
func holdAnswers(path string) func(*http.Request) {
	if path == "" {
		return nil
	}
	var mu sync.Mutex
	return func(r *http.Request) {
		mu.Lock()
		f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		if err == nil {
			fmt.Fprintln(f, r.Method, r.URL.Path)
			f.Close()
		}
		mu.Unlock()
		<-r.Context().Done() // no answer while the client waits
	}
}

// withConsole serves the operator console under /console and the API
// everywhere else.
func withConsole(api, operatorConsole http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/console", operatorConsole)
	mux.Handle("/console/", operatorConsole)
	mux.Handle("/", api)
	return mux
}

// serveUntilDone serves on ln until ctx is cancelled (by SIGINT or SIGTERM),
// then lets in-flight requests finish within timeout; connections still
// open after it (a stalled client) are closed.
func serveUntilDone(ctx context.Context, srv *http.Server, ln net.Listener, logger *slog.Logger, timeout time.Duration) error {
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down: finishing in-flight requests", "timeout", timeout.String())
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		logger.Warn("requests still open after the shutdown timeout: closing their connections", "err", err)
		if err := srv.Close(); err != nil {
			return fmt.Errorf("closing connections: %w", err)
		}
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	logger.Info("stopped")
	return nil
}

// writeFileAtomic replaces path with content, so a reader never sees a
// partial file.
func writeFileAtomic(path, content string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(content); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func cmdMigrate(ctx context.Context, c *cli, args []string) error {
	f := newFlagSet("migrate", "Apply the database migrations and exit.", c.getenv, c.stderr)
	st := addStoreFlags(f)
	if err := f.parse(args); err != nil {
		return err
	}
	store, err := st.open(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	fmt.Fprintf(c.stdout, "migrated %s\n", st.describe())
	return nil
}

// checkBaseURL accepts "" or an http(s) URL with a host and no query.
func checkBaseURL(flag, v string) error {
	if v == "" {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return usagef("parley serve: --%s must be an http:// or https:// URL such as https://parley.example.com, got %q", flag, v)
	}
	return nil
}
