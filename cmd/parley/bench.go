package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strings"
	"time"

	"github.com/parleyhq/parley/bench"
	"github.com/parleyhq/parley/channel"
	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/httpapi"
	"github.com/parleyhq/parley/license"
	"github.com/parleyhq/parley/runlog"
	"github.com/parleyhq/parley/service"
	"github.com/parleyhq/parley/webhook"
)

// benchConfig is the resolved configuration of "parley bench".
type benchConfig struct {
	url, key string
	self     bool
	clients  int
	duration time.Duration
	store    benchStore
	// cpuProfile, when set, receives a CPU profile of the whole run (the
	// server included with --self).
	cpuProfile string
	// trace, when set, receives an execution trace of what cpuProfile
	// covers.
	trace string
	// scenario is bench.ScenarioOperations, bench.ScenarioBot, or a
	// channel's: bench.ScenarioSMS, bench.ScenarioWebChat,
	// bench.ScenarioWebChatIdle.
	scenario string
	// think is a web chat visitor's mean pause between messages.
	think time.Duration
	// soak configures bench.ScenarioSoak (soak.go).
	soak *soakFlags
	// seed is the size of the seeded data set; zero without one.
	seed benchSeed
}

// benchScenarios are the --scenario values.
var benchScenarios = []string{bench.ScenarioOperations, bench.ScenarioBot, bench.ScenarioSMS, bench.ScenarioWebChat, bench.ScenarioWebChatIdle, bench.ScenarioSoak}

func parseBenchFlags(c *cli, args []string) (benchConfig, error) {
	f := newFlagSet("bench", "Drive a server with concurrent clients calling update_customer_identifier and\n"+
		"find_conversations_by_customer_identifier; print throughput and p50/p99 latency beside the in-process\n"+
		"figure (the same number of goroutines calling service.Run on a fresh store of the same kind).\n"+
		"Give --url and --key (an API key of an org with an ENTERPRISE licence), or --self.", c.getenv, c.stderr)
	url := f.String("url", "PARLEY_URL", "", "base URL of the server to drive, such as http://127.0.0.1:8080; a comma-separated list spreads the clients over several servers of one database")
	key := f.String("key", "PARLEY_KEY", "", "API key of an org with an ENTERPRISE licence on --url")
	self := f.Bool("self", "", false, "start a server in this process on a temporary database instead of using --url")
	clients := f.Int("clients", "", 32, "concurrent clients")
	duration := f.Duration("duration", "", 10*time.Second, "how long each operation is measured, over HTTP and in process")
	// Not read from PARLEY_DATABASE_URL: in a server's environment that is
	// the production database, and the bench creates orgs where it runs.
	database := f.String("database", "", "",
		"PostgreSQL URL for the in-process store (and the --self server's); empty: temporary SQLite files. The bench creates its own orgs there: use a database of its own")
	// Not read from PARLEY_SQLITE_SYNC either: the bench's databases are
	// its own.
	sqliteSync := addSQLiteSyncFlag(f, "")
	cpuProfile := f.String("cpuprofile", "", "", "write a CPU profile of the run (with --self, the server's work included; with --customers, the measured phases, not the seeding) to this file, for go tool pprof")
	traceFile := f.String("trace", "", "", "write an execution trace of the run (what --cpuprofile covers) to this file, for go tool trace: where goroutines such as the SQLite writer wait")
	scenario := f.String("scenario", "", bench.ScenarioOperations, "operations: the data operations; bot: every client converses with the example bot (examples/change-number), one turn per message;\n"+
		"sms: every client texts the example bot through Twilio's inbound webhook (to the replies queued);\n"+
		"webchat: --clients visitors converse with the example bot over web chat sockets, each pausing about --think between messages (round trip: sent until the bot's replies arrive);\n"+
		"webchat-idle: --clients web chat sockets start a conversation each and stay idle for --duration; the server's RSS is read from its /metrics (needs --url: a separate parley serve);\n"+
		"soak: a steady mixed load at --rate for --duration (default 10m), sampling the database and the server's RSS every --sample, with a verdict (with --self: a parley serve child with a short --retention)")
	think := f.Duration("think", "", 5*time.Second, "webchat: a visitor's mean pause between two messages")
	soak := addSoakFlags(f)
	seed := addBenchSeedFlags(f)
	if err := f.parse(args); err != nil {
		return benchConfig{}, err
	}
	cfg := benchConfig{url: *url, key: *key, self: *self, clients: *clients, duration: *duration,
		store: benchStore{database: *database, sqliteSync: *sqliteSync}, cpuProfile: *cpuProfile, trace: *traceFile, scenario: *scenario, think: *think, seed: seed.get()}
	switch {
	case cfg.self == (cfg.url != ""):
		return cfg, usagef("parley bench: give either --url (with --key) or --self")
	case !cfg.self && cfg.key == "":
		return cfg, usagef("parley bench: --key is required with --url")
	case cfg.clients <= 0 || cfg.duration <= 0:
		return cfg, usagef("parley bench: --clients and --duration must be positive")
	case !slices.Contains(benchScenarios, cfg.scenario):
		return cfg, usagef("parley bench: --scenario must be one of %s", strings.Join(benchScenarios, ", "))
	case cfg.scenario == bench.ScenarioWebChatIdle && cfg.self:
		return cfg, usagef("parley bench: --scenario %s measures the server's memory: start parley serve separately and give --url", bench.ScenarioWebChatIdle)
	case cfg.think <= 0:
		return cfg, usagef("parley bench: --think must be positive")
	case cfg.store.database != "" && !isPostgresURL(cfg.store.database):
		return cfg, usagef("parley bench: --database must be a PostgreSQL URL (postgres://...) or keyword/value string")
	case !validSQLiteSync(cfg.store.sqliteSync):
		return cfg, usagef("parley bench: --sqlite-sync must be full or normal, got %q", cfg.store.sqliteSync)
	}
	if err := soak.check(f, &cfg); err != nil {
		return cfg, err
	}
	return cfg, cfg.checkSeed()
}

