//go:build unix

package bench

import (
	"fmt"
	"syscall"
)

// raiseFileLimit raises this process's soft open file limit to need,
// which must not pass the hard limit.
func raiseFileLimit(need uint64) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("bench: reading the open file limit: %w", err)
	}
	if lim.Cur >= need {
		return nil
	}
	if lim.Max < need {
		return fmt.Errorf("bench: this process may open %d files at most (hard limit), %d needed: "+
			"raise it (ulimit -Hn %d as root, or nofile in /etc/security/limits.conf) or use fewer --clients", lim.Max, need, need)
	}
	lim.Cur = need
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("bench: raising the open file limit to %d: %w", need, err)
	}
	return nil
}
