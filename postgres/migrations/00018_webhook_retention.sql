-- Webhooks (issue 11), second migration: retention deletes finished
-- deliveries (and their attempts) once their event is older than the
-- retention period, oldest first. Mirrors sqlite/migrations/00018.

-- +goose Up
CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (event_created_at, endpoint_id, event_seq) WHERE state IN ('delivered', 'failed');

-- +goose Down
DROP INDEX webhook_deliveries_finished;
