package webhook_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley/clock"
	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/ids"
	"github.com/parleyhq/parley/postgres"
	"github.com/parleyhq/parley/postgres/pgtestdb"
	"github.com/parleyhq/parley/service"
	"github.com/parleyhq/parley/sqlite"
	"github.com/parleyhq/parley/webhook"
)

// Benchmarks of webhook delivery (docs/PERFORMANCE.md has the commands and
// figures). Each runs on SQLite, and on PostgreSQL when
// PARLEY_TEST_POSTGRES is set.

const benchConcurrency = webhook.DefaultConcurrency

// benchBackends returns the stores to benchmark on, by name.
func benchBackends(b *testing.B) map[string]func(b *testing.B) domain.Store {
	backends := map[string]func(b *testing.B) domain.Store{
		"sqlite": func(b *testing.B) domain.Store {
			db, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "parley.db"))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { db.Close() })
			if err := db.Migrate(context.Background()); err != nil {
				b.Fatal(err)
			}
			return db
		},
	}
	if os.Getenv("PARLEY_TEST_POSTGRES") != "" {
		backends["postgres"] = func(b *testing.B) domain.Store {
			db, err := postgres.Open(context.Background(), pgtestdb.New(b))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { db.Close() })
			if err := db.Migrate(context.Background()); err != nil {
				b.Fatal(err)
			}
			return db
		}
	}
	return backends
}

// benchReceiver answers 204 at once and counts requests; arrivals, when
// set, gets each request's body and arrival time.
type benchReceiver struct {
	*httptest.Server
	count    atomic.Int64
	mu       sync.Mutex
	arrivals []arrival
	record   bool
}

type arrival struct {
	body []byte
	at   time.Time
}

func newBenchReceiver(b *testing.B, record bool) *benchReceiver {
	r := &benchReceiver{record: record}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		at := time.Now()
		if r.record {
			r.mu.Lock()
			r.arrivals = append(r.arrivals, arrival{body, at})
			r.mu.Unlock()
		}
		r.count.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(r.Close)
	return r
}

// benchSetup makes an org with one endpoint (every type) on store and a
// worker delivering to recv.
func benchSetup(b *testing.B, store domain.Store, recv *benchReceiver) (domain.OrgID, *webhook.Worker, *webhook.Sender) {
	guard := webhook.NewGuard(true, nil)
	svc := service.New(service.Config{Store: store, Clock: clock.System{}, IDs: ids.Random{}, Webhooks: guard})
	org, _, err := svc.CreateOrg(context.Background(), "Bench")
	if err != nil {
		b.Fatal(err)
	}
	url := recv.URL + "/hook"
	if _, err := svc.CreateWebhookEndpoint(context.Background(), org.ID, service.WebhookEndpointInput{URL: &url}); err != nil {
		b.Fatal(err)
	}
	sender := webhook.NewSender(guard, 0, benchConcurrency)
	notifier, _ := store.(domain.Notifier)
	worker := webhook.NewWorker(webhook.Config{Store: store, Service: svc, Clock: clock.System{}, Sender: sender,
		Concurrency: benchConcurrency, Notifier: notifier})
	return org.ID, worker, sender
}

