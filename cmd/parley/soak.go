package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/parleyhq/parley/bench"
	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/license"
)

// Defaults of the soak (parley bench --scenario soak).
const (
	soakDefaultDuration  = 10 * time.Minute
	soakDefaultRetention = 2 * time.Minute
	soakServerStartup    = time.Minute
	soakServerShutdown   = 15 * time.Second
)

// soakFlags configure --scenario soak.
type soakFlags struct {
	rate                   *int
	sample                 *time.Duration
	retention, idempotency *time.Duration
	serverData             *string
	webhooks               *bool
}

// addSoakFlags adds the soak's flags to parley bench's.
func addSoakFlags(f *flagSet) *soakFlags {
	return &soakFlags{
		rate:   f.Int("rate", "", 20, "soak: calls per second of all clients together (updates, finds and bot turns in turn), paced"),
		sample: f.Duration("sample", "", 30*time.Second, "soak: time between two samples of the database and the server"),
		retention: f.Duration("retention", "", soakDefaultRetention,
			"soak with --self: the server's --retention (runs and events), short so that a soak sees deletion"),
		idempotency: f.Duration("idempotency-retention", "", soakDefaultRetention,
			"soak with --self: the server's --idempotency-retention (at least "+minIdempotencyRetention.String()+")"),
		serverData: f.String("server-data", "", "", "soak with --url on SQLite: the server's --data directory, whose database is sampled (with --url on PostgreSQL give --database)"),
		webhooks:   f.Bool("webhooks", "", true, "soak: subscribe a receiver in this process to every event (with --url the server needs --webhooks-allow-private)"),
	}
}

// check validates the soak's flags once cfg is parsed, sets cfg.soak, and
// defaults the duration to 10 minutes when --duration was not given. Other
// scenarios ignore them.
func (s *soakFlags) check(f *flagSet, cfg *benchConfig) error {
	if cfg.scenario != bench.ScenarioSoak {
		return nil
	}
	cfg.soak = s
	if f.source("duration") == "the default" {
		cfg.duration = soakDefaultDuration
	}
	switch {
	case *s.rate <= 0 || *s.sample <= 0 || *s.retention <= 0:
		return usagef("parley bench: --rate, --sample and --retention must be positive")
	case *s.idempotency < minIdempotencyRetention:
		return usagef("parley bench: --idempotency-retention must be at least %s", minIdempotencyRetention)
	case !cfg.self && cfg.store.database == "" && *s.serverData == "":
		return usagef("parley bench: --scenario soak with --url samples the server's database: give --database (PostgreSQL) or --server-data (SQLite)")
	}
	return nil
}

// benchSoak runs --scenario soak and prints its report.
func benchSoak(ctx context.Context, c *cli, cfg benchConfig) error {
	s := cfg.soak
	tmp, err := os.MkdirTemp("", "parley-soak-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	target, key, server := firstURL(cfg.url), cfg.key, "the server at "+firstURL(cfg.url)
	if cfg.self {
		srv, err := startSoakServer(ctx, tmp, cfg.store, s, c.stderr)
		if err != nil {
			return err
		}
		defer srv.stop()
		target, key = srv.url, srv.key
		server = fmt.Sprintf("parley serve --retention %s --idempotency-retention %s on %s (pid %d, log %s)",
			*s.retention, *s.idempotency, describeBenchStore(cfg.store, tmp), srv.cmd.Process.Pid, srv.log)
	}
	probe, err := openSoakProbe(ctx, cfg, s, tmp)
	if err != nil {
		return err
	}
	defer probe.Close()
	fmt.Fprintf(c.stdout, "# parley bench --scenario soak: %d clients, %d calls/s, %s, a sample every %s; %s\n# load average at start: %s\n",
		cfg.clients, *s.rate, cfg.duration, *s.sample, server, loadAverage())
	api := client.New(target, key, client.WithHTTPClient(bench.NewHTTPClient(cfg.clients)))
	report, runErr := bench.RunSoak(ctx, bench.SoakConfig{
		Clients: cfg.clients, Rate: float64(*s.rate), Duration: cfg.duration, Sample: *s.sample, Progress: c.stderr,
	}, bench.SoakTarget{Client: api, Probe: probe, Webhooks: *s.webhooks})
	if len(report.Samples) > 0 {
		fmt.Fprintf(c.stdout, "# load average at end: %s\n", loadAverage())
		if err := report.Print(c.stdout); err != nil {
			return err
		}
	}
	return runErr
}

// describeBenchStore names the bench's store in dir.
func describeBenchStore(st benchStore, dir string) string {
	return st.flags(dir).describe()
}

// openSoakProbe opens the probe of the soaked server's database.
func openSoakProbe(ctx context.Context, cfg benchConfig, s *soakFlags, tmp string) (bench.DBProbe, error) {
	if cfg.store.database != "" {
		return bench.OpenPostgresProbe(ctx, cfg.store.database)
	}
	dir := tmp
	if !cfg.self {
		dir = *s.serverData
	}
	path := filepath.Join(dir, sqliteFileName)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("parley bench: the server's SQLite database: %w", err)
	}
	return bench.OpenSQLiteProbe(path)
}

