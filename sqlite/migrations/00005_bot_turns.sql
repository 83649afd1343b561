-- Parley schema, version 5: bot turns. Every turn of a conversation's bot
-- is recorded with its outcome, the bot's wait state after it (the ask step
-- it waits at, so a waiting conversation resumes on any server) and its
-- trace.

-- +goose Up
CREATE TABLE turns (
    id              TEXT    PRIMARY KEY,
    org_id          TEXT    NOT NULL,
    conversation_id TEXT    NOT NULL REFERENCES conversations (id),
    number          INTEGER NOT NULL,
    trigger_name    TEXT    NOT NULL,
    message_id      TEXT    NOT NULL,
    version_id      TEXT    NOT NULL,
    outcome         TEXT    NOT NULL,
    error_code      TEXT    NOT NULL,
    error_message   TEXT    NOT NULL,
    wait_step       TEXT    NOT NULL,
    wait_attempts   INTEGER NOT NULL,
    trace           TEXT    NOT NULL,
    started_at      INTEGER NOT NULL,
    duration_us     INTEGER NOT NULL
);
-- A conversation's turns in order; the newest holds the wait state.
CREATE UNIQUE INDEX turns_conversation ON turns (org_id, conversation_id, number);

-- +goose Down
DROP TABLE turns;