// appendEvents stores n events of org, 500 per transaction.
func appendEvents(b *testing.B, store domain.Store, org domain.OrgID, n int) {
	for done := 0; done < n; {
		batch := min(500, n-done)
		err := store.Update(context.Background(), func(tx domain.Tx) error {
			for i := range batch {
				if err := tx.AppendEvent(context.Background(), benchEvent(org, done+i)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		done += batch
	}
}

func benchEvent(org domain.OrgID, i int) domain.Event {
	return domain.Event{OrgID: org, Type: domain.EventMessageReceived, Subject: "conv_bench", CreatedAt: time.Now().UTC(),
		Payload: map[string]any{"conversationId": "conv_bench", "messageId": "msg_bench", "seq": i, "text": "hello there"}}
}

// BenchmarkWebhookThroughput: b.N events are stored, then the worker
// delivers them all (claim, signed POST, attempt log), timed until every
// attempt is recorded; reported as events/s. Beside it, the same number
// of signed POSTs of the same bodies from plain loops in this process:
// 16 concurrent loops (the worker's concurrency, the baseline of the
// goal's ratio) and one loop; worker/plain is the cost of the queue. Each
// also reports the CPU time of the process per event.
func BenchmarkWebhookThroughput(b *testing.B) {
	for name, open := range benchBackends(b) {
		b.Run(name+"/worker", func(b *testing.B) {
			store := open(b)
			recv := newBenchReceiver(b, false)
			org, worker, _ := benchSetup(b, store, recv)
			appendEvents(b, store, org, b.N)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			b.ResetTimer()
			start, cpu := time.Now(), processCPU()
			go func() { worker.Run(ctx); close(done) }()
			for recv.count.Load() < int64(b.N) {
				time.Sleep(time.Millisecond)
			}
			waitRecorded(b, store)
			elapsed, cpu := time.Since(start), processCPU()-cpu
			b.StopTimer()
			cancel()
			<-done
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
			reportCPU(b, cpu)
		})
	}
	for _, loops := range []int{1, benchConcurrency} {
		b.Run("plain-signed-posts/loops="+strconv.Itoa(loops), func(b *testing.B) {
			recv := newBenchReceiver(b, false)
			sender := webhook.NewSender(webhook.NewGuard(true, nil), 0, benchConcurrency)
			secret, _ := webhook.NewSecret()
			payload, _ := json.Marshal(benchEvent("org", 1).Payload) // as the store keeps it
			body, _ := webhook.Body(domain.WebhookDelivery{EventSeq: 1, EventType: domain.EventMessageReceived,
				Subject: "conv_bench", Payload: payload, EventCreatedAt: time.Now()})
			var next atomic.Int64
			b.ResetTimer()
			start, cpu := time.Now(), processCPU()
			var wg sync.WaitGroup
			for range loops {
				wg.Go(func() {
					for next.Add(1) <= int64(b.N) {
						o := sender.Send(context.Background(), webhook.Message{URL: recv.URL + "/hook", ID: "evt_1",
							Timestamp: time.Now(), Body: body, Secrets: []string{secret}})
						if !o.OK() {
							b.Errorf("plain POST: %+v", o)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
			reportCPU(b, processCPU()-cpu)
		})
	}
}

// reportCPU reports the CPU time of this process (worker or loops,
// receiver, SQLite; not the PostgreSQL server) per event.
func reportCPU(b *testing.B, cpu time.Duration) {
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-us/event")
}

// waitRecorded waits until no delivery is pending: every attempt is
// recorded.
func waitRecorded(b *testing.B, store domain.Store) {
	for {
		var q domain.WebhookQueueStats
		err := store.View(context.Background(), func(tx domain.Tx) (err error) {
			q, err = tx.WebhookQueue(context.Background(), time.Now())
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		if q.Pending == 0 {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// BenchmarkWebhookLag: events are written one per transaction at 1,000
// per second while the worker runs; reported: p50 and p99 of the time
// from each event's creation (in its transaction) to its arrival at the
// receiver. Use -benchtime=5000x (5 s of load).
func BenchmarkWebhookLag(b *testing.B) {
	for name, open := range benchBackends(b) {
		b.Run(name, func(b *testing.B) {
			store := open(b)
			recv := newBenchReceiver(b, true)
			org, worker, _ := benchSetup(b, store, recv)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { worker.Run(ctx); close(done) }()
			b.ResetTimer()
			// Eight writers take the ticks, so a slow commit does not
			// lower the rate (sixteen contend with the worker for the
			// PostgreSQL pool's ten connections).
			ticks := make(chan int, b.N)
			var writers sync.WaitGroup
			for range 8 {
				writers.Go(func() {
					for i := range ticks {
						e := benchEvent(org, i)
						if err := store.Update(ctx, func(tx domain.Tx) error { return tx.AppendEvent(ctx, e) }); err != nil {
							b.Error(err)
						}
					}
				})
			}
			// Event i is due at start + i ms; a late pacer catches up (a
			// ticker would drop the ticks it missed and lower the rate).
			start := time.Now()
			for i := range b.N {
				if wait := time.Until(start.Add(time.Duration(i) * time.Millisecond)); wait > 0 {
					time.Sleep(wait)
				}
				ticks <- i
			}
			close(ticks)
			writers.Wait()
			rate := float64(b.N) / time.Since(start).Seconds()
			for recv.count.Load() < int64(b.N) {
				time.Sleep(time.Millisecond)
			}
			b.StopTimer()
			cancel()
			<-done
			lags := make([]time.Duration, 0, b.N)
			for _, a := range recv.arrivals {
				var env struct {
					Timestamp time.Time `json:"timestamp"`
				}
				if err := json.Unmarshal(a.body, &env); err != nil {
					b.Fatal(err)
				}
				lags = append(lags, a.at.Sub(env.Timestamp))
			}
			slices.Sort(lags)
			b.ReportMetric(float64(lags[len(lags)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lags[len(lags)*99/100].Microseconds())/1000, "p99-ms")
			b.ReportMetric(rate, "events/s")
		})
	}
}
