package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strconv"

	"github.com/parleyhq/parley/domain"
)

// replayedHeader marks a response repeated for a retried request.
const replayedHeader = "Idempotent-Replayed"

// idempotent runs h for a request carrying an Idempotency-Key: a retry of a
// completed request gets the stored response again; a first request runs
// and its response is stored unless it is a server error (then the key is
// released so a retry runs again). Reusing a key for a different request
// answers 409 conflict, as does a retry while the key is in progress.
func (s *server) idempotent(w http.ResponseWriter, r *http.Request, h handlerFunc, key string) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		s.problem(w, r, bodyError(err))
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	org := orgOf(r)
	replay, err := s.svc.BeginIdempotent(r.Context(), org, key, requestHash(r.Method, r.URL.Path, body))
	if err != nil {
		s.problem(w, r, err)
		return
	}
	if replay != nil {
		w.Header().Set(replayedHeader, "true")
		writeBody(w, replay.Status, storedContentType(replay.Status), replay.Body)
		return
	}
	rec := &captureWriter{header: http.Header{}}
	s.run(rec, r, h)
	s.settleIdempotent(context.WithoutCancel(r.Context()), org, key, rec)
	rec.copyTo(w)
}

// settleIdempotent records the outcome of the request holding key; ctx
// outlives the client, so the outcome is recorded even if it went away.
// Only a success (2xx) is stored and replayed. Every error response of
// Parley means the request changed nothing (a failed operation leaves the
// store as before), so the key is released and a retry, perhaps corrected,
// runs again: a transient conflict or a malformed request is not replayed
// for a day. A success may have committed changes, so its key is never
// released: when storing the response fails, the failure is logged and the
// key stays in progress (the service lets a later request take over a
// stale key), since a retry must not run the request a second time.
func (s *server) settleIdempotent(ctx context.Context, org domain.OrgID, key string, rec *captureWriter) {
	status := rec.statusCode()
	if status >= http.StatusMultipleChoices {
		if err := s.svc.AbandonIdempotent(ctx, org, key); err != nil {
			s.log.ErrorContext(ctx, "releasing an idempotency key", "org", org, "err", err)
		}
		return
	}
	if err := s.svc.FinishIdempotent(ctx, org, key, status, rec.body.Bytes()); err != nil {
		s.log.ErrorContext(ctx, "storing an idempotent response; the key stays in progress",
			"org", org, "status", status, "err", err)
	}
}

// requestHash identifies a request by method, path and body (SHA-256).
func requestHash(method, path string, body []byte) string {
	h := sha256.New()
	h.Write([]byte(method))
	h.Write([]byte{0})
	h.Write([]byte(path))
	h.Write([]byte{0})
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// storedContentType is the Content-Type of a stored response: only JSON
// bodies are produced by the idempotent routes.
func storedContentType(status int) string {
	if status >= http.StatusBadRequest {
		return problemContentType
	}
	return jsonContentType
}

// captureWriter buffers a response so it can be stored before it is sent.
type captureWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *captureWriter) Header() http.Header { return w.header }

func (w *captureWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *captureWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.body.Write(b)
}

func (w *captureWriter) written() bool { return w.status != 0 }

func (w *captureWriter) statusCode() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// copyTo sends the buffered response.
func (w *captureWriter) copyTo(dst http.ResponseWriter) {
	for k, v := range w.header {
		dst.Header()[k] = v
	}
	dst.Header().Set("Content-Length", strconv.Itoa(w.body.Len()))
	dst.WriteHeader(w.statusCode())
	_, _ = dst.Write(w.body.Bytes())
}
