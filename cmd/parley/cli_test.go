package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parleyhq/parley/license"
)

// TestAdminCommandsCreateNoDataDirectory checks that the admin commands,
// run where there is no database, create nothing and say where they
// looked and why there: only serve and migrate create a data directory.
func TestAdminCommandsCreateNoDataDirectory(t *testing.T) {
	keyDir := t.TempDir()
	mustParley(t, nil, "license", "keygen", "--out-dir", keyDir)
	commands := [][]string{
		{"org", "create", "--name", "Acme"},
		{"org", "create", "--name", "Acme", "--plan", "enterprise"},
		{"org", "list"},
		{"key", "create", "--org", "org_x"},
		{"key", "list", "--org", "org_x"},
		{"key", "revoke", "--org", "org_x", "--key", "key_x"},
		{"license", "install", "--org", "org_x", "--token", "t"},
		{"license", "issue", "--org", "org_x", "--plan", "standard"},
	}
	sources := []struct {
		name   string
		env    func(dir string) map[string]string
		args   func(dir string) []string
		source string
	}{
		{"--data", func(string) map[string]string { return nil }, func(dir string) []string { return []string{"--data", dir} }, "--data"},
		{"PARLEY_DATA", func(dir string) map[string]string { return map[string]string{"PARLEY_DATA": dir} },
			func(string) []string { return nil }, "PARLEY_DATA"},
	}
	for _, src := range sources {
		for _, args := range commands {
			t.Run(src.name+" "+strings.Join(args, " "), func(t *testing.T) {
				dir := filepath.Join(t.TempDir(), "parley-data")
				r := parley(t, src.env(dir), append(args, src.args(dir)...)...)
				if r.code != 1 {
					t.Fatalf("exit %d, want 1\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
				}
				if !strings.Contains(r.stderr, dir) || !strings.Contains(r.stderr, "comes from "+src.source) {
					t.Errorf("stderr does not say where it looked (%s, from %s):\n%s", dir, src.source, r.stderr)
				}
				if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("the command created %s (%v)", dir, err)
				}
			})
		}
	}

	// The default, ./parley-data, from a directory without one.
	cwd := t.TempDir()
	t.Chdir(cwd)
	r := parley(t, nil, "org", "create", "--name", "Acme")
	if r.code != 1 || !strings.Contains(r.stderr, filepath.Join(cwd, "parley-data", sqliteFileName)) || !strings.Contains(r.stderr, "the default") {
		t.Fatalf("org create from %s: exit %d, stderr %q; want it to name %s/parley-data and the default", cwd, r.code, r.stderr, cwd)
	}
	if _, err := os.Stat(filepath.Join(cwd, "parley-data")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("org create made ./parley-data (%v)", err)
	}
	// license issue with its own key file needs no data directory: it signs,
	// saying it could not check the org.
	r = mustParley(t, nil, "license", "issue", "--org", "org_x", "--plan", "standard", "--key-file", filepath.Join(keyDir, privateKeyFile))
	if !strings.HasPrefix(r.stdout, license.TokenPrefix) || !strings.Contains(r.stderr, "not checking that org_x exists") {
		t.Fatalf("license issue away from any database: stdout %q, stderr %q", r.stdout, r.stderr)
	}
	// After migrate, the same command works there and names its store.
	mustParley(t, nil, "migrate")
	r = mustParley(t, nil, "org", "create", "--name", "Acme")
	if !strings.Contains(r.stderr, "SQLite parley-data/"+sqliteFileName) {
		t.Errorf("org create does not name the database it used:\n%s", r.stderr)
	}
}

// TestFlagErrorsPrintedOnce checks that a bad flag's error is printed
// once, with a pointer to -h instead of the whole flag list.
func TestFlagErrorsPrintedOnce(t *testing.T) {
	for _, args := range [][]string{
		{"org", "create", "--nme", "x"},
		{"serve", "--max-body", "lots"},
		{"key", "list", "extra"},
	} {
		r := parley(t, nil, args...)
		lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
		if r.code != 2 || len(lines) != 2 || !strings.Contains(lines[1], "-h' for its flags") {
			t.Errorf("parley %s: exit %d, stderr %q; want exit 2, the error once and a pointer to -h", strings.Join(args, " "), r.code, r.stderr)
		}
	}
	if r := parley(t, nil, "org", "create", "-h"); r.code != 0 || strings.Count(r.stderr, "usage: parley org create") != 1 || !strings.Contains(r.stderr, "-name") {
		t.Errorf("org create -h: exit %d, stderr %q; want the usage once", r.code, r.stderr)
	}
}
