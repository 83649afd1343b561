package main

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/license"
	"github.com/parleyhq/parley/service"
	"github.com/parleyhq/parley/webhook"
)

// adminFlags are the flags of every admin command acting on the store.
type adminFlags struct {
	store       storeFlags
	licenseKeys *string
}

func addAdminFlags(f *flagSet) adminFlags {
	return adminFlags{
		store: addStoreFlags(f),
		licenseKeys: f.String("license-keys", "PARLEY_LICENSE_KEYS", "",
			"comma-separated trusted operator public keys, as given to serve; empty: the development key in --data"),
	}
}

// admin is an open store with its service, for one admin command.
type admin struct {
	svc   *service.Service
	keys  operatorKeys
	store domain.Store
}

// openAdmin opens and migrates the existing store and wires the service.
// It creates no data directory or database (only serve and migrate do):
// it says where it looked instead. Notes about the store and the
// development key go to stderr.
func openAdmin(ctx context.Context, c *cli, a adminFlags) (*admin, error) {
	if err := a.store.check(); err != nil {
		return nil, err
	}
	if err := a.mustExist(); err != nil {
		return nil, err
	}
	keys, err := resolveOperatorKeys(*a.licenseKeys, *a.store.data)
	if err != nil {
		return nil, err
	}
	if keys.dev != nil && keys.dev.created {
		fmt.Fprintf(c.stderr, "# %s\n", keys.describeDevKey())
	}
	store, err := a.store.openExisting(ctx)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(c.stderr, "# %s\n", a.store.describe())
	logger := slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return &admin{svc: newService(store, keys, webhook.NewGuard(false, nil), nil, logger), keys: keys, store: store}, nil
}

func (a *admin) Close() error { return a.store.Close() }

// mustExist checks, before anything is created, that an admin command
// works where a server keeps its data: the SQLite database must exist, and
// with PostgreSQL the data directory of the development key, unless
// --license-keys names the trusted keys.
func (a adminFlags) mustExist() error {
	switch {
	case *a.store.database == "":
		return a.store.requireFile(filepath.Join(*a.store.data, sqliteFileName), "Parley database")
	case *a.licenseKeys == "":
		return a.store.requireDataDir()
	}
	return nil
}

var envPrefixPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// addEnvPrefix adds the --env-prefix flag: output lines are PREFIX_NAME=value
// so that a shell can eval them.
func addEnvPrefix(f *flagSet) *string {
	return f.String("env-prefix", "", "PARLEY", "prefix of the NAME=value lines printed (for eval in a shell)")
}

func checkEnvPrefix(prefix string) error {
	if !envPrefixPattern.MatchString(prefix) {
		return usagef("--env-prefix must be a shell variable name, got %q", prefix)
	}
	return nil
}

// printVars prints shell assignments PREFIX_NAME=value, one per line, for
// pairs of (name, value). Values are ids and keys: no quoting is needed.
func printVars(w io.Writer, prefix string, pairs ...string) {
	for i := 0; i+1 < len(pairs); i += 2 {
		fmt.Fprintf(w, "%s_%s=%s\n", prefix, pairs[i], pairs[i+1])
	}
}

// licenseFlags are the flags that describe a licence to issue.
type licenseFlags struct {
	plan    *string
	days    *int
	keyFile *string
}

// addLicenseFlags adds --plan, --days and the signing key file flag named
// keyFlag.
func addLicenseFlags(f *flagSet, planUsage, keyFlag string) licenseFlags {
	return licenseFlags{
		plan:    f.String("plan", "", "", planUsage),
		days:    f.Int("days", "", 365, "days until the licence expires"),
		keyFile: f.String(keyFlag, "PARLEY_LICENSE_KEY_FILE", "", "operator private key file that signs the licence; empty: the development key in --data"),
	}
}

func (l licenseFlags) check(f *flagSet) error {
	if err := f.oneOf("plan", *l.plan, string(domain.PlanEnterprise), string(domain.PlanStandard)); err != nil {
		return err
	}
	if *l.days <= 0 {
		return usagef("parley %s: --days must be positive", f.fs.Name())
	}
	return nil
}

// signingKey returns the private key that signs licences: --license-key-file,
// or the data directory's development key (created if missing).
func (l licenseFlags) signingKey(c *cli, dataDir string) (ed25519.PrivateKey, error) {
	if *l.keyFile != "" {
		return readPrivateKey(*l.keyFile)
	}
	dev, err := loadOrCreateDevKey(dataDir)
	if err != nil {
		return nil, err
	}
	if dev.created {
		fmt.Fprintf(c.stderr, "# created a development operator key pair: %s, %s\n", dev.publicPath, dev.privatePath)
	}
	return dev.private, nil
}

