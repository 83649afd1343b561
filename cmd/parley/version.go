package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
)

// versionString describes the binary from its build information: module
// version, VCS revision when built from a checkout, and Go version.
func versionString() string {
	version, revision, modified := "(devel)", "", false
	if info, ok := debug.ReadBuildInfo(); ok {
		if info.Main.Version != "" {
			version = info.Main.Version
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	out := "parley " + version
	if revision != "" {
		out += " " + revision[:min(12, len(revision))]
		if modified {
			out += "+modified"
		}
	}
	return out + " " + runtime.Version()
}

func cmdVersion(ctx context.Context, c *cli, args []string) error {
	f := newFlagSet("version", "Print the version.", c.getenv, c.stderr)
	if err := f.parse(args); err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, versionString())
	return nil
}
