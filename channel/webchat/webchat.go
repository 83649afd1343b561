// Package webchat is Parley's web chat channel: the embeddable widget
// script, a demo page per resource, and the WebSocket protocol
// (docs/WEBCHAT.md) through which a browser visitor talks to the bot bound
// to a web chat resource. Messages written by any server process reach the
// socket through the store's notifications.
package webchat

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/parleyhq/parley/channel"
	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/service"
)

//go:embed assets/widget.js assets/demo.html
var assets embed.FS

var demoPage = template.Must(template.ParseFS(assets, "assets/demo.html"))

// Limits of the protocol, per socket and per visitor.
type Limits struct {
	// MaxFrame bounds one frame in bytes (close 1009 beyond).
	MaxFrame int64
	// Burst and Every: a visitor may send Burst messages at once, then one
	// per Every (close 1008 beyond).
	Burst int
	Every time.Duration
	// Ping is the interval of the server's pings; a socket silent for
	// three intervals is closed.
	Ping time.Duration
}

// DefaultLimits are the limits of a Server whose Limits are zero.
var DefaultLimits = Limits{MaxFrame: 16 << 10, Burst: 10, Every: time.Second, Ping: 25 * time.Second}

// Server serves the web chat. Close it at shutdown: it closes the sockets.
type Server struct {
	Service  *service.Service
	Notifier domain.Notifier
	Logger   *slog.Logger
	Metrics  *channel.Metrics
	Limits   Limits

	once     sync.Once
	hub      *hub
	limiters *limiters
}

func (s *Server) init() {
	s.once.Do(func() {
		if s.Limits == (Limits{}) {
			s.Limits = DefaultLimits
		}
		if s.Logger == nil {
			s.Logger = slog.New(slog.DiscardHandler)
		}
		s.hub = newHub(s.Notifier, s.Limits.Ping)
		s.limiters = &limiters{burst: s.Limits.Burst, every: s.Limits.Every, byVisitor: map[string]*bucket{}}
	})
}

// Close closes every socket (going away) and stops listening.
func (s *Server) Close() {
	s.init()
	s.hub.close()
}

// Widget serves the widget script.
func (s *Server) Widget(w http.ResponseWriter, r *http.Request) error {
	body, err := assets.ReadFile("assets/widget.js")
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, err = w.Write(body)
	return err
}

// Demo serves a page that talks to the bot bound to the resource.
func (s *Server) Demo(w http.ResponseWriter, r *http.Request) error {
	ch, err := s.Service.LoadChannel(r.Context(), domain.ResourceID(r.PathValue("resourceId")), domain.ResourceWebChat)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; connect-src 'self' ws: wss:; style-src 'self' 'unsafe-inline'")
	return demoPage.Execute(w, map[string]string{"Resource": string(ch.Resource.ID), "Name": ch.Resource.Name})
}

// originAllowed reports whether a page of origin may open the resource's
// chat: the server's own pages (the demo), the resource's allowed origins,
// or any origin with "*". A request without Origin is not from a browser
// page and is allowed.
func originAllowed(r *http.Request, allowed []string) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	norm := strings.ToLower(u.Scheme + "://" + u.Host)
	return slices.Contains(allowed, "*") || slices.Contains(allowed, norm)
}

// visitorToken is a random anonymous visitor token (kept in the browser's
// localStorage).
func newVisitorToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

var tokenPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{32}$`)

// destination is the conversation destination of a visitor: a one-way
// hash of the token (so neither the API nor the database holds a token
// that could resume the chat) and of the verified identifier, so that two
// people signed in on one browser do not share a conversation.
func destination(token, identifier string) string {
	sum := sha256.Sum256([]byte(token + "\n" + identifier))
	return "web:" + hex.EncodeToString(sum[:16])
}

// Sign is the signature a host page passes with a customer identifier:
// hex HMAC-SHA256 of the identifier under the resource's signing secret.
func Sign(secret, identifier string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(identifier))
	return hex.EncodeToString(mac.Sum(nil))
}

// verifyIdentity checks a signed identifier against the secrets.
func verifyIdentity(identifier, signature string, secrets []string) bool {
	for _, secret := range secrets {
		if secret != "" && hmac.Equal([]byte(Sign(secret, identifier)), []byte(strings.ToLower(signature))) {
			return true
		}
	}
	return false
}

// limiters are the per-visitor token buckets of this process.
type limiters struct {
	mu        sync.Mutex
	burst     int
	every     time.Duration
	byVisitor map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// allow takes a token of the visitor's bucket.
func (l *limiters) allow(visitor string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.byVisitor[visitor]
	if !ok {
		if len(l.byVisitor) > 100_000 {
			l.sweep(now)
		}
		b = &bucket{tokens: float64(l.burst), last: now}
		l.byVisitor[visitor] = b
	}
	b.tokens = min(float64(l.burst), b.tokens+float64(now.Sub(b.last))/float64(l.every))
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// sweep forgets the buckets that are full again.
func (l *limiters) sweep(now time.Time) {
	for k, b := range l.byVisitor {
		if now.Sub(b.last) > time.Duration(l.burst)*l.every {
			delete(l.byVisitor, k)
		}
	}
}