// issue signs a licence of plan for org, valid for days from now.
func (l licenseFlags) issue(priv ed25519.PrivateKey, org domain.OrgID) (string, domain.License, error) {
	now := time.Now().UTC().Truncate(time.Second)
	lic := domain.License{
		OrgID: org, Plan: domain.Plan(*l.plan),
		IssuedAt: now, ExpiresAt: now.AddDate(0, 0, *l.days),
	}
	token, err := license.Issue(priv, lic)
	return token, lic, err
}

func cmdOrgCreate(ctx context.Context, c *cli, args []string) error {
	f := newFlagSet("org create", "Create an organization and its first API key, printed once as PARLEY_ORG=... and PARLEY_KEY=... lines\n"+
		"(eval \"$(parley org create --name Acme --plan enterprise)\"). With --plan, also issue and install a licence.", c.getenv, c.stderr)
	af := addAdminFlags(f)
	name := f.String("name", "", "", "organization name (required)")
	lf := addLicenseFlags(f, "also install a licence of this plan: enterprise or standard", "license-key-file")
	prefix := addEnvPrefix(f)
	if err := f.parse(args); err != nil {
		return err
	}
	if err := f.required("name", *name); err != nil {
		return err
	}
	if err := checkEnvPrefix(*prefix); err != nil {
		return err
	}
	withLicense := *lf.plan != ""
	if withLicense {
		if err := lf.check(f); err != nil {
			return err
		}
	}
	a, err := openAdmin(ctx, c, af)
	if err != nil {
		return err
	}
	defer a.Close()
	var priv ed25519.PrivateKey
	if withLicense {
		// Check the signing key before creating anything.
		if a.keys.dev == nil && *lf.keyFile == "" {
			return usagef("parley org create: with --license-keys, give --license-key-file, the private key that signs the licence")
		}
		if priv, err = lf.signingKey(c, *af.store.data); err != nil {
			return err
		}
		if !a.keys.trusts(priv.Public().(ed25519.PublicKey)) {
			return fmt.Errorf("the licence signing key is not among the trusted operator keys (--license-keys); licences it signs would be refused")
		}
	}
	org, key, err := a.svc.CreateOrg(ctx, *name)
	if err != nil {
		return err
	}
	printVars(c.stdout, *prefix, "ORG", string(org.ID), "KEY", key.Secret)
	fmt.Fprintf(c.stderr, "# created organization %q (%s); its API key %s is shown only this once\n", org.Name, org.ID, key.Key.ID)
	if !withLicense {
		return nil
	}
	token, _, err := lf.issue(priv, org.ID)
	if err != nil {
		return err
	}
	lic, err := a.svc.InstallLicense(ctx, org.ID, token)
	if err != nil {
		return fmt.Errorf("installing the licence of %s: %w", org.ID, err)
	}
	fmt.Fprintf(c.stderr, "# installed the licence: %s, valid until %s\n", strings.ToUpper(string(lic.Plan)), lic.ExpiresAt.Format(time.RFC3339))
	return nil
}

func cmdOrgList(ctx context.Context, c *cli, args []string) error {
	f := newFlagSet("org list", "List organizations and their licences.", c.getenv, c.stderr)
	af := addAdminFlags(f)
	if err := f.parse(args); err != nil {
		return err
	}
	a, err := openAdmin(ctx, c, af)
	if err != nil {
		return err
	}
	defer a.Close()
	orgs, err := a.svc.ListOrgs(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tCREATED\tLICENSE")
	for _, o := range orgs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", o.ID, o.Name, o.CreatedAt.Format(time.RFC3339), describeLicense(ctx, a.svc, o.ID))
	}
	return tw.Flush()
}

// describeLicense summarizes an org's installed licence for org list.
func describeLicense(ctx context.Context, svc *service.Service, org domain.OrgID) string {
	lic, err := svc.OrgLicense(ctx, org)
	switch {
	case err != nil && domain.ErrorCode(err) == domain.CodeLicenseRequired:
		return "none (" + domain.ErrorMessage(err) + ")"
	case err != nil:
		return "error: " + err.Error()
	case !time.Now().Before(lic.ExpiresAt):
		return fmt.Sprintf("%s, expired %s", lic.Plan, lic.ExpiresAt.Format(time.RFC3339))
	}
	return fmt.Sprintf("%s until %s", lic.Plan, lic.ExpiresAt.Format(time.RFC3339))
}