func cmdBench(ctx context.Context, c *cli, args []string) error {
	cfg, err := parseBenchFlags(c, args)
	if err != nil {
		return err
	}
	if cfg.scenario == bench.ScenarioSoak {
		return benchSoak(ctx, c, cfg)
	}
	tmp, err := os.MkdirTemp("", "parley-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	pub, priv, err := license.GenerateKey()
	if err != nil {
		return err
	}
	keys := operatorKeys{keys: []ed25519.PublicKey{pub}}
	logger := slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if cfg.seed.customers > 0 {
		return benchSeeded(ctx, c, cfg, filepath.Join(tmp, "seeded"), keys, priv, logger)
	}
	stopProfiles, err := startProfiles(cfg)
	if err != nil {
		return err
	}
	defer stopProfiles()

	inProcess, _, closeInProcess, err := benchService(ctx, filepath.Join(tmp, "in-process"), cfg.store, keys, logger)
	if err != nil {
		return err
	}
	defer closeInProcess()
	inOrg, _, err := createLicensedOrg(ctx, inProcess, priv, "bench in-process")
	if err != nil {
		return err
	}

	target, key := cfg.url, cfg.key
	if cfg.self {
		var stop func()
		target, key, stop, err = startSelfServer(ctx, filepath.Join(tmp, "server"), cfg.store, keys, priv, logger)
		if err != nil {
			return err
		}
		defer stop()
	}
	httpClient := bench.NewHTTPClient(cfg.clients)
	nodes := httpNodes(target, key, httpClient)

	store := "SQLite (temporary files, synchronous=" + string(cfg.store.flags(tmp).sync()) + ")"
	if cfg.store.database != "" {
		store = cfg.store.flags(tmp).describe()
	}
	fmt.Fprintf(c.stdout, "# parley bench: %d clients, %s per operation and driver; HTTP target %s%s; in-process store %s\n",
		cfg.clients, cfg.duration, target, map[bool]string{true: " (--self, in this process)"}[cfg.self], store)
	benchCfg := bench.Config{Clients: cfg.clients, Duration: cfg.duration, Progress: c.stderr}
	var report bench.Report
	var runErr error
	switch cfg.scenario {
	case bench.ScenarioBot:
		report, runErr = bench.RunBot(ctx, benchCfg, &bench.HTTPBot{Client: nodes[0], Nodes: nodes}, &bench.InProcessBot{Service: inProcess, Org: inOrg})
	case bench.ScenarioSMS:
		report, runErr = bench.RunSMS(ctx, benchCfg, &bench.HTTPSMS{Client: nodes[0], BaseURL: firstURL(target), HTTP: httpClient},
			&bench.InProcessSMS{Service: inProcess, Org: inOrg})
	case bench.ScenarioWebChat, bench.ScenarioWebChatIdle:
		return benchWebChat(ctx, c, cfg, bench.WebChatTarget{BaseURLs: splitURLs(target), Client: nodes[0]}, &bench.InProcessWebChat{Service: inProcess, Org: inOrg})
	default:
		report, runErr = bench.Run(ctx, benchCfg, &bench.HTTP{Client: nodes[0], Nodes: nodes}, &bench.InProcess{Service: inProcess, Org: inOrg})
	}
	if len(report.Comparisons) > 0 {
		if err := report.Print(c.stdout); err != nil {
			return err
		}
	}
	return runErr
}

// benchWebChat runs a web chat scenario and prints its report.
func benchWebChat(ctx context.Context, c *cli, cfg benchConfig, target bench.WebChatTarget, inProcess *bench.InProcessWebChat) error {
	if cfg.scenario == bench.ScenarioWebChatIdle {
		report, err := bench.RunIdleSockets(ctx, bench.IdleConfig{Sockets: cfg.clients, Dialers: 32, Hold: cfg.duration, Progress: c.stderr}, target)
		if perr := report.Print(c.stdout); perr != nil {
			return perr
		}
		return err
	}
	report, err := bench.RunWebChat(ctx, bench.WebChatConfig{Visitors: cfg.clients, Think: cfg.think, Duration: cfg.duration, Progress: c.stderr}, target, inProcess)
	if report.WebChat.Ops+report.InProcess.Ops > 0 {
		if perr := report.Print(c.stdout); perr != nil {
			return perr
		}
	}
	return err
}

// splitURLs splits a comma-separated --url.
func splitURLs(list string) []string {
	var out []string
	for _, u := range strings.Split(list, ",") {
		out = append(out, strings.TrimSpace(u))
	}
	return out
}

func firstURL(list string) string { return splitURLs(list)[0] }

// benchStore is the store of the bench's services: temporary SQLite files
// (with their synchronous setting) or a PostgreSQL database.
type benchStore struct {
	database   string
	sqliteSync string
}

// flags returns the store flags of a store in dir.
func (b benchStore) flags(dir string) storeFlags {
	return storeFlags{data: &dir, database: &b.database, sqliteSync: &b.sqliteSync}
}

// benchService opens a fresh, migrated store in dir (or on the PostgreSQL
// database) and wires a service on it with a run log as parley serve's;
// closeAll writes the run log's buffered records and closes the store.
func benchService(ctx context.Context, dir string, st benchStore, keys operatorKeys, logger *slog.Logger) (svc *service.Service, store domain.Store, closeAll func(), err error) {
	store, err = st.flags(dir).open(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	runs := runlog.New(runlog.Config{Store: store, Logger: logger})
	closeAll = func() {
		closeRunLog(runs, logger)
		store.Close()
	}
	return newService(store, keys, webhook.NewGuard(false, nil), runs, logger), store, closeAll, nil
}

// createLicensedOrg creates an org holding an ENTERPRISE licence signed by
// priv and returns it with its API key.
func createLicensedOrg(ctx context.Context, svc *service.Service, priv ed25519.PrivateKey, name string) (domain.OrgID, string, error) {
	org, key, err := svc.CreateOrg(ctx, name)
	if err != nil {
		return "", "", err
	}
	now := time.Now().UTC()
	token, err := license.Issue(priv, domain.License{OrgID: org.ID, Plan: domain.PlanEnterprise, IssuedAt: now, ExpiresAt: now.Add(24 * time.Hour)})
	if err != nil {
		return "", "", err
	}
	if _, err := svc.InstallLicense(ctx, org.ID, token); err != nil {
		return "", "", err
	}
	return org.ID, key.Secret, nil
}

// startSelfServer serves the HTTP API on a free loopback port from a fresh
// store, with an ENTERPRISE org; it returns the base URL and the org's key.
func startSelfServer(ctx context.Context, dir string, st benchStore, keys operatorKeys, priv ed25519.PrivateKey, logger *slog.Logger) (url, key string, stop func(), err error) {
	svc, store, closeStore, err := benchService(ctx, dir, st, keys, logger)
	if err != nil {
		return "", "", nil, err
	}
	if _, key, err = createLicensedOrg(ctx, svc, priv, "bench http"); err != nil {
		closeStore()
		return "", "", nil, err
	}
	url, stopServer, err := serveBench(ctx, svc, store, logger)
	if err != nil {
		closeStore()
		return "", "", nil, err
	}
	return url, key, func() { stopServer(); closeStore() }, nil
}

// serveBench serves svc's HTTP API on a free loopback port until stop is
// called (which leaves store open).
func serveBench(ctx context.Context, svc *service.Service, store domain.Store, logger *slog.Logger) (url string, stop func(), err error) {
	// The channels' endpoints, without the SMS outbox worker: the SMS
	// scenario measures replies queued.
	registry := newMetricsRegistry()
	notifier, _ := store.(domain.Notifier)
	channels, webChat := newChannels(svc, notifier, "", logger, channel.NewMetrics(registry))
	handler := httpapi.New(httpapi.Config{Service: svc, Store: store, Logger: logger, Metrics: registry, MaxBodyBytes: defaultMaxBody, Channels: channels})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	srv.RegisterOnShutdown(webChat.Close)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	stop = func() {
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		defer cancel()
		if err := srv.Shutdown(shutdownCtx); err != nil {
			logger.Warn("bench server shutdown", "err", err)
		}
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			logger.Warn("bench server", "err", err)
		}
		webChat.Close()
	}
	return "http://" + ln.Addr().String(), stop, nil
}

// httpNodes returns a client with key for each server of target (a
// comma-separated list of base URLs), all on httpClient.
func httpNodes(target, key string, httpClient *http.Client) []*client.Client {
	var nodes []*client.Client
	for _, u := range splitURLs(target) {
		nodes = append(nodes, client.New(u, key, client.WithHTTPClient(httpClient)))
	}
	return nodes
}

// startProfiles starts the CPU profile and the execution trace that cfg
// asks for; stop ends both and closes their files.
func startProfiles(cfg benchConfig) (stop func(), err error) {
	var stops []func()
	stop = func() {
		for _, s := range stops {
			s()
		}
	}
	if cfg.cpuProfile != "" {
		f, err := os.Create(cfg.cpuProfile)
		if err != nil {
			return nil, err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return nil, err
		}
		stops = append(stops, func() { pprof.StopCPUProfile(); f.Close() })
	}
	if cfg.trace != "" {
		f, err := os.Create(cfg.trace)
		if err != nil {
			stop()
			return nil, err
		}
		if err := trace.Start(f); err != nil {
			f.Close()
			stop()
			return nil, err
		}
		stops = append(stops, func() { trace.Stop(); f.Close() })
	}
	return stop, nil
}
