-- Parley schema, version 5: bot turns. Every turn of a conversation's bot
-- is recorded with its outcome, the bot's wait state after it (the ask step
-- it waits at, so a waiting conversation resumes on any server) and its
-- trace.

-- +goose Up
CREATE TABLE turns (
    id              text    PRIMARY KEY,
    org_id          text    NOT NULL,
    conversation_id text    NOT NULL REFERENCES conversations (id),
    number          bigint  NOT NULL,
    trigger_name    text    NOT NULL,
    message_id      text    NOT NULL,
    version_id      text    NOT NULL,
    outcome         text    NOT NULL,
    error_code      text    NOT NULL,
    error_message   text    NOT NULL,
    wait_step       text    NOT NULL,
    wait_attempts   bigint  NOT NULL,
    trace           json    NOT NULL,
    started_at      timestamptz NOT NULL,
    duration_us     bigint  NOT NULL
);
-- A conversation's turns in order; the newest holds the wait state.
CREATE UNIQUE INDEX turns_conversation ON turns (org_id, conversation_id, number);

-- +goose Down
DROP TABLE turns;
