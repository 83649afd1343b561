package client

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestErrors checks how error responses become *Error values; the API
// itself is exercised through this client by the httpapi tests.
func TestErrors(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
		body        string
		want        Error
	}{
		{"problem", "application/problem+json",
			`{"type":"https://parley.dev/problems/identifier_taken","title":"Identifier taken","status":409,"detail":"held","code":"identifier_taken","details":{"holderCustomerId":"cus_1"}}`,
			Error{Status: 409, Type: "https://parley.dev/problems/identifier_taken", Title: "Identifier taken", Code: "identifier_taken", Detail: "held"}},
		{"proxy page", "text/html", "<html>bad gateway</html>", Error{Status: 409, Detail: "<html>bad gateway</html>"}},
		{"empty body", "", "", Error{Status: 409, Detail: "Conflict"}},
		{"json without code", "application/json", `{"message":"x"}`, Error{Status: 409, Detail: `{"message":"x"}`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Authorization") != "Bearer pk_test" || r.Header.Get("Idempotency-Key") != "k1" {
					t.Errorf("headers = %v", r.Header)
				}
				if tc.contentType != "" {
					w.Header().Set("Content-Type", tc.contentType)
				}
				w.WriteHeader(http.StatusConflict)
				w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			_, err := New(srv.URL+"/", "pk_test").CreateApp(t.Context(), CreateAppRequest{Name: "x", IdempotencyKey: "k1"})
			var got *Error
			if !errors.As(err, &got) {
				t.Fatalf("error = %v (%T), want *Error", err, err)
			}
			if got.Status != tc.want.Status || got.Code != tc.want.Code || got.Detail != tc.want.Detail ||
				got.Type != tc.want.Type || got.Title != tc.want.Title {
				t.Fatalf("error = %+v, want %+v", got, tc.want)
			}
			if Code(err) != tc.want.Code {
				t.Fatalf("Code = %q, want %q", Code(err), tc.want.Code)
			}
			if tc.want.Code == "identifier_taken" && got.Details["holderCustomerId"] != "cus_1" {
				t.Fatalf("details = %v", got.Details)
			}
		})
	}
}
