-- Parley schema, version 1 (PostgreSQL). It mirrors sqlite/migrations:
-- same tables, columns, constraints and indexes.
--
-- Conventions: every table carries org_id and every query filters by it;
-- times are timestamptz (microsecond precision); JSON documents are json,
-- not jsonb: Parley never queries inside them, and json keeps any valid
-- document, while jsonb rejects the escape \u0000 that recorded user input
-- (an invalid identifier with a NUL) can carry;
-- an optional value whose absence matters to a UNIQUE index, a foreign key
-- or a partial index (a customer's identifier, a conversation's deployment
-- or external id) is NULL when absent. seq columns are bigserial.

-- +goose Up
CREATE TABLE orgs (
    id            text PRIMARY KEY,
    name          text NOT NULL,
    license_token text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL
);

CREATE TABLE api_keys (
    id         text PRIMARY KEY,
    org_id     text NOT NULL REFERENCES orgs (id),
    name       text NOT NULL,
    scope      text NOT NULL, -- admin or runtime
    prefix     text NOT NULL,
    hash       bytea NOT NULL UNIQUE,
    created_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE INDEX api_keys_org ON api_keys (org_id, created_at);

CREATE TABLE apps (
    id         text PRIMARY KEY,
    org_id     text NOT NULL REFERENCES orgs (id),
    name       text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX apps_org ON apps (org_id, created_at);

CREATE TABLE app_versions (
    id         text PRIMARY KEY,
    org_id     text NOT NULL,
    app_id     text NOT NULL REFERENCES apps (id),
    number     integer NOT NULL,
    definition json NOT NULL,
    created_at timestamptz NOT NULL,
    UNIQUE (app_id, number)
);

CREATE TABLE deployments (
    id           text PRIMARY KEY,
    org_id       text NOT NULL,
    app_id       text NOT NULL REFERENCES apps (id),
    version_id   text NOT NULL REFERENCES app_versions (id),
    environment  text NOT NULL,
    published_at timestamptz NOT NULL,
    replaced_at  timestamptz
);
-- At most one active deployment per (app, environment).
CREATE UNIQUE INDEX deployments_active ON deployments (app_id, environment) WHERE replaced_at IS NULL;
CREATE INDEX deployments_app ON deployments (app_id, published_at);

CREATE TABLE channel_resources (
    id         text PRIMARY KEY,
    org_id     text NOT NULL,
    kind       text NOT NULL,
    name       text NOT NULL,
    address    text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX channel_resources_org ON channel_resources (org_id, created_at);

CREATE TABLE customers (
    id               text PRIMARY KEY,
    org_id           text NOT NULL,
    identifier       text,
    identifier_since timestamptz,
    created_at       timestamptz NOT NULL
);
-- At most one customer per org holds an identifier.
CREATE UNIQUE INDEX customers_identifier ON customers (org_id, identifier) WHERE identifier IS NOT NULL;

CREATE TABLE identifier_intervals (
    id          bigserial PRIMARY KEY,
    org_id      text NOT NULL,
    customer_id text NOT NULL REFERENCES customers (id),
    identifier  text NOT NULL,
    valid_from  timestamptz NOT NULL,
    valid_to    timestamptz
);
-- At most one current interval per (org, identifier).
CREATE UNIQUE INDEX identifier_intervals_current ON identifier_intervals (org_id, identifier) WHERE valid_to IS NULL;
-- Covers LatestInterval and IntervalAt.
CREATE INDEX identifier_intervals_identifier ON identifier_intervals (org_id, identifier, valid_from, valid_to, customer_id);
CREATE INDEX identifier_intervals_customer ON identifier_intervals (org_id, customer_id, valid_from);

CREATE TABLE conversations (
    id                   text PRIMARY KEY,
    org_id               text NOT NULL,
    deployment_id        text REFERENCES deployments (id),
    preview_version_id   text REFERENCES app_versions (id),
    app_id               text NOT NULL,
    resource_id          text NOT NULL REFERENCES channel_resources (id),
    customer_id          text NOT NULL REFERENCES customers (id),
    session_id           text NOT NULL,
    status               text NOT NULL,
    customer_destination text NOT NULL,
    external_id          text,
    identifier_at_start  text NOT NULL,
    started_at           timestamptz NOT NULL,
    closed_at            timestamptz
);
-- Newest first per customer and per org.
CREATE INDEX conversations_customer ON conversations (org_id, customer_id, started_at DESC, id DESC);
CREATE INDEX conversations_started ON conversations (org_id, started_at DESC, id DESC);
-- ListConversations filters.
CREATE INDEX conversations_deployment ON conversations (org_id, deployment_id, started_at DESC, id DESC) WHERE deployment_id IS NOT NULL;
CREATE INDEX conversations_resource ON conversations (org_id, resource_id, started_at DESC, id DESC);
CREATE INDEX conversations_external ON conversations (org_id, external_id, started_at DESC, id DESC) WHERE external_id IS NOT NULL;

CREATE TABLE sessions (
    id              text PRIMARY KEY,
    org_id          text NOT NULL,
    conversation_id text NOT NULL,
    variables       json NOT NULL,
    updated_at      timestamptz NOT NULL
);

CREATE TABLE messages (
    seq             bigserial PRIMARY KEY,
    id              text NOT NULL UNIQUE,
    org_id          text NOT NULL,
    conversation_id text NOT NULL REFERENCES conversations (id),
    direction       text NOT NULL,
    text            text NOT NULL,
    created_at      timestamptz NOT NULL
);
-- Messages of a conversation in order.
CREATE INDEX messages_conversation ON messages (org_id, conversation_id, seq);

CREATE TABLE operation_runs (
    seq           bigserial PRIMARY KEY,
    id            text NOT NULL UNIQUE,
    org_id        text NOT NULL,
    kind          text NOT NULL,
    name          text NOT NULL,
    session_id    text NOT NULL,
    inputs        json NOT NULL,
    variable      text NOT NULL,
    output        json NOT NULL,
    error_code    text NOT NULL,
    error_message text NOT NULL,
    duration_us   bigint NOT NULL,
    started_at    timestamptz NOT NULL
);
-- An org's runs in order.
CREATE INDEX operation_runs_org ON operation_runs (org_id, seq);

CREATE TABLE events (
    seq        bigserial PRIMARY KEY,
    org_id     text NOT NULL,
    type       text NOT NULL,
    subject    text NOT NULL,
    payload    json NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX events_org ON events (org_id, seq);

CREATE TABLE idempotency_keys (
    org_id       text NOT NULL,
    key          text NOT NULL,
    request_hash text NOT NULL,
    status       integer NOT NULL,
    body         bytea,
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (org_id, key)
);

-- +goose Down
DROP TABLE idempotency_keys;
DROP TABLE events;
DROP TABLE operation_runs;
DROP TABLE messages;
DROP TABLE sessions;
DROP TABLE conversations;
DROP TABLE identifier_intervals;
DROP TABLE customers;
DROP TABLE channel_resources;
DROP TABLE deployments;
DROP TABLE app_versions;
DROP TABLE apps;
DROP TABLE api_keys;
DROP TABLE orgs;
