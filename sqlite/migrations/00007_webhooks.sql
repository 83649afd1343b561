-- Webhook endpoints, their deliveries and the log of delivery attempts
-- (issue 11). Deliveries are made by the statement that appends an event
-- (sqlite/webhooks.go) and carry their own copy of it, so event retention
-- never loses a pending delivery.

-- +goose Up
CREATE TABLE webhook_endpoints (
    id                    TEXT    PRIMARY KEY,
    org_id                TEXT    NOT NULL REFERENCES orgs (id),
    url                   TEXT    NOT NULL,
    description           TEXT    NOT NULL,
    event_types           TEXT    NOT NULL, -- JSON array of types; [] for every type
    enabled               INTEGER NOT NULL,
    disabled_reason       TEXT    NOT NULL,
    secret                TEXT    NOT NULL,
    previous_secret       TEXT    NOT NULL,
    previous_secret_until INTEGER,
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL
);
CREATE INDEX webhook_endpoints_org ON webhook_endpoints (org_id, created_at);

-- A row while the endpoint has failed since its last success.
CREATE TABLE webhook_endpoint_health (
    endpoint_id   TEXT    PRIMARY KEY REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    failing_since INTEGER NOT NULL
);

CREATE TABLE webhook_deliveries (
    endpoint_id      TEXT    NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_seq        INTEGER NOT NULL,
    org_id           TEXT    NOT NULL,
    event_type       TEXT    NOT NULL,
    subject          TEXT    NOT NULL,
    payload          TEXT    NOT NULL,
    event_created_at INTEGER NOT NULL,
    state            TEXT    NOT NULL, -- pending, delivered or failed
    attempts         INTEGER NOT NULL,
    next_attempt_at  INTEGER NOT NULL,
    lease            TEXT    NOT NULL,
    first_attempt_at INTEGER,
    last_status      INTEGER NOT NULL,
    last_error       TEXT    NOT NULL,
    delivered_at     INTEGER,
    PRIMARY KEY (endpoint_id, event_seq)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_failed ON webhook_deliveries (endpoint_id, event_created_at) WHERE state = 'failed';

CREATE TABLE webhook_attempts (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint_id      TEXT    NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    org_id           TEXT    NOT NULL,
    event_seq        INTEGER NOT NULL,
    attempt          INTEGER NOT NULL,
    started_at       INTEGER NOT NULL,
    latency_us       INTEGER NOT NULL,
    status           INTEGER NOT NULL,
    error            TEXT    NOT NULL,
    response_excerpt TEXT    NOT NULL
);
CREATE INDEX webhook_attempts_endpoint ON webhook_attempts (endpoint_id, seq);
CREATE INDEX webhook_attempts_event ON webhook_attempts (endpoint_id, event_seq, seq);

-- +goose Down
DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_endpoint_health;
DROP TABLE webhook_endpoints;
