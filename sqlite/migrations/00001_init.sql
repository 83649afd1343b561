-- Parley schema, version 1.
--
-- Conventions: every table carries org_id and every query filters by it;
-- times are INTEGER unix microseconds (UTC); JSON documents are TEXT; an
-- optional value whose absence matters to a UNIQUE index or a foreign key
-- (a customer's identifier, a conversation's deployment) is NULL when absent.

-- +goose Up
CREATE TABLE orgs (
    id            TEXT    PRIMARY KEY,
    name          TEXT    NOT NULL,
    license_token TEXT    NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL
);

CREATE TABLE api_keys (
    id         TEXT    PRIMARY KEY,
    org_id     TEXT    NOT NULL REFERENCES orgs (id),
    name       TEXT    NOT NULL,
    scope      TEXT    NOT NULL, -- admin or runtime
    prefix     TEXT    NOT NULL,
    hash       BLOB    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX api_keys_org ON api_keys (org_id, created_at, id);

CREATE TABLE apps (
    id         TEXT    PRIMARY KEY,
    org_id     TEXT    NOT NULL REFERENCES orgs (id),
    name       TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX apps_org ON apps (org_id, created_at, id);

CREATE TABLE app_versions (
    id         TEXT    PRIMARY KEY,
    org_id     TEXT    NOT NULL,
    app_id     TEXT    NOT NULL REFERENCES apps (id),
    number     INTEGER NOT NULL,
    definition TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (app_id, number)
);

CREATE TABLE deployments (
    id           TEXT    PRIMARY KEY,
    org_id       TEXT    NOT NULL,
    app_id       TEXT    NOT NULL REFERENCES apps (id),
    version_id   TEXT    NOT NULL REFERENCES app_versions (id),
    environment  TEXT    NOT NULL,
    published_at INTEGER NOT NULL,
    replaced_at  INTEGER
);
-- At most one active deployment per (app, environment).
CREATE UNIQUE INDEX deployments_active ON deployments (app_id, environment) WHERE replaced_at IS NULL;
CREATE INDEX deployments_app ON deployments (app_id, published_at, id);

CREATE TABLE channel_resources (
    id         TEXT    PRIMARY KEY,
    org_id     TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    address    TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX channel_resources_org ON channel_resources (org_id, created_at, id);

CREATE TABLE customers (
    id               TEXT    PRIMARY KEY,
    org_id           TEXT    NOT NULL,
    identifier       TEXT,
    identifier_since INTEGER,
    created_at       INTEGER NOT NULL
);
-- At most one customer per org holds an identifier.
CREATE UNIQUE INDEX customers_identifier ON customers (org_id, identifier) WHERE identifier IS NOT NULL;

CREATE TABLE identifier_intervals (
    id          INTEGER PRIMARY KEY,
    org_id      TEXT    NOT NULL,
    customer_id TEXT    NOT NULL REFERENCES customers (id),
    identifier  TEXT    NOT NULL,
    valid_from  INTEGER NOT NULL,
    valid_to    INTEGER
);
-- At most one current interval per (org, identifier).
CREATE UNIQUE INDEX identifier_intervals_current ON identifier_intervals (org_id, identifier) WHERE valid_to IS NULL;
-- Covers LatestInterval and IntervalAt: index-only, newest valid_from first,
-- ties (zero-length intervals) broken by insertion order.
CREATE INDEX identifier_intervals_identifier ON identifier_intervals (org_id, identifier, valid_from, id, customer_id, valid_to);
CREATE INDEX identifier_intervals_customer ON identifier_intervals (org_id, customer_id, valid_from);

CREATE TABLE conversations (
    id                   TEXT    PRIMARY KEY,
    org_id               TEXT    NOT NULL,
    deployment_id        TEXT    REFERENCES deployments (id),
    preview_version_id   TEXT    REFERENCES app_versions (id),
    app_id               TEXT    NOT NULL,
    resource_id          TEXT    NOT NULL REFERENCES channel_resources (id),
    customer_id          TEXT    NOT NULL REFERENCES customers (id),
    session_id           TEXT    NOT NULL,
    status               TEXT    NOT NULL,
    customer_destination TEXT    NOT NULL,
    external_id          TEXT,
    identifier_at_start  TEXT    NOT NULL,
    started_at           INTEGER NOT NULL,
    closed_at            INTEGER
);
-- Newest first per customer (CustomerConversationIDs is index-only) and per org.
CREATE INDEX conversations_customer ON conversations (org_id, customer_id, started_at DESC, id DESC);
CREATE INDEX conversations_started ON conversations (org_id, started_at DESC, id DESC);
-- ListConversations filters.
CREATE INDEX conversations_deployment ON conversations (org_id, deployment_id, started_at DESC, id DESC) WHERE deployment_id IS NOT NULL;
CREATE INDEX conversations_resource ON conversations (org_id, resource_id, started_at DESC, id DESC);
CREATE INDEX conversations_external ON conversations (org_id, external_id, started_at DESC, id DESC) WHERE external_id IS NOT NULL;

CREATE TABLE sessions (
    id              TEXT    PRIMARY KEY,
    org_id          TEXT    NOT NULL,
    conversation_id TEXT    NOT NULL,
    variables       TEXT    NOT NULL,
    updated_at      INTEGER NOT NULL
);

CREATE TABLE messages (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT    NOT NULL UNIQUE,
    org_id          TEXT    NOT NULL,
    conversation_id TEXT    NOT NULL REFERENCES conversations (id),
    direction       TEXT    NOT NULL,
    text            TEXT    NOT NULL,
    created_at      INTEGER NOT NULL
);
-- The index ends with the rowid (seq): messages of a conversation in order.
CREATE INDEX messages_conversation ON messages (org_id, conversation_id);

CREATE TABLE operation_runs (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    id            TEXT    NOT NULL UNIQUE,
    org_id        TEXT    NOT NULL,
    kind          TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    session_id    TEXT    NOT NULL,
    inputs        TEXT    NOT NULL,
    variable      TEXT    NOT NULL,
    output        TEXT    NOT NULL,
    error_code    TEXT    NOT NULL,
    error_message TEXT    NOT NULL,
    duration_us   INTEGER NOT NULL,
    started_at    INTEGER NOT NULL
);
-- The index ends with the rowid (seq): an org's runs in order.
CREATE INDEX operation_runs_org ON operation_runs (org_id);

CREATE TABLE events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id     TEXT    NOT NULL,
    type       TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    payload    TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX events_org ON events (org_id, seq);

CREATE TABLE idempotency_keys (
    org_id       TEXT    NOT NULL,
    key          TEXT    NOT NULL,
    request_hash TEXT    NOT NULL,
    status       INTEGER NOT NULL,
    body         BLOB,
    created_at   INTEGER NOT NULL,
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
