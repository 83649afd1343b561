-- Parley schema (console, #12): operator console sessions, and indexes
-- for the run log as the console filters it.

-- +goose Up
CREATE TABLE console_sessions (
    token_hash BLOB    PRIMARY KEY,
    org_id     TEXT    NOT NULL REFERENCES orgs (id),
    api_key_id TEXT    NOT NULL REFERENCES api_keys (id),
    csrf_token TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX console_sessions_key ON console_sessions (org_id, api_key_id);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);

-- Each index ends with the rowid (seq): newest first within the filter.
CREATE INDEX operation_runs_session ON operation_runs (org_id, session_id) WHERE session_id <> '';
CREATE INDEX operation_runs_name ON operation_runs (org_id, name);
CREATE INDEX operation_runs_error ON operation_runs (org_id, error_code) WHERE error_code <> '';

-- +goose Down
DROP INDEX operation_runs_error;
DROP INDEX operation_runs_name;
DROP INDEX operation_runs_session;
DROP TABLE console_sessions;
