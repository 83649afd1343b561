package domain

// MaintenanceTx holds the Tx methods for retention: deleting expired runs, events and idempotency records.
type MaintenanceTx interface{}
