package main

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

func TestBenchSoakFlags(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		duration   time.Duration
		rate       int
		keep, idem time.Duration
		wantErr    string
	}{
		{name: "defaults", args: []string{"--self", "--scenario", "soak"}, duration: 10 * time.Minute, rate: 20, keep: 2 * time.Minute, idem: 2 * time.Minute},
		{
			name:     "given",
			args:     []string{"--self", "--scenario", "soak", "--duration", "30m", "--rate", "50", "--retention", "5m", "--idempotency-retention", "3m"},
			duration: 30 * time.Minute, rate: 50, keep: 5 * time.Minute, idem: 3 * time.Minute,
		},
		{
			name:     "url on PostgreSQL",
			args:     []string{"--url", "http://127.0.0.1:8080", "--key", "pk_x", "--scenario", "soak", "--database", "postgres://db/parley"},
			duration: 10 * time.Minute, rate: 20, keep: 2 * time.Minute, idem: 2 * time.Minute,
		},
		{name: "url without the server's database", args: []string{"--url", "http://127.0.0.1:8080", "--key", "pk_x", "--scenario", "soak"}, wantErr: "--server-data"},
		{name: "idempotency shorter than the lease", args: []string{"--self", "--scenario", "soak", "--idempotency-retention", "1m"}, wantErr: "--idempotency-retention"},
		{name: "no rate", args: []string{"--self", "--scenario", "soak", "--rate", "0"}, wantErr: "--rate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &cli{getenv: envOf(nil), stdout: io.Discard, stderr: io.Discard}
			cfg, err := parseBenchFlags(c, tt.args)
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
			if s := cfg.soak; s == nil || cfg.duration != tt.duration || *s.rate != tt.rate || *s.retention != tt.keep || *s.idempotency != tt.idem {
				t.Fatalf("duration %s, soak %+v; want %s, rate %d, retention %s and %s", cfg.duration, s, tt.duration, tt.rate, tt.keep, tt.idem)
			}
		})
	}
}