// loadAverage is the first three fields of /proc/loadavg, or "unknown".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}

// soakServer is a "parley serve" child process of the soak.
type soakServer struct {
	cmd       *exec.Cmd
	url, key  string
	log       string
	exited    chan struct{}
	exitError error
}

// startSoakServer creates an org with an ENTERPRISE licence in a fresh
// store in dir (or the PostgreSQL database), then starts this executable's
// "parley serve" on it with the soak's retention, trusting the licence's
// key and letting webhooks reach this process. The child's log goes to
// dir/server.log.
func startSoakServer(ctx context.Context, dir string, st benchStore, s *soakFlags, progress io.Writer) (*soakServer, error) {
	pub, priv, err := license.GenerateKey()
	if err != nil {
		return nil, err
	}
	svc, _, closeStore, err := benchService(ctx, dir, st, operatorKeys{keys: []ed25519.PublicKey{pub}}, nil)
	if err != nil {
		return nil, err
	}
	_, key, err := createLicensedOrg(ctx, svc, priv, "bench soak")
	closeStore()
	if err != nil {
		return nil, err
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	srv := &soakServer{key: key, log: filepath.Join(dir, "server.log"), exited: make(chan struct{})}
	logFile, err := os.Create(srv.log)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	addrFile := filepath.Join(dir, "addr")
	args := []string{"serve", "--addr", "127.0.0.1:0", "--addr-file", addrFile, "--data", dir, "--database", st.database,
		"--sqlite-sync", st.sqliteSync, "--license-keys", license.EncodePublicKey(pub),
		"--retention", s.retention.String(), "--idempotency-retention", s.idempotency.String(), "--webhooks-allow-private"}
	srv.cmd = exec.Command(exe, args...)
	srv.cmd.Env = withoutParleyEnv(os.Environ())
	srv.cmd.Stdout, srv.cmd.Stderr = logFile, logFile
	if err := srv.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { srv.exitError = srv.cmd.Wait(); close(srv.exited) }()
	fmt.Fprintf(progress, "# started parley serve (pid %d), its log in %s\n", srv.cmd.Process.Pid, srv.log)
	if err := srv.waitReady(ctx, addrFile); err != nil {
		srv.stop()
		return nil, err
	}
	return srv, nil
}

// withoutParleyEnv drops PARLEY_ variables, so that the server gets only
// the soak's settings.
func withoutParleyEnv(env []string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "PARLEY_") {
			out = append(out, kv)
		}
	}
	return out
}

// waitReady waits until the server wrote its address and answers /readyz.
func (s *soakServer) waitReady(ctx context.Context, addrFile string) error {
	deadline := time.Now().Add(soakServerStartup)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(addrFile); err == nil && len(bytes.TrimSpace(b)) > 0 {
			s.url = "http://" + strings.TrimSpace(string(b))
			if client.New(s.url, "").Ready(ctx) == nil {
				return nil
			}
		}
		select {
		case <-s.exited:
			return fmt.Errorf("parley bench: the soak's server exited: %v (log: %s)", s.exitError, s.log)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("parley bench: the soak's server was not ready after %s (log: %s)", soakServerStartup, s.log)
}

// stop shuts the server down gracefully (SIGTERM), or kills it after
// soakServerShutdown.
func (s *soakServer) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(soakServerShutdown):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}
