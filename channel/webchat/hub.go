package webchat

import (
	"sync"

	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/service"
)

// hub wakes the sessions watching a conversation when the store announces
// one of its messages (domain.TopicMessages), from whichever process
// wrote it.
type hub struct {
	mu       sync.Mutex
	watchers map[domain.ConversationID]map[*session]struct{}
	sessions map[*session]struct{}
	cancel   func()
	closed   bool
}

func newHub(n domain.Notifier) *hub {
	h := &hub{watchers: map[domain.ConversationID]map[*session]struct{}{}, sessions: map[*session]struct{}{}}
	if n != nil {
		h.cancel = n.Subscribe(domain.TopicMessages, h.note)
	}
	return h
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

// add registers a session; false when the hub is closed.
func (h *hub) add(s *session) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.sessions[s] = struct{}{}
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
}

// close ends every session and the subscription.
func (h *hub) close() {
	h.mu.Lock()
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
}
