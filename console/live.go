package console

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/service"
)

// liveMessage is a message as the live transcript stream sends it.
type liveMessage struct {
	Seq       int64  `json:"seq"`
	Author    string `json:"author"`
	Direction string `json:"direction"`
	Text      string `json:"text"`
	CreatedAt string `json:"createdAt"`
	UTC       string `json:"utc"`
}

// liveStatus is sent when the conversation closes.
type liveStatus struct {
	Status string `json:"status"`
}

// live streams a conversation's new messages as Server-Sent Events (woken
// by the notifier when there is one, polling otherwise): every
// message after the one the page (or the reconnecting browser's
// Last-Event-ID) saw, then each new one as it is written, and a status
// event when the conversation closes, which ends the stream.
func (c *Console) live(w http.ResponseWriter, r *http.Request, op *operator) error {
	id := domain.ConversationID(r.PathValue("conversationId"))
	cursor := r.Header.Get("Last-Event-ID")
	if cursor == "" {
		cursor = r.URL.Query().Get("after")
	}
	after, err := seqParam(cursor)
	if err != nil {
		return err
	}
	conv, err := c.svc.GetConversation(r.Context(), op.org.ID, id)
	if err != nil {
		return err
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if _, err := io.WriteString(w, "retry: 2000\n\n"); err != nil {
		return nil
	}
	s := &stream{c: c, w: w, rc: rc, org: op.org.ID, conv: conv.ID, after: after}
	s.run(r)
	return nil
}

// stream is one live transcript connection.
type stream struct {
	c     *Console
	w     io.Writer
	rc    *http.ResponseController
	org   domain.OrgID
	conv  domain.ConversationID
	after int64
}

// run sends what is new at every poll until the conversation closes, the
// client leaves, the console closes or the stream is old enough for the
// browser to reconnect.
func (s *stream) run(r *http.Request) {
	done := s.c.done(r.Context())
	wake := make(chan struct{}, 1)
	if s.c.notifier != nil {
		cancel := s.c.notifier.Subscribe(domain.TopicMessages, func(payload string) {
			// "" means notifications may have been lost: read again.
			if payload != "" {
				if _, conv, _, ok := service.ParseMessageNote(payload); !ok || conv != s.conv {
					return
				}
			}
			select {
			case wake <- struct{}{}:
			default:
			}
		})
		defer cancel()
	}
	ticker := time.NewTicker(s.c.poll)
	defer ticker.Stop()
	end := time.After(maxStream)
	for {
		open, err := s.send(r)
		if err != nil || !open {
			if err != nil && r.Context().Err() == nil {
				s.c.log.WarnContext(r.Context(), "live transcript stream ended", "conversation", s.conv, "err", err)
			}
			return
		}
		select {
		case <-done:
			return
		case <-end:
			return
		case <-ticker.C:
		case <-wake:
		}
	}
}

// send writes the messages after s.after and, when the conversation has
// closed, its status; open is false once it has.
func (s *stream) send(r *http.Request) (open bool, err error) {
	if err := s.rc.SetWriteDeadline(time.Now().Add(s.c.poll + 30*time.Second)); err != nil && err != http.ErrNotSupported {
		return false, err
	}
	for {
		msgs, err := s.c.svc.ListMessages(r.Context(), s.org, s.conv, s.after, 100)
		if err != nil {
			return false, err
		}
		for _, m := range msgs {
			if err := s.event(strconv.FormatInt(m.Seq, 10), "message", liveMessage{
				Seq: m.Seq, Author: string(m.Author), Direction: string(m.Direction), Text: m.Text,
				CreatedAt: m.CreatedAt.UTC().Format(time.RFC3339Nano), UTC: m.CreatedAt.UTC().Format("2006-01-02 15:04:05 UTC"),
			}); err != nil {
				return false, err
			}
			s.after = m.Seq
		}
		if len(msgs) < 100 {
			break
		}
	}
	conv, err := s.c.svc.GetConversation(r.Context(), s.org, s.conv)
	if err != nil {
		return false, err
	}
	if conv.Status == domain.StatusClosed {
		return false, s.event("", "status", liveStatus{Status: string(conv.Status)})
	}
	return true, s.rc.Flush()
}

func (s *stream) event(id, name string, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return err
	}
	if id != "" {
		if _, err := fmt.Fprintf(s.w, "id: %s\n", id); err != nil {
			return err
		}
	}
	if _, err := fmt.Fprintf(s.w, "event: %s\ndata: %s\n\n", name, b); err != nil {
		return err
	}
	return s.rc.Flush()
}
