package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/parleyhq/parley/client"
)

// WebChatTarget is one or several running servers (of one database) whose
// web chat the benchmark drives, bound to the example bot.
type WebChatTarget struct {
	// BaseURLs are the servers' http://host:port; visitor i talks to
	// BaseURLs[i % len(BaseURLs)].
	BaseURLs []string
	// Client is authenticated with an admin API key of the servers' org.
	Client *client.Client
}

// setup publishes the example bot and creates a web chat resource bound
// to the app's production environment; it returns the resource id.
func (t WebChatTarget) setup(ctx context.Context) (string, error) {
	app, _, err := publishOverAPI(ctx, t.Client, "bench web chat")
	if err != nil {
		return "", err
	}
	res, err := t.Client.CreateChannelResource(ctx, client.CreateChannelResourceRequest{
		Kind: client.KindWebChat, Name: "bench web chat", Address: "bench-webchat",
		AppID: app.ID, Environment: client.EnvProduction,
	})
	if err != nil {
		return "", err
	}
	return res.ID, nil
}

// IdleConfig is the idle sockets measurement.
type IdleConfig struct {
	// Sockets to open, each a visitor who sends one message (starting a
	// conversation, answered by the bot's greeting and question) and then
	// stays idle.
	Sockets int
	// Dialers open the sockets, that many at a time.
	Dialers int
	// Hold is how long the sockets stay open, idle, once all are open
	// (the server's pings are answered).
	Hold     time.Duration
	Progress io.Writer
}

// ServerMemory is what a server's /metrics says about its process.
type ServerMemory struct {
	RSS, HeapInuse, Goroutines, OpenFDs, MaxFDs, OpenSockets float64
}

// readServerMemory reads the process and web chat gauges of /metrics.
func readServerMemory(ctx context.Context, c *client.Client) (ServerMemory, error) {
	text, err := c.Metrics(ctx)
	if err != nil {
		return ServerMemory{}, err
	}
	var m ServerMemory
	fields := map[string]*float64{
		"process_resident_memory_bytes": &m.RSS, "go_memstats_heap_inuse_bytes": &m.HeapInuse,
		"go_goroutines": &m.Goroutines, "process_open_fds": &m.OpenFDs, "process_max_fds": &m.MaxFDs, "parley_webchat_open_sockets": &m.OpenSockets,
	}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if p := fields[name]; ok && p != nil {
			*p, _ = strconv.ParseFloat(value, 64)
		}
	}
	if m.RSS == 0 {
		return m, errors.New("the server's /metrics has no process_resident_memory_bytes (is it parley serve?)")
	}
	return m, nil
}

// IdleReport is the result of RunIdleSockets.
type IdleReport struct {
	Sockets, Opened, Failed int
	FirstErr                error
	OpenElapsed             time.Duration
	Hold                    time.Duration
	// StillOpen is how many sockets were still open after Hold.
	StillOpen     int
	Before, After ServerMemory
}

