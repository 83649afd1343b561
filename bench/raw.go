package bench

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"

	"github.com/parleyhq/parley/domain"
)

// rawRecords returns what an update writes besides the identifier rows:
// the event's payload and the run record's values up to its duration
// (the caller appends the start), as the store writes them.
func rawRecords(org, customer, previous, identifier, conversation string) (event string, run []any, err error) {
	payload, err := json.Marshal(map[string]any{
		"customerId": customer, "previous": previous, "identifier": identifier, "conversationId": conversation,
	})
	if err != nil {
		return "", nil, err
	}
	inputs, err := json.Marshal(map[string]any{"conversationId": conversation, "customerIdentifier": identifier})
	if err != nil {
		return "", nil, err
	}
	b := make([]byte, 10)
	if _, err := rand.Read(b); err != nil {
		return "", nil, err
	}
	return string(payload), []any{"run_" + hex.EncodeToString(b), org, string(domain.KindDataOperation), OpUpdate, "",
		string(inputs), "customer-identifier", "true", "", "", 1}, nil
}