func cmdKeyCreate(ctx context.Context, c *cli, args []string) error {
	f := newFlagSet("key create", "Create an API key for an organization; the secret is printed once as PARLEY_KEY=...", c.getenv, c.stderr)
	af := addAdminFlags(f)
	org := f.String("org", "PARLEY_ORG", "", "organization id (required)")
	name := f.String("name", "", "cli", "key name")
	scope := f.String("scope", "", string(domain.ScopeAdmin),
		"admin (everything in the org) or runtime (for bots: conversations, data operations and actions, reads)")
	prefix := addEnvPrefix(f)
	if err := f.parse(args); err != nil {
		return err
	}
	if err := f.required("org", *org); err != nil {
		return err
	}
	if err := f.oneOf("scope", *scope, string(domain.ScopeAdmin), string(domain.ScopeRuntime)); err != nil {
		return err
	}
	if err := checkEnvPrefix(*prefix); err != nil {
		return err
	}
	a, err := openAdmin(ctx, c, af)
	if err != nil {
		return err
	}
	defer a.Close()
	key, err := a.svc.CreateAPIKey(ctx, domain.OrgID(*org), *name, domain.Scope(*scope))
	if err != nil {
		return err
	}
	printVars(c.stdout, *prefix, "KEY_ID", string(key.Key.ID), "KEY", key.Secret)
	fmt.Fprintf(c.stderr, "# created %s API key %s for %s; the secret is shown only this once\n", key.Key.Scope, key.Key.ID, key.Key.OrgID)
	return nil
}

func cmdKeyList(ctx context.Context, c *cli, args []string) error {
	f := newFlagSet("key list", "List the API keys of an organization (never their secrets).", c.getenv, c.stderr)
	af := addAdminFlags(f)
	org := f.String("org", "PARLEY_ORG", "", "organization id (required)")
	if err := f.parse(args); err != nil {
		return err
	}
	if err := f.required("org", *org); err != nil {
		return err
	}
	a, err := openAdmin(ctx, c, af)
	if err != nil {
		return err
	}
	defer a.Close()
	if _, err := a.svc.GetOrg(ctx, domain.OrgID(*org)); err != nil {
		return err
	}
	keys, err := a.svc.ListAPIKeys(ctx, domain.OrgID(*org))
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSCOPE\tPREFIX\tCREATED\tREVOKED")
	for _, k := range keys {
		revoked := "-"
		if k.RevokedAt != nil {
			revoked = k.RevokedAt.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, k.Scope, k.Prefix, k.CreatedAt.Format(time.RFC3339), revoked)
	}
	return tw.Flush()
}

func cmdKeyRevoke(ctx context.Context, c *cli, args []string) error {
	f := newFlagSet("key revoke", "Revoke an API key: requests with it get 401 unauthorized from then on.", c.getenv, c.stderr)
	af := addAdminFlags(f)
	org := f.String("org", "PARLEY_ORG", "", "organization id (required)")
	key := f.String("key", "", "", "API key id, key_... (required)")
	if err := f.parse(args); err != nil {
		return err
	}
	if err := f.required("org", *org, "key", *key); err != nil {
		return err
	}
	a, err := openAdmin(ctx, c, af)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.svc.RevokeAPIKey(ctx, domain.OrgID(*org), domain.APIKeyID(*key)); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "revoked %s\n", *key)
	return nil
}

