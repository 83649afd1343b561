-- Webhook endpoints, their deliveries and the log of delivery attempts
-- (issue 11); mirrors sqlite/migrations/00007_webhooks.sql. Deliveries are
-- made by the statement that appends an event (postgres/webhooks.go) and
-- carry their own copy of it, so event retention never loses a pending
-- delivery.

-- +goose Up
CREATE TABLE webhook_endpoints (
    id                    text        PRIMARY KEY,
    org_id                text        NOT NULL REFERENCES orgs (id),
    url                   text        NOT NULL,
    description           text        NOT NULL,
    event_types           text[]      NOT NULL, -- empty for every type
    enabled               boolean     NOT NULL,
    disabled_reason       text        NOT NULL,
    secret                text        NOT NULL,
    previous_secret       text        NOT NULL,
    previous_secret_until timestamptz,
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL
);
CREATE INDEX webhook_endpoints_org ON webhook_endpoints (org_id, created_at);

-- A row while the endpoint has failed since its last success.
CREATE TABLE webhook_endpoint_health (
    endpoint_id   text        PRIMARY KEY REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    failing_since timestamptz NOT NULL
);

CREATE TABLE webhook_deliveries (
    endpoint_id      text        NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_seq        bigint      NOT NULL,
    org_id           text        NOT NULL,
    event_type       text        NOT NULL,
    subject          text        NOT NULL,
    payload          json        NOT NULL,
    event_created_at timestamptz NOT NULL,
    state            text        NOT NULL, -- pending, delivered or failed
    attempts         integer     NOT NULL,
    next_attempt_at  timestamptz NOT NULL,
    lease            text        NOT NULL,
    first_attempt_at timestamptz,
    last_status      integer     NOT NULL,
    last_error       text        NOT NULL,
    delivered_at     timestamptz,
    PRIMARY KEY (endpoint_id, event_seq)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_failed ON webhook_deliveries (endpoint_id, event_created_at) WHERE state = 'failed';

CREATE TABLE webhook_attempts (
    seq              bigserial   PRIMARY KEY,
    endpoint_id      text        NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    org_id           text        NOT NULL,
    event_seq        bigint      NOT NULL,
    attempt          integer     NOT NULL,
    started_at       timestamptz NOT NULL,
    latency_us       bigint      NOT NULL,
    status           integer     NOT NULL,
    error            text        NOT NULL,
    response_excerpt text        NOT NULL
);
CREATE INDEX webhook_attempts_endpoint ON webhook_attempts (endpoint_id, seq);
CREATE INDEX webhook_attempts_event ON webhook_attempts (endpoint_id, event_seq, seq);

-- +goose Down
DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_endpoint_health;
DROP TABLE webhook_endpoints;
