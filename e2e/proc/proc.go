// Package proc is test support for starting and driving parley processes:
// it builds the binary, runs its admin commands, and starts and stops
// "parley serve" servers, failing the calling test when anything goes wrong.
package proc

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/parleyhq/parley/client"
)

// StartupTimeout bounds how long a server may take to become ready, and
// ShutdownTimeout how long it may take to exit after SIGTERM.
const (
	StartupTimeout  = 60 * time.Second
	ShutdownTimeout = 15 * time.Second
)

// logTail is how much of a server's log a failure message quotes.
const logTail = 16 << 10

// built is the binary shared by the tests that asked Build for it and are
// still running; the last of them to finish removes it.
var built struct {
	mu    sync.Mutex
	users int
	dir   string
	bin   string
}

// Build builds ./cmd/parley of the module the test runs in (without -race,
// to keep the servers fast) into a temporary directory and returns the
// binary's path. Tests running at the same time share one build; the
// binary is removed when the last of them finishes.
func Build(t testing.TB) string {
	t.Helper()
	built.mu.Lock()
	defer built.mu.Unlock()
	if built.users == 0 {
		dir, bin := build(t)
		built.dir, built.bin = dir, bin
	}
	built.users++
	t.Cleanup(release)
	return built.bin
}

// build runs go build from the module root into a new directory.
func build(t testing.TB) (dir, bin string) {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		t.Fatalf("go env GOMOD = %q (%v): not inside the module", gomod, err)
	}
	dir, err = os.MkdirTemp("", "parley-bin-")
	if err != nil {
		t.Fatal(err)
	}
	bin = filepath.Join(dir, "parley")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/parley")
	cmd.Dir = filepath.Dir(gomod)
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return dir, bin
}

// release drops one user of the built binary, removing it after the last.
func release() {
	built.mu.Lock()
	defer built.mu.Unlock()
	built.users--
	if built.users == 0 {
		os.RemoveAll(built.dir)
		built.dir, built.bin = "", ""
	}
}

// Run runs a command of the binary to completion with CleanEnv and returns
// its stdout. A failing command fails the test with its stderr.
func Run(t testing.TB, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = CleanEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("parley %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// shellAssignment is a NAME=value line printed for eval.
var shellAssignment = regexp.MustCompile(`(?m)^([A-Z_][A-Z0-9_]*)=(\S+)$`)

// ShellVars parses the NAME=value lines a command prints for eval (as
// "parley org create" prints PREFIX_ORG= and PREFIX_KEY=). Other lines are
// ignored; a name assigned twice keeps its last value.
func ShellVars(stdout string) map[string]string {
	vars := map[string]string{}
	for _, m := range shellAssignment.FindAllStringSubmatch(stdout, -1) {
		vars[m[1]] = m[2]
	}
	return vars
}

// CleanEnv is the environment without PARLEY_ variables, so the
// developer's settings do not leak into the processes.
func CleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PARLEY_") {
			env = append(env, kv)
		}
	}
	return env
}

// Server is a running "parley serve" process.
type Server struct {
	url  string
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan struct{} // closed when the process has exited
	err  error         // its exit error, set before done is closed
}

// Start starts "parley serve" with args plus --addr 127.0.0.1:0 and
// --addr-file, waits until /readyz answers and checks that the log names
// the address. The process is killed at cleanup if still running, and its
// log tail is logged if the test failed.
func Start(t testing.TB, bin string, args ...string) *Server {
	t.Helper()
	return StartEnv(t, bin, nil, args...)
}

// StartEnv is Start with env (NAME=value entries) added to CleanEnv, for
// the test-only variables of "parley serve".
func StartEnv(t testing.TB, bin string, env []string, args ...string) *Server {
	t.Helper()
	addrFile := filepath.Join(t.TempDir(), "addr")
	s := &Server{logs: &syncBuffer{}, done: make(chan struct{})}
	s.cmd = exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0", "--addr-file", addrFile}, args...)...)
	s.cmd.Env = append(CleanEnv(), env...)
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			_ = s.cmd.Process.Kill()
			<-s.done
		}
		if t.Failed() {
			t.Logf("log of parley serve at %s:\n%s", s.url, s.tail())
		}
	})
	s.waitReady(t, addrFile)
	if logs := s.Logs(); !strings.Contains(logs, "listening on "+s.url) {
		t.Errorf("log of parley serve does not name its address %s:\n%s", s.url, s.tail())
	}
	return s
}

