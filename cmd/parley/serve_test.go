package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestShutdownClosesStalledConnections: a client that sent half a body
// cannot keep the server from stopping: after the timeout its connection
// is closed and serveUntilDone returns without error.
func TestShutdownClosesStalledConnections(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	entered := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		io.ReadAll(r.Body) // blocks: the client never sends the rest
	})}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serveUntilDone(ctx, srv, ln, slog.New(slog.DiscardHandler), 200*time.Millisecond) }()

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + strings.Repeat("a", 10)
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	<-entered
	stop()
	if err := <-done; err != nil {
		t.Fatalf("serveUntilDone with a stalled client: %v", err)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Read(make([]byte, 1)); err == nil {
		t.Fatal("the stalled connection is still open")
	}
}
