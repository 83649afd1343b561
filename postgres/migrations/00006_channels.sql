-- Channels (issue #8): channel resource secrets and web chat origins, the
-- SMS outbox and SMS opt-outs. Mirrors sqlite/migrations/00006.

-- +goose Up
-- Write-only secrets (web chat signing secret, Twilio credentials). The
-- previous value of a rotated secret verifies until previous_until.
CREATE TABLE channel_secrets (
    org_id         text    NOT NULL,
    resource_id    text    NOT NULL REFERENCES channel_resources (id),
    name           text    NOT NULL,
    value          text    NOT NULL,
    previous_value text    NOT NULL DEFAULT '',
    previous_until timestamptz,
    updated_at     timestamptz NOT NULL,
    PRIMARY KEY (resource_id, name)
);

CREATE TABLE channel_origins (
    org_id          text NOT NULL,
    resource_id     text NOT NULL PRIMARY KEY REFERENCES channel_resources (id),
    allowed_origins json NOT NULL -- array of origins
);

CREATE TABLE sms_outbox (
    message_id      text    PRIMARY KEY,
    org_id          text    NOT NULL,
    conversation_id text    NOT NULL,
    resource_id     text    NOT NULL,
    from_number     text    NOT NULL,
    to_number       text    NOT NULL,
    body            text    NOT NULL,
    state           text    NOT NULL, -- pending, sending, accepted, unknown, failed, opted_out
    status          text    NOT NULL DEFAULT '',
    provider_id     text    NOT NULL DEFAULT '',
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    lease_until     timestamptz,
    claim           text    NOT NULL DEFAULT '',
    error_code      text    NOT NULL DEFAULT '',
    error_message   text    NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
-- The worker's two queues: due messages and claims whose lease ran out.
CREATE INDEX sms_outbox_due ON sms_outbox (next_attempt_at) WHERE state = 'pending';
CREATE INDEX sms_outbox_leases ON sms_outbox (lease_until) WHERE state = 'sending';
CREATE INDEX sms_outbox_provider ON sms_outbox (org_id, resource_id, provider_id) WHERE provider_id <> '';

CREATE TABLE sms_opt_outs (
    org_id      text    NOT NULL,
    resource_id text    NOT NULL,
    destination text    NOT NULL,
    opted_out   boolean NOT NULL, -- true after STOP, false after START
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (resource_id, destination)
);

-- +goose Down
DROP TABLE sms_opt_outs;
DROP TABLE sms_outbox;
DROP TABLE channel_origins;
DROP TABLE channel_secrets;