// RunIdleSockets opens cfg.Sockets web chat sockets on the target's first
// server, each starting a conversation, holds them idle, and reads the
// server's memory before and after. The server must be another process
// (its RSS is read from its /metrics), with a file descriptor limit above
// cfg.Sockets.
func RunIdleSockets(ctx context.Context, cfg IdleConfig, target WebChatTarget) (IdleReport, error) {
	r := IdleReport{Sockets: cfg.Sockets, Hold: cfg.Hold}
	if cfg.Sockets <= 0 || cfg.Dialers <= 0 || len(target.BaseURLs) == 0 {
		return r, errors.New("bench: sockets, dialers and a server are needed")
	}
	note(cfg.Progress, "setting up a web chat resource bound to the bot")
	resource, err := target.setup(ctx)
	if err != nil {
		return r, fmt.Errorf("bench: setting up: %w", err)
	}
	if r.Before, err = readServerMemory(ctx, target.Client); err != nil {
		return r, err
	}
	if err := checkFileLimits(cfg.Sockets, r.Before); err != nil {
		return r, err
	}
	note(cfg.Progress, "opening %d sockets, %d at a time; each sends a first message", cfg.Sockets, cfg.Dialers)
	visitors := make([]*Visitor, cfg.Sockets)
	var next atomic.Int64
	var mu sync.Mutex
	start := time.Now()
	var wg sync.WaitGroup
	for range cfg.Dialers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= cfg.Sockets || ctx.Err() != nil {
					return
				}
				v, err := openIdle(ctx, target.BaseURLs[0], resource)
				mu.Lock()
				if err != nil {
					r.Failed++
					if r.FirstErr == nil {
						r.FirstErr = err
					}
				} else {
					visitors[i] = v
					r.Opened++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	r.OpenElapsed = time.Since(start)
	defer func() {
		for _, v := range visitors {
			if v != nil {
				v.conn.CloseNow()
			}
		}
	}()
	note(cfg.Progress, "%d sockets open in %s; holding them idle for %s", r.Opened, r.OpenElapsed.Round(time.Millisecond), cfg.Hold)
	if err := pause(ctx, cfg.Hold); err != nil {
		return r, err
	}
	for _, v := range visitors {
		if v != nil && v.Err() == nil {
			r.StillOpen++
		}
	}
	if r.After, err = readServerMemory(ctx, target.Client); err != nil {
		return r, err
	}
	if r.FirstErr != nil {
		return r, fmt.Errorf("bench: %d of %d sockets failed, first: %w", r.Failed, cfg.Sockets, r.FirstErr)
	}
	if r.StillOpen != r.Opened {
		return r, fmt.Errorf("bench: %d of %d sockets closed while idle", r.Opened-r.StillOpen, r.Opened)
	}
	return r, nil
}

// openIdle opens one socket and starts its conversation.
func openIdle(ctx context.Context, baseURL, resource string) (*Visitor, error) {
	dctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	v, err := DialVisitor(dctx, baseURL, resource)
	if err != nil {
		return nil, err
	}
	text, want := (&changeNumberScript{}).next()
	replies, err := v.Send(dctx, text, len(want))
	if err == nil {
		err = expectReplies(replies, want...)
	}
	if err != nil {
		v.conn.CloseNow()
		return nil, err
	}
	return v, nil
}

// Print writes the report.
func (r IdleReport) Print(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	mb := func(b float64) string { return fmt.Sprintf("%.1f MB", b/1e6) }
	fmt.Fprintf(tw, "sockets open\t%d of %d (%d failed), in %s (%.0f/s)\n", r.Opened, r.Sockets, r.Failed,
		r.OpenElapsed.Round(time.Millisecond), float64(r.Opened)/r.OpenElapsed.Seconds())
	fmt.Fprintf(tw, "still open after %s idle\t%d\n", r.Hold, r.StillOpen)
	fmt.Fprintf(tw, "server\tbefore\twith the sockets\tper socket\n")
	per := func(a, b float64) string {
		if r.Opened == 0 {
			return ""
		}
		return fmt.Sprintf("%.1f KB", (b-a)/float64(r.Opened)/1e3)
	}
	fmt.Fprintf(tw, "RSS\t%s\t%s\t%s\n", mb(r.Before.RSS), mb(r.After.RSS), per(r.Before.RSS, r.After.RSS))
	fmt.Fprintf(tw, "Go heap in use\t%s\t%s\t%s\n", mb(r.Before.HeapInuse), mb(r.After.HeapInuse), per(r.Before.HeapInuse, r.After.HeapInuse))
	fmt.Fprintf(tw, "goroutines\t%.0f\t%.0f\t\n", r.Before.Goroutines, r.After.Goroutines)
	fmt.Fprintf(tw, "open file descriptors\t%.0f\t%.0f\t\n", r.Before.OpenFDs, r.After.OpenFDs)
	fmt.Fprintf(tw, "open web chat sockets\t%.0f\t%.0f\t\n", r.Before.OpenSockets, r.After.OpenSockets)
	return tw.Flush()
}
