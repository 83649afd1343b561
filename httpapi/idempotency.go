package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strconv"
)

// replayedHeader marks a response repeated for a retried request.
const replayedHeader = "Idempotent-Replayed"

// idempotent runs h for a request carrying an Idempotency-Key: a retry of a
// completed request gets the stored response again; a first request runs
// and its response is stored unless it is a server error (then the key is
// released so a retry runs again). Reusing a key for a different request
// answers 409 conflict.
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
	status := rec.statusCode()
	// The outcome is stored even if the client went away meanwhile.
	ctx := context.WithoutCancel(r.Context())
	if status < http.StatusInternalServerError {
		err = s.svc.FinishIdempotent(ctx, org, key, status, rec.body.Bytes())
	}
	if status >= http.StatusInternalServerError || err != nil {
		if err != nil {
			s.log.ErrorContext(ctx, "storing an idempotent response", "org", org, "err", err)
		}
		if err := s.svc.AbandonIdempotent(ctx, org, key); err != nil {
			s.log.ErrorContext(ctx, "releasing an idempotency key", "org", org, "err", err)
		}
	}
	rec.copyTo(w)
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
