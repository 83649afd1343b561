-- Parley schema (console, #12; PostgreSQL), mirroring sqlite/migrations:
-- operator console sessions, and indexes for the run log as the console
-- filters it.

-- +goose Up
CREATE TABLE console_sessions (
    token_hash bytea       PRIMARY KEY,
    org_id     text        NOT NULL REFERENCES orgs (id),
    api_key_id text        NOT NULL REFERENCES api_keys (id),
    csrf_token text        NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX console_sessions_key ON console_sessions (org_id, api_key_id);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);

CREATE INDEX operation_runs_session ON operation_runs (org_id, session_id, seq) WHERE session_id <> '';
CREATE INDEX operation_runs_name ON operation_runs (org_id, name, seq);
CREATE INDEX operation_runs_error ON operation_runs (org_id, error_code, seq) WHERE error_code <> '';

-- +goose Down
DROP INDEX operation_runs_error;
DROP INDEX operation_runs_name;
DROP INDEX operation_runs_session;
DROP TABLE console_sessions;
