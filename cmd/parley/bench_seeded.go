package main

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/parleyhq/parley/bench"
	"github.com/parleyhq/parley/dataset"
	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/service"
)

// benchSeed is the size of the data set of "parley bench --customers N
// --conversations M".
type benchSeed struct {
	customers, conversations int
	// licenseKeys are operator public keys the in-process service trusts
	// besides the bench's own, for the licence of the --key org.
	licenseKeys string
	// phases, when not empty, is the comma-separated list of the
	// target:operation pairs to measure (benchPhaseNames); empty: all.
	phases string
}

// phaseList is the list of s.phases.
func (s benchSeed) phaseList() []string {
	var phases []string
	for p := range strings.SplitSeq(s.phases, ",") {
		if p = strings.TrimSpace(p); p != "" {
			phases = append(phases, p)
		}
	}
	return phases
}

// benchPhaseNames are the values of --phases: a target (raw, in-process,
// http) and an operation.
var benchPhaseNames = []string{"raw:update", "in-process:update", "http:update", "raw:find", "in-process:find", "http:find"}

// Hand-written baselines: the find with rawReaders readers, the update
// alone (one transaction at a time) and, on PostgreSQL, with
// rawWriters connections.
const (
	rawReaders = 4
	rawWriters = 8
)

type benchSeedFlags struct {
	customers, conversations *int
	licenseKeys, phases      *string
}

func addBenchSeedFlags(f *flagSet) benchSeedFlags {
	return benchSeedFlags{
		customers: f.Int("customers", "", 0, "seed a database of this many customers first (with --conversations; needs --self or --database): "+
			"clients pick customers at random over the whole set, and hand-written SQL baselines are measured on the same data"),
		conversations: f.Int("conversations", "", 0, "conversations of the seeded database, spread evenly over --customers"),
		licenseKeys: f.String("license-keys", "PARLEY_LICENSE_KEYS", "", "with --customers and --url: the operator public keys of the servers "+
			"(as given to parley serve), so that the in-process figure runs in the --key org, on the same data"),
		phases: f.String("phases", "", "", "with --customers: measure only these phases, a comma-separated list of target:operation "+
			"(targets raw, in-process, http; operations update, find), such as http:find; empty: all"),
	}
}

func (s benchSeedFlags) get() benchSeed {
	return benchSeed{customers: *s.customers, conversations: *s.conversations, licenseKeys: *s.licenseKeys, phases: *s.phases}
}

// checkSeed validates the seeding flags against the others.
func (cfg benchConfig) checkSeed() error {
	s := cfg.seed
	phases := s.phaseList()
	for _, p := range phases {
		if !slices.Contains(benchPhaseNames, p) {
			return usagef("parley bench: --phases: %q is not one of %s", p, strings.Join(benchPhaseNames, ", "))
		}
	}
	switch {
	case s.customers == 0 && s.conversations == 0 && len(phases) > 0:
		return usagef("parley bench: --phases needs --customers")
	case s.customers == 0 && s.conversations == 0:
		return nil
	case s.customers <= 0 || s.conversations < s.customers:
		return usagef("parley bench: --customers must be positive and --conversations at least --customers")
	case s.customers < max(cfg.clients, rawReaders, rawWriters):
		return usagef("parley bench: --customers must be at least --clients (%d) and %d: each client owns its customers", cfg.clients, rawWriters)
	case cfg.scenario != bench.ScenarioOperations:
		return usagef("parley bench: --customers works with --scenario %s only", bench.ScenarioOperations)
	case !cfg.self && cfg.store.database == "":
		return usagef("parley bench: --customers needs --self or --database (the PostgreSQL database of the --url servers): the bench seeds it")
	}
	return nil
}

