package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/license"
	"github.com/parleyhq/parley/sqlite"
)

// result is the outcome of one in-process run of the command line.
type result struct {
	code           int
	stdout, stderr string
}

// parley runs the command line args with environment env and returns its
// exit code and output.
func parley(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	var stdout, stderr strings.Builder
	code := run(context.Background(), args, envOf(env), &stdout, &stderr)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// mustParley runs args and fails the test unless it exits 0.
func mustParley(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	r := parley(t, env, args...)
	if r.code != 0 {
		t.Fatalf("parley %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// shellVars parses the NAME=value lines printed for eval.
func shellVars(t *testing.T, out string) map[string]string {
	t.Helper()
	vars := map[string]string{}
	line := regexp.MustCompile(`^([A-Z_][A-Z0-9_]*)=([A-Za-z0-9_.\-]+)$`)
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		m := line.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("output line %q is not a NAME=value assignment", l)
		}
		vars[m[1]] = m[2]
	}
	return vars
}

// newDataDir returns a data directory with a migrated database, as
// "parley serve" or "parley migrate" leaves it.
func newDataDir(t *testing.T) string {
	t.Helper()
	data := t.TempDir()
	mustParley(t, map[string]string{"PARLEY_DATA": data}, "migrate")
	return data
}

// openStore opens the SQLite database of a data directory.
func openStore(t *testing.T, dataDir string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(dataDir, sqliteFileName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestOrgCreateWithEnterpriseLicense(t *testing.T) {
	data := newDataDir(t)
	env := map[string]string{"PARLEY_DATA": data}
	r := mustParley(t, env, "org", "create", "--name", "Acme", "--plan", "enterprise", "--days", "30")
	vars := shellVars(t, r.stdout)
	org, key := vars["PARLEY_ORG"], vars["PARLEY_KEY"]
	if !strings.HasPrefix(org, "org_") || !strings.HasPrefix(key, "pk_") || len(vars) != 2 {
		t.Fatalf("stdout = %q, want PARLEY_ORG=org_... and PARLEY_KEY=pk_...", r.stdout)
	}
	if !strings.Contains(r.stderr, "created a development operator key pair") {
		t.Errorf("stderr does not tell that the development key was created:\n%s", r.stderr)
	}
	info, err := os.Stat(filepath.Join(data, privateKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if mode := info.Mode().Perm(); mode != 0o600 {
		t.Errorf("private key mode = %o, want 600", mode)
	}

	// The printed key authenticates, and the org holds a verifiable
	// enterprise licence signed by the development key.
	db := openStore(t, data)
	keys, err := resolveOperatorKeys("", data)
	if err != nil {
		t.Fatal(err)
	}
	svc := newService(db, keys, nil, nil, nil)
	ctx := context.Background()
	gotOrg, err := svc.Authenticate(ctx, key)
	if err != nil || string(gotOrg) != org {
		t.Fatalf("Authenticate(printed key) = %q, %v; want %q", gotOrg, err, org)
	}
	lic, err := svc.OrgLicense(ctx, domain.OrgID(org))
	if err != nil || lic.Plan != domain.PlanEnterprise || string(lic.OrgID) != org {
		t.Fatalf("OrgLicense = %+v, %v; want an enterprise licence of %s", lic, err, org)
	}

	list := mustParley(t, env, "org", "list")
	if !strings.Contains(list.stdout, org) || !strings.Contains(list.stdout, "Acme") || !strings.Contains(list.stdout, "enterprise until") {
		t.Errorf("org list does not show the org and its licence:\n%s", list.stdout)
	}
}

func TestOrgCreateWithoutPlanHasNoLicense(t *testing.T) {
	data := newDataDir(t)
	env := map[string]string{"PARLEY_DATA": data}
	r := mustParley(t, env, "org", "create", "--name", "Basic", "--env-prefix", "BASIC")
	vars := shellVars(t, r.stdout)
	if !strings.HasPrefix(vars["BASIC_ORG"], "org_") || !strings.HasPrefix(vars["BASIC_KEY"], "pk_") {
		t.Fatalf("stdout = %q, want BASIC_ORG and BASIC_KEY", r.stdout)
	}
	list := mustParley(t, env, "org", "list")
	if !strings.Contains(list.stdout, "none (no licence is installed") {
		t.Errorf("org list does not show the missing licence:\n%s", list.stdout)
	}
}

func TestKeyCommands(t *testing.T) {
	data := newDataDir(t)
	env := map[string]string{"PARLEY_DATA": data}
	org := shellVars(t, mustParley(t, env, "org", "create", "--name", "Acme").stdout)["PARLEY_ORG"]

	created := shellVars(t, mustParley(t, env, "key", "create", "--org", org, "--name", "ci", "--scope", "runtime").stdout)
	keyID, secret := created["PARLEY_KEY_ID"], created["PARLEY_KEY"]
	if !strings.HasPrefix(keyID, "key_") || !strings.HasPrefix(secret, "pk_") {
		t.Fatalf("key create printed %v", created)
	}
	// --org may come from PARLEY_ORG, the name org create prints.
	list := mustParley(t, map[string]string{"PARLEY_DATA": data, "PARLEY_ORG": org}, "key", "list").stdout
	if !strings.Contains(list, keyID) || !strings.Contains(list, "ci") || !strings.Contains(list, "runtime") || strings.Contains(list, secret) {
		t.Errorf("key list must show the key id, name and scope but never the secret:\n%s", list)
	}

	mustParley(t, env, "key", "revoke", "--org", org, "--key", keyID)
	db := openStore(t, data)
	keys, err := resolveOperatorKeys("", data)
	if err != nil {
		t.Fatal(err)
	}
	_, err = newService(db, keys, nil, nil, nil).Authenticate(context.Background(), secret)
	if domain.ErrorCode(err) != domain.CodeUnauthorized {
		t.Errorf("Authenticate(revoked key) error = %v, want unauthorized", err)
	}
	for _, line := range strings.Split(mustParley(t, env, "key", "list", "--org", org).stdout, "\n") {
		if strings.HasPrefix(line, keyID) && strings.HasSuffix(strings.TrimSpace(line), " -") {
			t.Errorf("key list still shows %s as not revoked: %q", keyID, line)
		}
	}
}

func TestLicenseKeygenIssueInstall(t *testing.T) {
	data, keyDir := newDataDir(t), t.TempDir()
	env := map[string]string{"PARLEY_DATA": data}
	pub := shellVars(t, mustParley(t, env, "license", "keygen", "--out-dir", keyDir).stdout)["PARLEY_LICENSE_KEYS"]
	if _, err := license.ParsePublicKey(pub); err != nil {
		t.Fatalf("keygen printed %q: %v", pub, err)
	}
	org := shellVars(t, mustParley(t, env, "org", "create", "--name", "Acme").stdout)["PARLEY_ORG"]

	issued := mustParley(t, env, "license", "issue", "--org", org, "--plan", "enterprise", "--days", "10",
		"--key-file", filepath.Join(keyDir, privateKeyFile))
	token := strings.TrimSpace(issued.stdout)
	if !strings.HasPrefix(token, license.TokenPrefix) {
		t.Fatalf("license issue printed %q", issued.stdout)
	}

	// The data directory's development key does not trust the new key.
	refused := parley(t, env, "license", "install", "--org", org, "--token", token)
	if refused.code != 1 || !strings.Contains(refused.stderr, domain.CodeLicenseRequired) {
		t.Fatalf("install with an untrusted key: exit %d, stderr %q; want 1 and license_required", refused.code, refused.stderr)
	}
	trusted := map[string]string{"PARLEY_DATA": data, "PARLEY_LICENSE_KEYS": pub, "PARLEY_LICENSE_TOKEN": token}
	out := mustParley(t, trusted, "license", "install", "--org", org).stdout
	if !strings.Contains(out, "installed the enterprise licence of "+org) {
		t.Errorf("license install printed %q", out)
	}
	list := mustParley(t, trusted, "org", "list").stdout
	if !strings.Contains(list, "enterprise until") {
		t.Errorf("org list with the trusted key does not show the licence:\n%s", list)
	}
}

func TestLicenseKeygenRefusesToOverwrite(t *testing.T) {
	dir := t.TempDir()
	mustParley(t, nil, "license", "keygen", "--out-dir", dir)
	r := parley(t, nil, "license", "keygen", "--out-dir", dir)
	if r.code != 1 || !strings.Contains(r.stderr, "already exists") {
		t.Fatalf("second keygen: exit %d, stderr %q; want 1 and 'already exists'", r.code, r.stderr)
	}
}

func TestCommandLineErrors(t *testing.T) {
	data := newDataDir(t)
	env := map[string]string{"PARLEY_DATA": data}
	pub, _, err := license.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"no command", nil, 2, "usage: parley"},
		{"unknown command", []string{"launch"}, 2, `unknown command "launch"`},
		{"unknown subcommand", []string{"org", "delete"}, 2, `parley org has no subcommand "delete"; its subcommands: create, list`},
		{"group without subcommand", []string{"org"}, 2, "parley org needs a subcommand: create, list"},
		{"key without subcommand", []string{"key"}, 2, "parley key needs a subcommand: create, list, revoke"},
		{"license without subcommand", []string{"license", "--org", "x"}, 2, "parley license needs a subcommand: keygen, issue, install"},
		{"issue for an unknown org", []string{"license", "issue", "--org", "org_missing", "--plan", "standard"}, 1, "organization org_missing does not exist"},
		{"missing required flag", []string{"org", "create"}, 2, "--name is required"},
		{"bad plan", []string{"org", "create", "--name", "A", "--plan", "gold"}, 2, "--plan must be one of"},
		{"bad days", []string{"org", "create", "--name", "A", "--plan", "standard", "--days", "0"}, 2, "--days must be positive"},
		{"bad scope", []string{"key", "create", "--org", "org_x", "--scope", "root"}, 2, "--scope must be one of"},
		{"bad env prefix", []string{"org", "create", "--name", "A", "--env-prefix", "1X"}, 2, "--env-prefix"},
		{"unknown org", []string{"key", "create", "--org", "org_missing"}, 1, "not_found"},
		{"revoke unknown key", []string{"key", "revoke", "--org", "org_missing", "--key", "key_missing"}, 1, "not_found"},
		{"install garbage token", []string{"license", "install", "--org", "org_x", "--token", "nope"}, 1, "license_required"},
		{"bad trusted key", []string{"org", "list", "--license-keys", "not-a-key"}, 2, "--license-keys"},
		{"licence without signing key", []string{"org", "create", "--name", "A", "--plan", "enterprise", "--license-keys", license.EncodePublicKey(pub)}, 2, "--license-key-file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := parley(t, env, tt.args...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.stderr) {
				t.Fatalf("exit %d, stderr %q; want exit %d and %q", r.code, r.stderr, tt.code, tt.stderr)
			}
		})
	}
}

func TestHelpAndVersion(t *testing.T) {
	help := mustParley(t, nil, "help")
	for _, cmd := range commands() {
		if !strings.Contains(help.stdout, cmd.name) {
			t.Errorf("help does not list %q", cmd.name)
		}
	}
	if v := mustParley(t, nil, "version").stdout; !strings.HasPrefix(v, "parley ") {
		t.Errorf("version printed %q", v)
	}
	if r := parley(t, nil, "org", "create", "-h"); r.code != 0 || !strings.Contains(r.stderr, "usage: parley org create") {
		t.Errorf("org create -h: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestBenchSelf(t *testing.T) {
	profile := filepath.Join(t.TempDir(), "cpu.prof")
	r := mustParley(t, nil, "bench", "--self", "--clients", "2", "--duration", "100ms", "--cpuprofile", profile)
	if info, err := os.Stat(profile); err != nil || info.Size() == 0 {
		t.Errorf("--cpuprofile wrote no profile: %v", err)
	}
	for _, want := range []string{"update_customer_identifier  http", "update_customer_identifier  in-process",
		"find_conversations_by_customer_identifier  http", "find_conversations_by_customer_identifier  in-process"} {
		if !strings.Contains(strings.Join(strings.Fields(r.stdout), "  "), want) {
			t.Errorf("bench output lacks %q:\n%s", want, r.stdout)
		}
	}
}