// waitReady polls addrFile for the address, then /readyz, until it answers.
func (s *Server) waitReady(t testing.TB, addrFile string) {
	t.Helper()
	deadline := time.Now().Add(StartupTimeout)
	for {
		if b, err := os.ReadFile(addrFile); err == nil {
			s.url = "http://" + strings.TrimSpace(string(b))
			if client.New(s.url, "").Ready(context.Background()) == nil {
				return
			}
		}
		select {
		case <-s.done:
			t.Fatalf("parley serve exited early: %v\n%s", s.err, s.tail())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("parley serve not ready after %s\n%s", StartupTimeout, s.tail())
		}
	}
}

// URL is the server's base URL, http://127.0.0.1:port.
func (s *Server) URL() string { return s.url }

// Logs returns everything the server has written to stdout and stderr.
func (s *Server) Logs() string { return s.logs.String() }

// tail returns the last logTail bytes of the log.
func (s *Server) tail() string {
	logs := s.Logs()
	if len(logs) > logTail {
		return "..." + logs[len(logs)-logTail:]
	}
	return logs
}

// Stop sends SIGTERM and expects the process to exit with status 0 within
// ShutdownTimeout, logging "stopped". Failures report the log tail.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM to parley serve at %s: %v\n%s", s.url, err, s.tail())
	}
	select {
	case <-s.done:
	case <-time.After(ShutdownTimeout):
		t.Errorf("parley serve at %s still running %s after SIGTERM\n%s", s.url, ShutdownTimeout, s.tail())
		return
	}
	switch {
	case s.err != nil:
		t.Errorf("parley serve at %s exited with %v after SIGTERM\n%s", s.url, s.err, s.tail())
	case !strings.Contains(s.Logs(), "stopped"):
		t.Errorf("log of parley serve at %s does not say it stopped:\n%s", s.url, s.tail())
	}
}

// Kill stops the process with SIGKILL, as a crash or kill -9 would: no
// handler, deferred call or shutdown code runs. It waits until the process
// has exited.
func (s *Server) Kill(t testing.TB) {
	t.Helper()
	if err := s.cmd.Process.Kill(); err != nil {
		t.Fatalf("SIGKILL to parley serve at %s: %v", s.url, err)
	}
	select {
	case <-s.done:
	case <-time.After(ShutdownTimeout):
		t.Fatalf("parley serve at %s still running %s after SIGKILL", s.url, ShutdownTimeout)
	}
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a child
// process's stdout and stderr.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Bot is what conversations need, made through the API: an app with one
// version published to production, and a web chat channel resource.
type Bot struct {
	App        *client.App
	Version    *client.Version
	Deployment *client.Deployment
	Resource   *client.ChannelResource
}

// PublishBot creates a Bot in api's org, failing the test on any error.
func PublishBot(t testing.TB, api *client.Client) Bot {
	t.Helper()
	ctx := context.Background()
	var b Bot
	var err error
	if b.App, err = api.CreateApp(ctx, client.CreateAppRequest{Name: "Support bot"}); err != nil {
		t.Fatal(err)
	}
	if b.Version, err = api.CreateVersion(ctx, b.App.ID, client.CreateVersionRequest{}); err != nil {
		t.Fatal(err)
	}
	if b.Deployment, err = api.Publish(ctx, b.App.ID, client.PublishRequest{VersionID: b.Version.ID, Environment: client.EnvProduction}); err != nil {
		t.Fatal(err)
	}
	if b.Resource, err = api.CreateChannelResource(ctx, client.CreateChannelResourceRequest{Kind: client.KindWebChat, Name: "Website", Address: "site-widget"}); err != nil {
		t.Fatal(err)
	}
	return b
}