// benchSeeded seeds a data set into one store (temporary SQLite files in
// dir, or the PostgreSQL database shared with the --url servers) and
// measures the operations on it by hand-written SQL, in process and over
// HTTP, all on the same org and customers.
func benchSeeded(ctx context.Context, c *cli, cfg benchConfig, dir string, keys operatorKeys, priv ed25519.PrivateKey, logger *slog.Logger) error {
	trusted, err := parsePublicKeys(cfg.seed.licenseKeys)
	if err != nil {
		return err
	}
	keys.keys = append(keys.keys, trusted...)
	svc, store, closeStore, err := benchService(ctx, dir, cfg.store, keys, logger)
	if err != nil {
		return err
	}
	defer closeStore()
	target, key := cfg.url, cfg.key
	var org domain.OrgID
	if cfg.self {
		if org, key, err = createLicensedOrg(ctx, svc, priv, "bench seeded"); err != nil {
			return err
		}
		var stop func()
		if target, stop, err = serveBench(ctx, svc, store, logger); err != nil {
			return err
		}
		defer stop()
	} else if org, err = svc.Authenticate(ctx, key); err != nil {
		return fmt.Errorf("parley bench: --key on --database: %w", err)
	}
	plan, err := seedBench(ctx, c, cfg.seed, svc, store, org)
	if err != nil {
		return err
	}
	stopProfiles, err := startProfiles(cfg)
	if err != nil {
		return err
	}
	defer stopProfiles()
	raw, closeRaw, err := openRaw(ctx, cfg.store, dir, org)
	if err != nil {
		return err
	}
	defer closeRaw()
	nodes := httpNodes(target, key, bench.NewHTTPClient(cfg.clients))
	fmt.Fprintf(c.stdout, "# parley bench: %d customers, %d conversations; %s per phase; HTTP target %s; store %s\n",
		plan.Customers, plan.Conversations, cfg.duration, target, cfg.store.flags(dir).describe())
	report, runErr := bench.RunSeeded(ctx, bench.Config{Duration: cfg.duration, Progress: c.stderr}, bench.NewSeeded(plan),
		seededPhases(cfg, raw, bench.InProcessTarget{Service: svc, Org: org}, bench.HTTPTarget{Nodes: nodes}))
	if err := report.Print(c.stdout); err != nil {
		return err
	}
	return runErr
}

// seedBench publishes an app and creates a web chat resource in org, and
// seeds the data set on them with a progress bar.
func seedBench(ctx context.Context, c *cli, size benchSeed, svc *service.Service, store domain.Store, org domain.OrgID) (dataset.Plan, error) {
	seeder, ok := store.(interface {
		Seed(ctx context.Context, plan dataset.Plan, progress func(rows int)) error
	})
	if !ok {
		return dataset.Plan{}, fmt.Errorf("parley bench: the store %T cannot seed", store)
	}
	dep, res, err := bench.SetupDeployment(ctx, svc, org)
	if err != nil {
		return dataset.Plan{}, err
	}
	tag, err := bench.RunTag()
	if err != nil {
		return dataset.Plan{}, err
	}
	// Every conversation started before now, so updates come after them.
	start := time.Now().UTC().Add(-time.Hour - time.Duration(size.conversations)*time.Microsecond)
	plan := dataset.Plan{Org: org, Deployment: dep, Resource: res.ID, Tag: tag,
		Customers: size.customers, Conversations: size.conversations, Start: start}
	t0 := time.Now()
	if err := seeder.Seed(ctx, plan, bench.ProgressBar(c.stderr, "seeding", plan.Rows())); err != nil {
		return plan, err
	}
	fmt.Fprintf(c.stderr, "# seeded %d rows in %s (statistics included)\n", plan.Rows(), time.Since(t0).Round(time.Second))
	return plan, nil
}

// openRaw opens the hand-written SQL baseline on the store's database.
func openRaw(ctx context.Context, st benchStore, dir string, org domain.OrgID) (bench.Target, func(), error) {
	if st.database != "" {
		raw, err := bench.OpenRawPostgres(ctx, st.database, org, rawWriters)
		if err != nil {
			return nil, nil, err
		}
		return raw, raw.Close, nil
	}
	raw, err := bench.OpenRawSQLite(ctx, filepath.Join(dir, sqliteFileName), st.flags(dir).sync(), org, rawReaders)
	if err != nil {
		return nil, nil, err
	}
	return raw, func() { raw.Close() }, nil
}

// seededPhases: per operation, the baselines, then in process, then HTTP;
// only those of --phases when it is given.
func seededPhases(cfg benchConfig, raw, inProcess, http bench.Target) []bench.Phase {
	type named struct {
		name string
		bench.Phase
	}
	all := []named{{"raw:update", bench.Phase{Op: bench.OpUpdate, Target: raw, Clients: 1}}}
	if cfg.store.database != "" {
		all = append(all, named{"raw:update", bench.Phase{Op: bench.OpUpdate, Target: raw, Clients: rawWriters}})
	}
	all = append(all,
		named{"in-process:update", bench.Phase{Op: bench.OpUpdate, Target: inProcess, Clients: cfg.clients}},
		named{"http:update", bench.Phase{Op: bench.OpUpdate, Target: http, Clients: cfg.clients}},
		named{"raw:find", bench.Phase{Op: bench.OpFind, Target: raw, Clients: rawReaders}},
		named{"in-process:find", bench.Phase{Op: bench.OpFind, Target: inProcess, Clients: cfg.clients}},
		named{"http:find", bench.Phase{Op: bench.OpFind, Target: http, Clients: cfg.clients}})
	only := cfg.seed.phaseList()
	var phases []bench.Phase
	for _, p := range all {
		if len(only) == 0 || slices.Contains(only, p.name) {
			phases = append(phases, p.Phase)
		}
	}
	return phases
}
