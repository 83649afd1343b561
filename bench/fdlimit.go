package bench

import "fmt"

// fdMargin is the file descriptors a process needs beside its sockets
// (the database, the listener, the API client's connections).
const fdMargin = 64

// checkFileLimits makes sure both ends can hold sockets connections: this
// process's open file limit is raised to what it needs (up to its hard
// limit; Go raises the soft limit to the hard one at start already), and
// the server's limit, from its /metrics, must leave room for them beside
// the files it has open.
func checkFileLimits(sockets int, server ServerMemory) error {
	need := uint64(sockets + fdMargin)
	if err := raiseFileLimit(need); err != nil {
		return err
	}
	if server.MaxFDs > 0 && server.MaxFDs < server.OpenFDs+float64(sockets)+fdMargin {
		return fmt.Errorf("bench: the server may open %.0f files and has %.0f open: too few for %d sockets; "+
			"start parley serve with a higher limit (ulimit -n %d in its shell, LimitNOFILE= in a systemd unit)",
			server.MaxFDs, server.OpenFDs, sockets, int(server.OpenFDs)+sockets+fdMargin)
	}
	return nil
}
