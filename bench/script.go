package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Scenarios of parley bench on the channels.
const (
	// ScenarioSMS posts Twilio's inbound webhooks (RunSMS).
	ScenarioSMS = "sms"
	// ScenarioWebChat converses over web chat sockets (RunWebChat).
	ScenarioWebChat = "webchat"
	// ScenarioWebChatIdle holds idle web chat sockets (RunIdleSockets).
	ScenarioWebChatIdle = "webchat-idle"
)

// changeNumberScript is what a customer says to the example bot
// (examples/change-number) over a channel, round after round: a greeting
// that starts a conversation (the bot greets and asks for a number), an
// answer that is not a phone number (asked again), and a new number
// (updated, goodbye, closed: the next greeting starts a new conversation).
type changeNumberScript struct {
	step int
	// area is the run's three digits; numbers hands out the new numbers,
	// unique in the run.
	area    string
	numbers *atomic.Int64
}

// next returns the customer's next message and the prefixes of the bot's
// replies to it.
func (s *changeNumberScript) next() (text string, replies []string) {
	defer func() { s.step = (s.step + 1) % 3 }()
	switch s.step {
	case 0:
		return "Hello", []string{"Hi!", "What is your new phone number?"}
	case 1:
		return "my number is the usual one", []string{"Sorry, that does not look like a phone number"}
	}
	n := s.numbers.Add(1)
	return fmt.Sprintf("+1 %s %03d %04d", s.area, 600+n/10000%300, n%10000), []string{"Done: we now know you by"}
}

// newScripts returns one script per client, sharing the run's numbers.
func newScripts(clients int, area string) []*changeNumberScript {
	numbers := new(atomic.Int64)
	out := make([]*changeNumberScript, clients)
	for i := range out {
		out[i] = &changeNumberScript{area: area, numbers: numbers}
	}
	return out
}

// paced calls call(i) from each of clients goroutines until duration has
// passed, each pausing a random time between half and one and a half
// think before each call (first calls spread over one think), and times
// only the calls: the load is about clients/think calls per second.
func paced(ctx context.Context, driver, op string, clients int, duration, think time.Duration, call func(ctx context.Context, i int) error) Stats {
	results := make([]callResults, clients)
	start := time.Now()
	deadline := start.Add(duration)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			wait := rand.N(think + 1)
			for {
				if time.Now().Add(wait).After(deadline) || pause(ctx, wait) != nil {
					return
				}
				t0 := time.Now()
				results[i].add(t0, call(ctx, i))
				wait = think/2 + rand.N(think+1)
			}
		})
	}
	wg.Wait()
	return summarize(driver, op, start, results)
}
