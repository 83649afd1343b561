package multinode

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

// startupTimeout bounds how long a server may take to become ready, and
// shutdownTimeout how long it may take to exit after SIGTERM.
const (
	startupTimeout  = 60 * time.Second
	shutdownTimeout = 15 * time.Second
)

// buildParley builds the binary (without -race, to keep the servers fast)
// from the module root into a temporary directory.
func buildParley(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		t.Fatalf("go env GOMOD = %q (%v): not inside the module", gomod, err)
	}
	bin := filepath.Join(t.TempDir(), "parley")
	build := exec.Command("go", "build", "-o", bin, "./cmd/parley")
	build.Dir = filepath.Dir(gomod)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// runParley runs a command of the binary to completion and returns its
// stdout.
func runParley(t *testing.T, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = cleanEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("parley %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// shellVars parses the NAME=value lines a command prints for eval.
func shellVars(stdout string) map[string]string {
	vars := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^([A-Z_]+)=(\S+)$`).FindAllStringSubmatch(stdout, -1) {
		vars[m[1]] = m[2]
	}
	return vars
}

// cleanEnv is the environment without PARLEY_ variables, so the
// developer's settings do not leak into the processes.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PARLEY_") {
			env = append(env, kv)
		}
	}
	return env
}

// node is one running "parley serve" process.
type node struct {
	url    string
	cmd    *exec.Cmd
	output *syncBuffer
	done   chan struct{}
	err    error // of Wait, once done is closed
}

// startNode starts "parley serve" with args plus a free port, and waits
// until /readyz answers. The process is killed at cleanup if still running.
func startNode(t *testing.T, bin string, args ...string) *node {
	t.Helper()
	addrFile := filepath.Join(t.TempDir(), "addr")
	n := &node{output: &syncBuffer{}, done: make(chan struct{})}
	n.cmd = exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0", "--addr-file", addrFile}, args...)...)
	n.cmd.Env = cleanEnv()
	n.cmd.Stdout, n.cmd.Stderr = n.output, n.output
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		n.err = n.cmd.Wait()
		close(n.done)
	}()
	t.Cleanup(func() {
		select {
		case <-n.done:
		default:
			_ = n.cmd.Process.Kill()
			<-n.done
		}
		if t.Failed() {
			t.Logf("output of parley serve at %s (last 4 KiB):\n%s", n.url, n.output.tail(4096))
		}
	})
	deadline := time.Now().Add(startupTimeout)
	for {
		if b, err := os.ReadFile(addrFile); err == nil {
			n.url = "http://" + strings.TrimSpace(string(b))
			if client.New(n.url, "").Ready(context.Background()) == nil {
				return n
			}
		}
		select {
		case <-n.done:
			t.Fatalf("parley serve exited early: %v\n%s", n.err, n.output.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("parley serve not ready after %s\n%s", startupTimeout, n.output.String())
		}
	}
}

// stop sends SIGTERM and expects the process to exit with status 0.
func (n *node) stop(t *testing.T) {
	t.Helper()
	if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM to parley serve at %s: %v", n.url, err)
	}
	select {
	case <-n.done:
		if n.err != nil {
			t.Errorf("parley serve at %s exited with %v after SIGTERM", n.url, n.err)
		}
	case <-time.After(shutdownTimeout):
		t.Errorf("parley serve at %s still running %s after SIGTERM", n.url, shutdownTimeout)
	}
}

// syncBuffer is a bytes.Buffer safe for a process's concurrent writes.
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

// tail returns the last n bytes written.
func (b *syncBuffer) tail(n int) string {
	s := b.String()
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
