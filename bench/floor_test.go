package bench

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkHTTPFloor measures what an HTTP call costs on this machine
// before Parley does anything: 32 concurrent clients POST a find's JSON
// body with the client of parley bench (NewHTTPClient) to a handler that
// decodes it and answers a find's JSON result, in one process. Its
// throughput bounds every HTTP figure of docs/PERFORMANCE.md; compare it
// with the raw find of parley bench --customers (docs/PERFORMANCE.md,
// "Realistic data").
func BenchmarkHTTPFloor(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in map[string]any
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"operation": OpFind, "variable": "conversation-ids", "value": []string{"conv_01"}, "error": nil, "runId": "run_01",
		})
	}))
	defer srv.Close()
	c := NewHTTPClient(32)
	body := []byte(`{"inputs":{"customerIdentifier":"ext:customer-0000001"}}`)
	b.SetParallelism(16) // 32 clients on 2 cores, as parley bench's default
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, err := http.NewRequest(http.MethodPost, srv.URL+"/v1/data-operations/"+OpFind, bytes.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			req.Header.Set("Authorization", "Bearer pk_test")
			req.Header.Set("Content-Type", "application/json")
			res, err := c.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			var out map[string]any
			err = json.NewDecoder(res.Body).Decode(&out)
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if err != nil || res.StatusCode != http.StatusOK || out["operation"] != OpFind {
				b.Errorf("answer %d %v (%v)", res.StatusCode, out, err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
}
