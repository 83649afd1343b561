-- Performance (#10): the indexes retention deletes by (oldest rows first,
-- across orgs).

-- +goose Up
CREATE INDEX operation_runs_started ON operation_runs (started_at);
CREATE INDEX events_created ON events (created_at);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- +goose Down
DROP INDEX idempotency_keys_created;
DROP INDEX events_created;
DROP INDEX operation_runs_started;
