package domain

// WebhookTx holds the Tx methods for webhook endpoints, deliveries and their attempts.
type WebhookTx interface{}
