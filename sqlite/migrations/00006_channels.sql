-- Channels (issue #8): channel resource secrets and web chat origins, the
-- SMS outbox and SMS opt-outs. Mirrors postgres/migrations/00006.

-- +goose Up
-- Write-only secrets (web chat signing secret, Twilio credentials). The
-- previous value of a rotated secret verifies until previous_until.
CREATE TABLE channel_secrets (
    org_id         TEXT    NOT NULL,
    resource_id    TEXT    NOT NULL REFERENCES channel_resources (id),
    name           TEXT    NOT NULL,
    value          TEXT    NOT NULL,
    previous_value TEXT    NOT NULL DEFAULT '',
    previous_until INTEGER,
    updated_at     INTEGER NOT NULL,
    PRIMARY KEY (resource_id, name)
);

CREATE TABLE channel_origins (
    org_id          TEXT NOT NULL,
    resource_id     TEXT NOT NULL PRIMARY KEY REFERENCES channel_resources (id),
    allowed_origins TEXT NOT NULL -- JSON array of origins
);

CREATE TABLE sms_outbox (
    message_id      TEXT    PRIMARY KEY,
    org_id          TEXT    NOT NULL,
    conversation_id TEXT    NOT NULL,
    resource_id     TEXT    NOT NULL,
    from_number     TEXT    NOT NULL,
    to_number       TEXT    NOT NULL,
    body            TEXT    NOT NULL,
    state           TEXT    NOT NULL, -- pending, sending, accepted, unknown, failed, opted_out
    status          TEXT    NOT NULL DEFAULT '',
    provider_id     TEXT    NOT NULL DEFAULT '',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_until     INTEGER,
    claim           TEXT    NOT NULL DEFAULT '',
    error_code      TEXT    NOT NULL DEFAULT '',
    error_message   TEXT    NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
-- The worker's two queues: due messages and claims whose lease ran out.
CREATE INDEX sms_outbox_due ON sms_outbox (next_attempt_at) WHERE state = 'pending';
CREATE INDEX sms_outbox_leases ON sms_outbox (lease_until) WHERE state = 'sending';
CREATE INDEX sms_outbox_provider ON sms_outbox (org_id, resource_id, provider_id) WHERE provider_id <> '';

CREATE TABLE sms_opt_outs (
    org_id      TEXT    NOT NULL,
    resource_id TEXT    NOT NULL,
    destination TEXT    NOT NULL,
    opted_out   INTEGER NOT NULL, -- 1 after STOP, 0 after START
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (resource_id, destination)
);

-- +goose Down
DROP TABLE sms_opt_outs;
DROP TABLE sms_outbox;
DROP TABLE channel_origins;
DROP TABLE channel_secrets;
