package bench

import (
	"strings"
	"testing"
)

func TestCheckFileLimitsServer(t *testing.T) {
	for _, tc := range []struct {
		name    string
		sockets int
		server  ServerMemory
		wantErr string
	}{
		{"room left", 100, ServerMemory{MaxFDs: 1024, OpenFDs: 20}, ""},
		{"limit unknown", 100, ServerMemory{}, ""},
		{"too few for the sockets", 1000, ServerMemory{MaxFDs: 1024, OpenFDs: 20}, "ulimit -n 1084"},
		{"open files count", 900, ServerMemory{MaxFDs: 1024, OpenFDs: 100}, "has 100 open"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkFileLimits(tc.sockets, tc.server)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("checkFileLimits(%d, %+v) = %v, want %q", tc.sockets, tc.server, err, tc.wantErr)
			}
		})
	}
}