func cmdLicenseKeygen(ctx context.Context, c *cli, args []string) error {
	f := newFlagSet("license keygen", "Generate an operator licence key pair. Without --out-dir, print both keys as\n"+
		"PARLEY_LICENSE_KEYS=<public> and PARLEY_LICENSE_PRIVATE_KEY=<private>.", c.getenv, c.stderr)
	outDir := f.String("out-dir", "", "", "write "+publicKeyFile+" and "+privateKeyFile+" (mode 0600) into this directory instead")
	if err := f.parse(args); err != nil {
		return err
	}
	pub, priv, err := license.GenerateKey()
	if err != nil {
		return err
	}
	if *outDir == "" {
		printVars(c.stdout, "PARLEY", "LICENSE_KEYS", license.EncodePublicKey(pub), "LICENSE_PRIVATE_KEY", license.EncodePrivateKey(priv))
		fmt.Fprintln(c.stderr, "# keep the private key secret; give the public key to 'parley serve --license-keys'")
		return nil
	}
	if err := os.MkdirAll(*outDir, 0o700); err != nil {
		return err
	}
	privPath, pubPath := filepath.Join(*outDir, privateKeyFile), filepath.Join(*outDir, publicKeyFile)
	created, err := writeNewFile(privPath, license.EncodePrivateKey(priv)+"\n", 0o600)
	if err != nil {
		return err
	}
	if !created {
		return fmt.Errorf("%s already exists; not overwriting it", privPath)
	}
	if err := os.WriteFile(pubPath, []byte(license.EncodePublicKey(pub)+"\n"), 0o644); err != nil {
		return err
	}
	printVars(c.stdout, "PARLEY", "LICENSE_KEYS", license.EncodePublicKey(pub))
	fmt.Fprintf(c.stderr, "# wrote %s and %s (keep the private key secret)\n", pubPath, privPath)
	return nil
}

func cmdLicenseIssue(ctx context.Context, c *cli, args []string) error {
	f := newFlagSet("license issue", "Issue (sign) a licence token for an organization and print it. When the database\n"+
		"is reachable, the organization must exist in it.", c.getenv, c.stderr)
	st := addStoreFlags(f)
	org := f.String("org", "PARLEY_ORG", "", "organization id (required)")
	lf := addLicenseFlags(f, "plan: enterprise or standard (required)", "key-file")
	if err := f.parse(args); err != nil {
		return err
	}
	if err := f.required("org", *org, "plan", *lf.plan); err != nil {
		return err
	}
	if err := lf.check(f); err != nil {
		return err
	}
	if err := st.check(); err != nil {
		return err
	}
	if *lf.keyFile == "" {
		if err := st.requireDataDir(); err != nil {
			return err
		}
	}
	if err := checkOrgExists(ctx, c, st, domain.OrgID(*org)); err != nil {
		return err
	}
	priv, err := lf.signingKey(c, *st.data)
	if err != nil {
		return err
	}
	token, lic, err := lf.issue(priv, domain.OrgID(*org))
	if err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, token)
	fmt.Fprintf(c.stderr, "# %s licence for %s valid until %s\n", lic.Plan, lic.OrgID, lic.ExpiresAt.Format(time.RFC3339))
	return nil
}

// orgCheckTimeout bounds how long license issue tries to reach the
// database to check the organization.
const orgCheckTimeout = 10 * time.Second

// checkOrgExists refuses to go on when the store is reachable and has no
// organization org. An unreachable store (no SQLite database there, or a
// PostgreSQL server that does not answer) is only noted on stderr: a
// licence may be issued away from the servers.
// Errors: not_found.
func checkOrgExists(ctx context.Context, c *cli, st storeFlags, org domain.OrgID) error {
	ctx, cancel := context.WithTimeout(ctx, orgCheckTimeout)
	defer cancel()
	store, err := st.openExisting(ctx)
	if err != nil {
		fmt.Fprintf(c.stderr, "# not checking that %s exists: %v\n", org, err)
		return nil
	}
	defer store.Close()
	err = store.View(ctx, func(tx domain.Tx) error {
		_, err := tx.GetOrg(ctx, org)
		return err
	})
	if domain.IsNotFound(err) {
		return domain.Errorf(domain.CodeNotFound, "organization %s does not exist in %s; no licence issued", org, st.describe())
	}
	return err
}

func cmdLicenseInstall(ctx context.Context, c *cli, args []string) error {
	f := newFlagSet("license install", "Verify a licence token and install it as an organization's licence.", c.getenv, c.stderr)
	af := addAdminFlags(f)
	org := f.String("org", "PARLEY_ORG", "", "organization id (required)")
	token := f.String("token", "PARLEY_LICENSE_TOKEN", "", "licence token from 'parley license issue' (required)")
	if err := f.parse(args); err != nil {
		return err
	}
	if err := f.required("org", *org, "token", *token); err != nil {
		return err
	}
	a, err := openAdmin(ctx, c, af)
	if err != nil {
		return err
	}
	defer a.Close()
	lic, err := a.svc.InstallLicense(ctx, domain.OrgID(*org), *token)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "installed the %s licence of %s, valid until %s\n", lic.Plan, lic.OrgID, lic.ExpiresAt.Format(time.RFC3339))
	return nil
}
