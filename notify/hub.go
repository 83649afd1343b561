// Package notify fans notifications out to the subscribers of one
// process. The stores use it behind domain.Notifier: SQLite publishes
// after each commit, PostgreSQL publishes what its LISTEN connection
// receives.
package notify

import "sync"

// Hub is a set of subscribers by topic. The zero value is ready to use.
type Hub struct {
	mu     sync.RWMutex
	next   int
	topics map[string]map[int]func(string)
}

// Subscribe calls fn for every payload published on topic until cancel.
func (h *Hub) Subscribe(topic string, fn func(payload string)) (cancel func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.topics == nil {
		h.topics = map[string]map[int]func(string){}
	}
	if h.topics[topic] == nil {
		h.topics[topic] = map[int]func(string){}
	}
	h.next++
	id := h.next
	h.topics[topic][id] = fn
	return func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		delete(h.topics[topic], id)
	}
}

// Publish calls every subscriber of topic with payload.
func (h *Hub) Publish(topic, payload string) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, fn := range h.topics[topic] {
		fn(payload)
	}
}

// Topics returns the topics that have subscribers.
func (h *Hub) Topics() []string {
	h.mu.RLock()
	defer h.mu.RUnlock()
	var out []string
	for topic, subs := range h.topics {
		if len(subs) > 0 {
			out = append(out, topic)
		}
	}
	return out
}

// Note is a notification waiting for its transaction's commit.
type Note struct{ Topic, Payload string }
