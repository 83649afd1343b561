// Command webhook-receiver is a minimal webhook endpoint for trying
// Parley's webhooks: it verifies each delivery's Standard Webhooks
// signature with the secret in PARLEY_WEBHOOK_SECRET and prints the event.
//
//	PARLEY_WEBHOOK_SECRET=whsec_... go run ./examples/webhook-receiver -addr 127.0.0.1:9000
package main

import (
	"flag"
	"io"
	"log"
	"net/http"
	"os"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9000", "address to listen on")
	flag.Parse()
	wh, err := standardwebhooks.NewWebhook(os.Getenv("PARLEY_WEBHOOK_SECRET"))
	if err != nil {
		log.Fatalf("PARLEY_WEBHOOK_SECRET: %v", err)
	}
	http.HandleFunc("POST /", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "unreadable body", http.StatusBadRequest)
			return
		}
		if err := wh.Verify(body, r.Header); err != nil {
			log.Printf("refused %s: %v", r.Header.Get("webhook-id"), err)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		log.Printf("verified %s: %s", r.Header.Get("webhook-id"), body)
		w.WriteHeader(http.StatusNoContent)
	})
	log.Printf("listening on http://%s", *addr)
	log.Fatal(http.ListenAndServe(*addr, nil))
}
