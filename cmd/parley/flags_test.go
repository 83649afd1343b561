package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/bench"
)

// envOf returns a getenv reading from m.
func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestServeFlagsResolution(t *testing.T) {
	defaults := serveWant{addr: "127.0.0.1:8080", data: "./parley-data", logFormat: "text", maxBody: defaultMaxBody}
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    serveWant
		wantErr string // substring of a usage error; "" for success
	}{
		{name: "defaults", want: defaults},
		{
			name: "environment",
			env: map[string]string{
				"PARLEY_ADDR": "0.0.0.0:9000", "PARLEY_DATA": "/var/lib/parley",
				"PARLEY_DATABASE_URL": "postgres://u@db/parley", "PARLEY_LICENSE_KEYS": "parley-pub-a,parley-pub-b",
				"PARLEY_LOG_FORMAT": "json", "PARLEY_MAX_BODY": "4096", "PARLEY_ADDR_FILE": "/tmp/addr",
			},
			want: serveWant{
				addr: "0.0.0.0:9000", addrFile: "/tmp/addr", data: "/var/lib/parley", database: "postgres://u@db/parley",
				licenseKeys: "parley-pub-a,parley-pub-b", logFormat: "json", maxBody: 4096,
			},
		},
		{
			name: "flags win over environment",
			args: []string{"--addr", "127.0.0.1:0", "--data=/d", "--log-format", "text", "--max-body", "10"},
			env:  map[string]string{"PARLEY_ADDR": "0.0.0.0:9000", "PARLEY_DATA": "/e", "PARLEY_LOG_FORMAT": "json", "PARLEY_MAX_BODY": "99"},
			want: serveWant{addr: "127.0.0.1:0", data: "/d", logFormat: "text", maxBody: 10},
		},
		{
			name: "postgresql scheme accepted",
			args: []string{"--database", "postgresql://localhost/parley"},
			want: serveWant{addr: defaults.addr, data: defaults.data, database: "postgresql://localhost/parley", logFormat: "text", maxBody: defaultMaxBody},
		},
		{name: "empty environment value ignored", env: map[string]string{"PARLEY_ADDR": ""}, want: defaults},
		{name: "bad number in environment", env: map[string]string{"PARLEY_MAX_BODY": "lots"}, wantErr: "PARLEY_MAX_BODY"},
		{name: "bad log format", args: []string{"--log-format", "xml"}, wantErr: "--log-format"},
		{name: "bad log format in environment", env: map[string]string{"PARLEY_LOG_FORMAT": "xml"}, wantErr: "--log-format"},
		{name: "database not postgres", args: []string{"--database", "mysql://x"}, wantErr: "--database"},
		{name: "database neither URL nor keyword/value", args: []string{"--database", "parley.db"}, wantErr: "--database"},
		{
			name: "postgres keyword/value string",
			env:  map[string]string{"PARLEY_DATABASE_URL": "host=db dbname=parley"},
			want: serveWant{addr: defaults.addr, data: defaults.data, database: "host=db dbname=parley", logFormat: "text", maxBody: defaultMaxBody},
		},
		{name: "empty data directory", args: []string{"--data", ""}, wantErr: "--data"},
		{name: "non-positive max body", args: []string{"--max-body", "0"}, wantErr: "--max-body"},
		{name: "unknown flag", args: []string{"--port", "80"}, wantErr: "port"},
		{name: "positional argument", args: []string{"now"}, wantErr: `unexpected argument "now"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &cli{getenv: envOf(tt.env), stdout: io.Discard, stderr: io.Discard}
			cfg, err := parseServeFlags(c, tt.args)
			if tt.wantErr != "" {
				var usage *usageError
				if !errors.As(err, &usage) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want a usage error mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := serveWant{
				addr: cfg.addr, addrFile: cfg.addrFile, data: *cfg.store.data, database: *cfg.store.database,
				licenseKeys: cfg.licenseKeys, logFormat: cfg.logFormat, maxBody: cfg.maxBody,
			}
			if got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

type serveWant struct {
	addr, addrFile, data, database, licenseKeys, logFormat string
	maxBody                                                int64
}

func TestHelpFlagIsNotAnError(t *testing.T) {
	c := &cli{getenv: envOf(nil), stdout: io.Discard, stderr: io.Discard}
	if _, err := parseServeFlags(c, []string{"-h"}); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("error = %v, want flag.ErrHelp", err)
	}
}

func TestFlagHelpNamesEnvironmentVariables(t *testing.T) {
	var out strings.Builder
	c := &cli{getenv: envOf(nil), stdout: io.Discard, stderr: &out}
	_, _ = parseServeFlags(c, []string{"-h"})
	for _, env := range []string{"PARLEY_ADDR", "PARLEY_DATA", "PARLEY_DATABASE_URL", "PARLEY_LICENSE_KEYS", "PARLEY_LOG_FORMAT", "PARLEY_MAX_BODY"} {
		if !strings.Contains(out.String(), "(env "+env+")") {
			t.Errorf("serve -h does not mention %s:\n%s", env, out.String())
		}
	}
}

func TestBenchFlagsResolution(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    benchConfig
		wantErr string
	}{
		{name: "self", args: []string{"--self"}, want: benchConfig{self: true, clients: 32, duration: 10 * time.Second, store: benchStore{sqliteSync: "full"}, scenario: "operations", think: 5 * time.Second}},
		{
			name: "url and key from environment",
			env:  map[string]string{"PARLEY_URL": "http://127.0.0.1:8080", "PARLEY_KEY": "pk_x"},
			args: []string{"--clients", "8", "--duration", "2s"},
			want: benchConfig{url: "http://127.0.0.1:8080", key: "pk_x", clients: 8, duration: 2 * time.Second, store: benchStore{sqliteSync: "full"}, scenario: "operations", think: 5 * time.Second},
		},
		{
			name: "postgres for the in-process store",
			args: []string{"--self", "--database", "postgres://p@h/db"},
			want: benchConfig{self: true, clients: 32, duration: 10 * time.Second, store: benchStore{database: "postgres://p@h/db", sqliteSync: "full"}, scenario: "operations", think: 5 * time.Second},
		},
		{
			name: "never the server's database from the environment",
			env:  map[string]string{"PARLEY_DATABASE_URL": "postgres://prod@h/db"},
			args: []string{"--self"},
			want: benchConfig{self: true, clients: 32, duration: 10 * time.Second, store: benchStore{sqliteSync: "full"}, scenario: "operations", think: 5 * time.Second},
		},
		{name: "bot scenario", args: []string{"--self", "--scenario", "bot"}, want: benchConfig{self: true, clients: 32, duration: 10 * time.Second, store: benchStore{sqliteSync: "full"}, scenario: "bot", think: 5 * time.Second}},
		{name: "unknown scenario", args: []string{"--self", "--scenario", "chat"}, wantErr: "--scenario"},
		{
			name: "web chat scenario", args: []string{"--self", "--scenario", "webchat", "--clients", "1000", "--think", "2s"},
			want: benchConfig{self: true, clients: 1000, duration: 10 * time.Second, store: benchStore{sqliteSync: "full"}, scenario: "webchat", think: 2 * time.Second},
		},
		{name: "idle sockets need a separate server", args: []string{"--self", "--scenario", "webchat-idle"}, wantErr: "--url"},
		{name: "no think time", args: []string{"--self", "--scenario", "webchat", "--think", "0s"}, wantErr: "--think"},
		{name: "neither url nor self", wantErr: "either --url"},
		{name: "both url and self", args: []string{"--self", "--url", "http://x"}, wantErr: "either --url"},
		{name: "url without key", args: []string{"--url", "http://x"}, wantErr: "--key is required"},
		{name: "no clients", args: []string{"--self", "--clients", "0"}, wantErr: "must be positive"},
		{name: "bad duration", args: []string{"--self", "--duration", "soon"}, wantErr: "duration"},
		{name: "sqlite url", args: []string{"--self", "--database", "sqlite://x"}, wantErr: "--database"},
		{name: "sqlite normal", args: []string{"--self", "--sqlite-sync", "normal"},
			want: benchConfig{self: true, clients: 32, duration: 10 * time.Second, store: benchStore{sqliteSync: "normal"}, scenario: "operations", think: 5 * time.Second}},
		{name: "never the server's sqlite setting from the environment", env: map[string]string{"PARLEY_SQLITE_SYNC": "normal"}, args: []string{"--self"},
			want: benchConfig{self: true, clients: 32, duration: 10 * time.Second, store: benchStore{sqliteSync: "full"}, scenario: "operations", think: 5 * time.Second}},
		{name: "bad sqlite sync", args: []string{"--self", "--sqlite-sync", "off"}, wantErr: "--sqlite-sync"},
		{name: "seeded", args: []string{"--self", "--customers", "100000", "--conversations", "1000000"},
			want: benchConfig{self: true, clients: 32, duration: 10 * time.Second, store: benchStore{sqliteSync: "full"}, scenario: "operations", think: 5 * time.Second,
				seed: benchSeed{customers: 100000, conversations: 1000000}}},
		{name: "seeded servers share the database", args: []string{"--url", "http://x", "--key", "k", "--customers", "100", "--conversations", "100"},
			wantErr: "--database"},
		{name: "fewer conversations than customers", args: []string{"--self", "--customers", "100", "--conversations", "10"}, wantErr: "--conversations"},
		{name: "conversations without customers", args: []string{"--self", "--conversations", "10"}, wantErr: "--customers"},
		{name: "fewer customers than clients", args: []string{"--self", "--customers", "10", "--conversations", "10"}, wantErr: "--clients"},
		{name: "seeded bot", args: []string{"--self", "--scenario", "bot", "--customers", "100", "--conversations", "100"}, wantErr: "--scenario"},
		{name: "seeded phases and a trace", args: []string{"--self", "--customers", "100", "--conversations", "100", "--phases", "http:find, raw:find", "--trace", "t.out"},
			want: benchConfig{self: true, clients: 32, duration: 10 * time.Second, store: benchStore{sqliteSync: "full"}, scenario: "operations", think: 5 * time.Second,
				trace: "t.out", seed: benchSeed{customers: 100, conversations: 100, phases: "http:find, raw:find"}}},
		{name: "unknown phase", args: []string{"--self", "--customers", "100", "--conversations", "100", "--phases", "http:fnd"}, wantErr: "http:fnd"},
		{name: "phases without a seeded data set", args: []string{"--self", "--phases", "http:find"}, wantErr: "--customers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &cli{getenv: envOf(tt.env), stdout: io.Discard, stderr: io.Discard}
			got, err := parseBenchFlags(c, tt.args)
			if tt.wantErr != "" {
				var usage *usageError
				if !errors.As(err, &usage) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want a usage error mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestSQLiteSyncFlag checks --sqlite-sync and PARLEY_SQLITE_SYNC: full by
// default, normal on request, anything else a usage error; the store
// commands say which setting they use.
func TestSQLiteSyncFlag(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    string
		wantErr bool
	}{
		{name: "default", want: "full"},
		{name: "flag", args: []string{"--sqlite-sync", "normal"}, want: "normal"},
		{name: "environment", env: map[string]string{"PARLEY_SQLITE_SYNC": "normal"}, want: "normal"},
		{name: "flag wins", args: []string{"--sqlite-sync=full"}, env: map[string]string{"PARLEY_SQLITE_SYNC": "normal"}, want: "full"},
		{name: "upper case", args: []string{"--sqlite-sync", "NORMAL"}, want: "normal"},
		{name: "off refused", args: []string{"--sqlite-sync", "off"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &cli{getenv: envOf(tt.env), stdout: io.Discard, stderr: io.Discard}
			cfg, err := parseServeFlags(c, tt.args)
			if tt.wantErr {
				var usage *usageError
				if !errors.As(err, &usage) || !strings.Contains(err.Error(), "--sqlite-sync") {
					t.Fatalf("error = %v, want a usage error about --sqlite-sync", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := string(cfg.store.sync()); got != tt.want {
				t.Errorf("synchronous = %s, want %s", got, tt.want)
			}
		})
	}
	data := t.TempDir()
	if out := mustParley(t, nil, "migrate", "--data", data, "--sqlite-sync", "normal").stdout; !strings.Contains(out, "(synchronous=normal)") {
		t.Errorf("migrate --sqlite-sync normal printed %q", out)
	}
	if out := mustParley(t, nil, "migrate", "--data", data).stdout; !strings.Contains(out, "(synchronous=full)") {
		t.Errorf("migrate printed %q, want synchronous=full by default", out)
	}
}

func TestServeRetentionFlags(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		keep, idem time.Duration
		wantErr    string
	}{
		{name: "defaults", keep: 30 * 24 * time.Hour, idem: 24 * time.Hour},
		{name: "short, for a soak", args: []string{"--retention", "2m", "--idempotency-retention", "2m"}, keep: 2 * time.Minute, idem: 2 * time.Minute},
		{name: "environment", env: map[string]string{"PARLEY_RETENTION": "48h", "PARLEY_IDEMPOTENCY_RETENTION": "1h"}, keep: 48 * time.Hour, idem: time.Hour},
		{name: "retention not positive", args: []string{"--retention", "0s"}, wantErr: "--retention"},
		{name: "idempotency shorter than the lease", args: []string{"--idempotency-retention", "90s"}, wantErr: "--idempotency-retention must be at least 2m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &cli{getenv: envOf(tt.env), stdout: io.Discard, stderr: io.Discard}
			cfg, err := parseServeFlags(c, tt.args)
			if tt.wantErr != "" {
				var usage *usageError
				if !errors.As(err, &usage) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want a usage error mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || cfg.retention != tt.keep || cfg.idempotencyRetention != tt.idem {
				t.Fatalf("retention %s, idempotency %s (%v), want %s and %s", cfg.retention, cfg.idempotencyRetention, err, tt.keep, tt.idem)
			}
		})
	}
}

// TestSeededPhases checks that --phases keeps the phases it names, in the
// order of a full run, the raw update's two phases on PostgreSQL included.
func TestSeededPhases(t *testing.T) {
	raw, inProcess, http := bench.HTTPTarget{}, bench.HTTPTarget{}, bench.HTTPTarget{}
	tests := []struct {
		phases, database string
		want             []string // operation and client count of each phase
	}{
		{"", "", []string{"update 1", "update 32", "update 32", "find 4", "find 32", "find 32"}},
		{"", "postgres://x", []string{"update 1", "update 8", "update 32", "update 32", "find 4", "find 32", "find 32"}},
		{"http:find,raw:update", "postgres://x", []string{"update 1", "update 8", "find 32"}},
		{"raw:find", "", []string{"find 4"}},
	}
	for _, tt := range tests {
		cfg := benchConfig{clients: 32, store: benchStore{database: tt.database}, seed: benchSeed{phases: tt.phases}}
		short := map[string]string{bench.OpUpdate: "update", bench.OpFind: "find"}
		var got []string
		for _, p := range seededPhases(cfg, raw, inProcess, http) {
			got = append(got, fmt.Sprint(short[p.Op], " ", p.Clients))
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("--phases %q on %q: %v, want %v", tt.phases, tt.database, got, tt.want)
		}
	}
}
