//go:build !unix

package webhook_test

import "time"

// processCPU is not measured here: the benchmarks report 0 CPU per event.
func processCPU() time.Duration { return 0 }
