// Command parley is Parley's one binary: the HTTP server, migrations, the
// operator's admin commands and the load benchmark.
//
// Every dependency is wired explicitly in this package: the store (SQLite or
// PostgreSQL), the licence verifier, the service and the HTTP handler.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal starts a graceful shutdown, a second one
	// stops the process at once (the default behaviour, restored).
	context.AfterFunc(ctx, stop)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// cli is what every command gets from the process: its environment and
// output streams.
type cli struct {
	getenv func(string) string
	stdout io.Writer
	stderr io.Writer
}

// command is one subcommand; name has one or two words ("serve",
// "org create").
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, c *cli, args []string) error
}

// commands lists every subcommand, in the order the usage text shows them.
func commands() []command {
	return []command{
		{"serve", "run the HTTP API server (migrates the database first)", cmdServe},
		{"migrate", "apply database migrations and exit", cmdMigrate},
		{"org create", "create an organization and its first API key (optionally with a licence)", cmdOrgCreate},
		{"org list", "list organizations and their licences", cmdOrgList},
		{"key create", "create an API key for an organization", cmdKeyCreate},
		{"key list", "list the API keys of an organization", cmdKeyList},
		{"key revoke", "revoke an API key", cmdKeyRevoke},
		{"license keygen", "generate an operator licence key pair", cmdLicenseKeygen},
		{"license issue", "issue (sign) a licence token for an organization", cmdLicenseIssue},
		{"license install", "install a licence token for an organization", cmdLicenseInstall},
		{"bot publish", "create a version of a bot from a YAML or JSON file and publish it", cmdBotPublish},
		{"test", "run transcript tests of bots (offline, on a temporary database)", cmdTest},
		{"bench", "measure HTTP throughput and latency against the in-process figure", cmdBench},
		{"version", "print the version", cmdVersion},
		{"help", "show this text", nil},
	}
}

// run executes the command line args and returns the process exit code:
// 0 on success (and for help), 2 for usage errors, 1 for failures.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	c := &cli{getenv: getenv, stdout: stdout, stderr: stderr}
	if len(args) == 0 {
		printUsage(stderr)
		return 2
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		printUsage(stdout)
		return 0
	}
	cmd, rest, ok := findCommand(args)
	if !ok {
		return unknownCommand(stderr, args)
	}
	return exitCode(stderr, cmd.name, cmd.run(ctx, c, rest))
}

// unknownCommand reports a command line that names no command and returns
// exit code 2. A group such as "org" alone, or with a word that is not one
// of its subcommands, is answered with the group's subcommands.
func unknownCommand(stderr io.Writer, args []string) int {
	if subs := subcommands(args[0]); len(subs) > 0 {
		if len(args) == 1 || strings.HasPrefix(args[1], "-") {
			fmt.Fprintf(stderr, "parley %s needs a subcommand: %s\n", args[0], strings.Join(subs, ", "))
		} else {
			fmt.Fprintf(stderr, "parley %s has no subcommand %q; its subcommands: %s\n", args[0], args[1], strings.Join(subs, ", "))
		}
		fmt.Fprintf(stderr, "run 'parley %s %s -h' for the flags of one\n", args[0], subs[0])
		return 2
	}
	fmt.Fprintf(stderr, "parley: unknown command %q\n\n", args[0])
	printUsage(stderr)
	return 2
}

// subcommands returns the second words of the commands of group ("create",
// "list" for "org"); none when group is not the first word of a two-word
// command.
func subcommands(group string) []string {
	var subs []string
	for _, cmd := range commands() {
		if first, second, ok := strings.Cut(cmd.name, " "); ok && first == group {
			subs = append(subs, second)
		}
	}
	return subs
}

// findCommand matches the longest command name at the start of args.
func findCommand(args []string) (command, []string, bool) {
	for _, cmd := range commands() {
		words := strings.Fields(cmd.name)
		if cmd.run == nil || len(args) < len(words) {
			continue
		}
		if strings.Join(args[:len(words)], " ") == cmd.name {
			return cmd, args[len(words):], true
		}
	}
	return command{}, nil, false
}

// exitCode reports err on stderr and maps it to an exit code. Coded errors
// print as "code: message".
func exitCode(stderr io.Writer, name string, err error) int {
	var usage *usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &usage):
		fmt.Fprintf(stderr, "%s\nrun 'parley %s -h' for its flags\n", usage.msg, name)
		return 2
	default:
		fmt.Fprintf(stderr, "parley %s: %v\n", name, err)
		return 1
	}
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, `parley: a self-hosted conversation hub for chat bots

usage: parley <command> [flags]

commands:
`)
	for _, cmd := range commands() {
		fmt.Fprintf(w, "  %-16s %s\n", cmd.name, cmd.summary)
	}
	fmt.Fprint(w, `
Run 'parley <command> -h' for the flags of a command. A flag whose help names
an environment variable (PARLEY_...) can also be set by it; a flag on the
command line wins over the environment.
`)
}
