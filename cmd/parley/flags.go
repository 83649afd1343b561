package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// usageError is a mistake in the command line; the process exits with 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// flagSet is a flag.FlagSet whose flags may also be set from environment
// variables. A flag given on the command line wins over its variable, which
// wins over the default.
type flagSet struct {
	fs     *flag.FlagSet
	envOf  map[string]string // flag name -> environment variable
	getenv func(string) string
	// usage prints the -h text to the command's output.
	usage func()
	// sources says where each flag's value came from (source).
	sources map[string]string
}

// newFlagSet returns the flag set of the subcommand named name (such as
// "org create"); summary is printed at the top of its -h text.
func newFlagSet(name, summary string, getenv func(string) string, output io.Writer) *flagSet {
	f := &flagSet{fs: flag.NewFlagSet(name, flag.ContinueOnError), envOf: map[string]string{}, getenv: getenv, sources: map[string]string{}}
	// The flag package prints a parse error, then the usage text; the
	// error is reported once, by the caller, and the usage only for -h.
	f.fs.SetOutput(io.Discard)
	f.fs.Usage = func() {}
	f.usage = func() {
		fmt.Fprintf(output, "usage: parley %s [flags]\n\n%s\n\nflags:\n", name, summary)
		f.fs.SetOutput(output)
		f.fs.PrintDefaults()
		f.fs.SetOutput(io.Discard)
	}
	return f
}

// source says where flag name's value came from: "--name", its
// environment variable, or "the default".
func (f *flagSet) source(name string) string {
	if s, ok := f.sources[name]; ok {
		return s
	}
	return "the default"
}

// bind records the environment variable of flag name and mentions it in the
// flag's help text.
func (f *flagSet) bind(name, env string) {
	if env == "" {
		return
	}
	f.envOf[name] = env
	fl := f.fs.Lookup(name)
	fl.Usage += " (env " + env + ")"
}

func (f *flagSet) String(name, env, value, usage string) *string {
	p := f.fs.String(name, value, usage)
	f.bind(name, env)
	return p
}

func (f *flagSet) Int(name, env string, value int, usage string) *int {
	p := f.fs.Int(name, value, usage)
	f.bind(name, env)
	return p
}

func (f *flagSet) Bool(name, env string, value bool, usage string) *bool {
	p := f.fs.Bool(name, value, usage)
	f.bind(name, env)
	return p
}

func (f *flagSet) Duration(name, env string, value time.Duration, usage string) *time.Duration {
	p := f.fs.Duration(name, value, usage)
	f.bind(name, env)
	return p
}

func (f *flagSet) Int64(name, env string, value int64, usage string) *int64 {
	p := f.fs.Int64(name, value, usage)
	f.bind(name, env)
	return p
}

// parse parses args, then applies the environment to every bound flag not
// given on the command line. Positional arguments are refused. It returns
// flag.ErrHelp for -h and a *usageError for anything else wrong.
func (f *flagSet) parse(args []string) error {
	rest, err := f.parseArgs(args)
	if err == nil && len(rest) > 0 {
		return usagef("parley %s: unexpected argument %q", f.fs.Name(), rest[0])
	}
	return err
}

// parseArgs is parse for a command that takes positional arguments after
// its flags: it returns them.
func (f *flagSet) parseArgs(args []string) ([]string, error) {
	if err := f.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			f.usage()
			return nil, err
		}
		return nil, usagef("parley %s: %v", f.fs.Name(), err)
	}
	return f.fs.Args(), f.applyEnv()
}

// applyEnv sets every bound flag not given on the command line from its
// environment variable.
func (f *flagSet) applyEnv() error {
	given := map[string]bool{}
	f.fs.Visit(func(fl *flag.Flag) {
		given[fl.Name] = true
		f.sources[fl.Name] = "--" + fl.Name
	})
	names := make([]string, 0, len(f.envOf))
	for name := range f.envOf {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		env := f.envOf[name]
		v := f.getenv(env)
		if given[name] || v == "" {
			continue
		}
		if err := f.fs.Set(name, v); err != nil {
			return usagef("parley %s: invalid value %q in %s: %v", f.fs.Name(), v, env, err)
		}
		f.sources[name] = env
	}
	return nil
}

// required returns a usage error naming the first empty flag among pairs of
// (flag name, value).
func (f *flagSet) required(pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if strings.TrimSpace(pairs[i+1]) == "" {
			return usagef("parley %s: --%s is required", f.fs.Name(), pairs[i])
		}
	}
	return nil
}

// oneOf returns a usage error unless value is one of allowed.
func (f *flagSet) oneOf(name, value string, allowed ...string) error {
	for _, a := range allowed {
		if value == a {
			return nil
		}
	}
	return usagef("parley %s: --%s must be one of %s, got %q", f.fs.Name(), name, strings.Join(allowed, ", "), value)
}
