package webchat

import (
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/service"
)

// hub wakes the sessions watching a conversation when the store announces
// one of its messages (domain.TopicMessages), from whichever process
// wrote it, and pings every session at its interval: one goroutine for
// all sessions, so an idle socket costs only its reading goroutine.
type hub struct {
	mu       sync.Mutex
	watchers map[domain.ConversationID]map[*session]struct{}
	sessions map[*session]time.Time // the next ping of each session
	cancel   func()
	closed   bool
	stop     chan struct{}  // closed by close: the pinger ends
	running  sync.WaitGroup // sessions and the pinger
}

func newHub(n domain.Notifier, ping time.Duration) *hub {
	h := &hub{watchers: map[domain.ConversationID]map[*session]struct{}{}, sessions: map[*session]time.Time{}, stop: make(chan struct{})}
	if n != nil {
		h.cancel = n.Subscribe(domain.TopicMessages, h.note)
	}
	h.running.Go(func() { h.pingEvery(ping) })
	return h
}

// pingEvery pings each session once per interval, spread over the
// interval as the sessions opened, and closes the sessions that sent
// nothing for three intervals.
func (h *hub) pingEvery(interval time.Duration) {
	tick := time.NewTicker(min(max(interval/8, 10*time.Millisecond), time.Second))
	defer tick.Stop()
	for {
		select {
		case <-h.stop:
			return
		case now := <-tick.C:
			silent := now.Add(-3 * interval).UnixNano()
			h.mu.Lock()
			for s, next := range h.sessions {
				if s.heard.Load() < silent {
					go s.close(websocket.StatusPolicyViolation, "no frame for too long")
				} else if !now.Before(next) {
					h.sessions[s] = now.Add(interval)
					s.ping()
				}
			}
			h.mu.Unlock()
		}
	}
}

// note handles one notification; "" (notifications may have been lost)
// wakes every session.
func (h *hub) note(payload string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if payload == "" {
		for s := range h.sessions {
			s.wake()
		}
		return
	}
	_, conv, _, ok := service.ParseMessageNote(payload)
	if !ok {
		return
	}
	for s := range h.watchers[conv] {
		s.wake()
	}
}

// add registers a session, which pings at interval; false when the hub is
// closed. remove must follow a successful add.
func (h *hub) add(s *session, interval time.Duration) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.sessions[s] = time.Now().Add(interval)
	h.running.Add(1)
	return true
}

// watch makes s watch conv instead of the conversation it watched.
func (h *hub) watch(s *session, old, conv domain.ConversationID) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if old != "" {
		delete(h.watchers[old], s)
		if len(h.watchers[old]) == 0 {
			delete(h.watchers, old)
		}
	}
	if conv != "" {
		if h.watchers[conv] == nil {
			h.watchers[conv] = map[*session]struct{}{}
		}
		h.watchers[conv][s] = struct{}{}
	}
}

func (h *hub) remove(s *session, conv domain.ConversationID) {
	h.watch(s, conv, "")
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.sessions, s)
	h.running.Done()
}

// close ends every session and the subscription, and waits until the
// sessions' goroutines have finished (within closeWait).
func (h *hub) close() {
	h.mu.Lock()
	if !h.closed {
		close(h.stop)
	}
	h.closed = true
	sessions := make([]*session, 0, len(h.sessions))
	for s := range h.sessions {
		sessions = append(sessions, s)
	}
	cancel := h.cancel
	h.cancel = nil
	h.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	for _, s := range sessions {
		s.goAway()
	}
	done := make(chan struct{})
	go func() { h.running.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(closeWait):
	}
}

// closeWait bounds how long close waits for the sessions to end (a
// message being received finishes its transaction first).
const closeWait = 10 * time.Second
