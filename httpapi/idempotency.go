package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/parleyhq/parley/service"
)

// replayedHeader marks a response repeated for a retried request.
const replayedHeader = "Idempotent-Replayed"

// idempotent runs h for a request carrying an Idempotency-Key: a retry of a
// completed request gets the stored response again; a first request runs
// under the key's claim, and the service stores its success response in
// the transaction of its change (answerWith, service.IdempotencyClaim).
// Reusing a key for a different request answers 409 conflict, as does a
// retry while the key is in progress.
func (s *server) idempotent(w http.ResponseWriter, r *http.Request, h handlerFunc, key string) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		s.problem(w, r, bodyError(err))
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	replay, claim, err := s.svc.BeginIdempotent(r.Context(), orgOf(r), key, requestHash(r.Method, r.URL.Path, body))
	if err != nil {
		s.problem(w, r, err)
		return
	}
	if replay != nil {
		w.Header().Set(replayedHeader, "true")
		writeBody(w, replay.Status, storedContentType(replay.Status), replay.Body)
		return
	}
	r = r.WithContext(service.WithIdempotency(r.Context(), claim))
	rec := &captureWriter{header: http.Header{}}
	s.run(rec, r, h)
	if s.hold != nil && rec.statusCode() < http.StatusMultipleChoices {
		s.hold(r)
	}
	s.settleIdempotent(context.WithoutCancel(r.Context()), r, claim, rec)
	rec.copyTo(w)
}

// settleIdempotent finishes the request holding claim; ctx outlives the
// client, so this happens even if it went away. Only a success (2xx) is
// stored and replayed, and the service stored it with the change: the
// client gets exactly the stored bytes, as a retry will. Every error
// response of Parley means the request changed nothing (a failed operation
// leaves the store as before), so the key is released and a retry, perhaps
// corrected, runs again: a transient conflict or a malformed request is
// not replayed for a day. A success whose response the service did not
// store (a route that does not use answerWith and service.answer: a bug)
// is stored now, in a transaction of its own, and logged.
func (s *server) settleIdempotent(ctx context.Context, r *http.Request, claim *service.IdempotencyClaim, rec *captureWriter) {
	status := rec.statusCode()
	if status >= http.StatusMultipleChoices {
		if err := s.svc.ReleaseIdempotent(ctx, claim); err != nil {
			s.log.ErrorContext(ctx, "releasing an idempotency key", "org", orgOf(r), "requestId", infoOf(r).id, "err", err)
		}
		return
	}
	if stored := claim.Stored(); stored != nil {
		rec.status, rec.body = stored.Status, *bytes.NewBuffer(stored.Body)
		return
	}
	s.log.ErrorContext(ctx, "an idempotent route did not store its response with its change; storing it now",
		"method", r.Method, "path", r.URL.Path, "requestId", infoOf(r).id)
	if err := s.svc.FinishIdempotent(ctx, claim, status, rec.body.Bytes()); err != nil {
		s.log.ErrorContext(ctx, "storing an idempotent response; the key stays in progress",
			"org", orgOf(r), "status", status, "requestId", infoOf(r).id, "err", err)
	}
}

// answerWith returns the function that writes a route's success response:
// view(result) as JSON with status. For a request holding an
// Idempotency-Key it also gives the claim the same rendering, so that the
// service stores the response inside the transaction of the change
// (service.IdempotencyClaim). Call it before the service method, and
// answer with the value the method returns.
func answerWith[T, V any](r *http.Request, status int, view func(T) V) func(http.ResponseWriter, T) error {
	return answerWithStatus(r, func(T) int { return status }, view)
}

// answerWithStatus is answerWith for a route whose success status depends
// on the result.
func answerWithStatus[T, V any](r *http.Request, status func(T) int, view func(T) V) func(http.ResponseWriter, T) error {
	if claim := service.IdempotencyClaimOf(r.Context()); claim != nil {
		claim.SetResponder(func(result any) (int, []byte, error) {
			t, ok := result.(T)
			if !ok {
				return 0, nil, fmt.Errorf("the route renders a %T, the service answered a %T", t, result)
			}
			body, err := json.Marshal(view(t))
			return status(t), body, err
		})
	}
	return func(w http.ResponseWriter, result T) error { return writeJSON(w, status(result), view(result)) }
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
