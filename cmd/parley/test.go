package main

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/parleyhq/parley/clock"
	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/identifier"
	"github.com/parleyhq/parley/ids"
	"github.com/parleyhq/parley/license"
	"github.com/parleyhq/parley/service"
	"github.com/parleyhq/parley/sqlite"
	"github.com/parleyhq/parley/transcript"
)

// cmdTest runs transcript tests of bots offline: on a temporary SQLite
// database with the real service and runtime, no server.
func cmdTest(ctx context.Context, c *cli, args []string) error {
	f := newFlagSet("test", "run transcript tests of bots: parley test FILE|DIR|DIR/... ...", c.getenv, c.stderr)
	verbose := f.Bool("v", "", false, "print the transcript of passing tests too")
	files, err := f.parseArgs(args)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return usagef("name at least one test file (YAML or JSON), a directory of *_test.yaml files, or DIR/... for its subdirectories too")
	}
	paths, err := testFiles(files)
	if err != nil {
		return err
	}
	runner, closeRunner, err := newTranscriptRunner(ctx)
	if err != nil {
		return err
	}
	defer closeRunner()
	passed, failed := 0, 0
	for _, path := range paths {
		started := time.Now()
		file, err := transcript.Load(path)
		if err != nil {
			fmt.Fprintf(c.stdout, "FAIL %s: %v\n", path, err)
			failed++
			continue
		}
		results, err := runner.RunFile(ctx, file)
		if err != nil {
			return err
		}
		fileFailed := 0
		for _, r := range results {
			if r.Passed() {
				passed++
				if *verbose {
					fmt.Fprintf(c.stdout, "--- PASS: %s\n", r.Test)
				}
				continue
			}
			failed++
			fileFailed++
			fmt.Fprintf(c.stdout, "--- FAIL: %s (%s)\n%s\n", r.Test, path, r.Diff)
		}
		status := "ok  "
		if fileFailed > 0 {
			status = "FAIL"
		}
		fmt.Fprintf(c.stdout, "%s %s\t%d tests\t%.2fs\n", status, path, len(results), time.Since(started).Seconds())
	}
	fmt.Fprintf(c.stdout, "%d passed, %d failed\n", passed, failed)
	if failed > 0 {
		return fmt.Errorf("%d of %d transcript tests failed", failed, passed+failed)
	}
	return nil
}

// testFiles expands the arguments: files as they are, a directory to its
// *_test.yaml, *_test.yml and *_test.json files, DIR/... to those of its
// whole tree.
func testFiles(args []string) ([]string, error) {
	var out []string
	for _, arg := range args {
		recursive := strings.HasSuffix(arg, "/...")
		root := strings.TrimSuffix(arg, "/...")
		info, err := os.Stat(root)
		if err != nil {
			return nil, err
		}
		if !info.IsDir() {
			out = append(out, arg)
			continue
		}
		found := 0
		err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && path != root && !recursive {
				return filepath.SkipDir
			}
			if !d.IsDir() && isTestFile(d.Name()) {
				out = append(out, path)
				found++
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if found == 0 {
			return nil, fmt.Errorf("%s holds no *_test.yaml, *_test.yml or *_test.json file", arg)
		}
	}
	return out, nil
}

func isTestFile(name string) bool {
	for _, ext := range []string{"_test.yaml", "_test.yml", "_test.json"} {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

// newTranscriptRunner wires the real service on a temporary SQLite
// database, with a licence key pair of its own so every test's org holds
// an ENTERPRISE licence.
func newTranscriptRunner(ctx context.Context) (*transcript.Runner, func(), error) {
	dir, err := os.MkdirTemp("", "parley-test-")
	if err != nil {
		return nil, nil, err
	}
	store, err := sqlite.Open(ctx, filepath.Join(dir, sqliteFileName))
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	cleanup := func() { store.Close(); os.RemoveAll(dir) }
	if err := store.Migrate(ctx); err != nil {
		cleanup()
		return nil, nil, err
	}
	pub, priv, err := license.GenerateKey()
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	svc := service.New(service.Config{
		Store: store, Clock: clock.System{}, IDs: ids.Random{},
		Licenses: license.NewVerifier(pub), Identifiers: identifier.Normalizer{},
	})
	return &transcript.Runner{Service: svc, NewOrg: func(ctx context.Context, name string) (domain.OrgID, error) {
		org, _, err := createLicensedOrg(ctx, svc, ed25519.PrivateKey(priv), name)
		return org, err
	}}, cleanup, nil
}
