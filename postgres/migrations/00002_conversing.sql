-- Parley schema, version 2 (PostgreSQL), mirroring sqlite/migrations:
-- messages are numbered per conversation and carry their author and the
-- sender's client id; channel resources are bound to what they talk to;
-- routes send a destination's inbound messages to its conversation.

-- +goose Up
ALTER TABLE conversations ADD COLUMN last_seq bigint NOT NULL DEFAULT 0;

ALTER TABLE messages ADD COLUMN resource_id text NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN conversation_seq bigint NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN author text NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN client_id text;

UPDATE messages m SET resource_id = c.resource_id,
    author = CASE m.direction WHEN 'inbound' THEN 'customer' ELSE 'operator' END
FROM conversations c WHERE c.id = m.conversation_id;
UPDATE messages m SET conversation_seq = numbered.n
FROM (SELECT seq, row_number() OVER (PARTITION BY conversation_id ORDER BY seq) AS n FROM messages) AS numbered
WHERE m.seq = numbered.seq;
UPDATE conversations c SET last_seq = counted.n
FROM (SELECT conversation_id, count(*) AS n FROM messages GROUP BY conversation_id) AS counted
WHERE c.id = counted.conversation_id;

DROP INDEX messages_conversation;
-- Messages of a conversation in order; also what makes Seq unique.
CREATE UNIQUE INDEX messages_conversation ON messages (org_id, conversation_id, conversation_seq);
-- A client id is stored once per resource.
CREATE UNIQUE INDEX messages_client ON messages (org_id, resource_id, client_id) WHERE client_id IS NOT NULL;

ALTER TABLE channel_resources ADD COLUMN deployment_id text REFERENCES deployments (id);
ALTER TABLE channel_resources ADD COLUMN app_id text REFERENCES apps (id);
ALTER TABLE channel_resources ADD COLUMN environment text NOT NULL DEFAULT '';
ALTER TABLE channel_resources ADD COLUMN identify_by text NOT NULL DEFAULT 'none';

CREATE TABLE conversation_routes (
    org_id          text NOT NULL,
    resource_id     text NOT NULL,
    destination     text NOT NULL,
    conversation_id text NOT NULL REFERENCES conversations (id),
    PRIMARY KEY (org_id, resource_id, destination)
);
-- Every destination's newest conversation receives its messages.
INSERT INTO conversation_routes (org_id, resource_id, destination, conversation_id)
SELECT DISTINCT ON (org_id, resource_id, customer_destination) org_id, resource_id, customer_destination, id
FROM conversations ORDER BY org_id, resource_id, customer_destination, started_at DESC, id DESC;

-- +goose Down
DROP TABLE conversation_routes;
DROP INDEX messages_client;
DROP INDEX messages_conversation;
CREATE INDEX messages_conversation ON messages (org_id, conversation_id, seq);
ALTER TABLE channel_resources DROP COLUMN identify_by;
ALTER TABLE channel_resources DROP COLUMN environment;
ALTER TABLE channel_resources DROP COLUMN app_id;
ALTER TABLE channel_resources DROP COLUMN deployment_id;
ALTER TABLE messages DROP COLUMN client_id;
ALTER TABLE messages DROP COLUMN author;
ALTER TABLE messages DROP COLUMN conversation_seq;
ALTER TABLE messages DROP COLUMN resource_id;
ALTER TABLE conversations DROP COLUMN last_seq;
