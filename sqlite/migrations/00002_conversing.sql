-- Parley schema, version 2: conversations that converse. Messages are
-- numbered per conversation and carry their author and the sender's client
-- id; channel resources are bound to what they talk to; routes send a
-- destination's inbound messages to its conversation.

-- +goose Up
ALTER TABLE conversations ADD COLUMN last_seq INTEGER NOT NULL DEFAULT 0;

ALTER TABLE messages ADD COLUMN resource_id TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN conversation_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN author TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN client_id TEXT;

UPDATE messages SET
    resource_id = (SELECT c.resource_id FROM conversations c WHERE c.id = messages.conversation_id),
    author = CASE direction WHEN 'inbound' THEN 'customer' ELSE 'operator' END;
UPDATE messages SET conversation_seq = numbered.n
FROM (SELECT seq, row_number() OVER (PARTITION BY conversation_id ORDER BY seq) AS n FROM messages) AS numbered
WHERE messages.seq = numbered.seq;
UPDATE conversations SET last_seq = (SELECT count(*) FROM messages m WHERE m.conversation_id = conversations.id);

DROP INDEX messages_conversation;
-- Messages of a conversation in order; also what makes Seq unique.
CREATE UNIQUE INDEX messages_conversation ON messages (org_id, conversation_id, conversation_seq);
-- A client id is stored once per resource.
CREATE UNIQUE INDEX messages_client ON messages (org_id, resource_id, client_id) WHERE client_id IS NOT NULL;

ALTER TABLE channel_resources ADD COLUMN deployment_id TEXT REFERENCES deployments (id);
ALTER TABLE channel_resources ADD COLUMN app_id TEXT REFERENCES apps (id);
ALTER TABLE channel_resources ADD COLUMN environment TEXT NOT NULL DEFAULT '';
ALTER TABLE channel_resources ADD COLUMN identify_by TEXT NOT NULL DEFAULT 'none';

CREATE TABLE conversation_routes (
    org_id          TEXT    NOT NULL,
    resource_id     TEXT    NOT NULL,
    destination     TEXT    NOT NULL,
    conversation_id TEXT    NOT NULL REFERENCES conversations (id),
    PRIMARY KEY (org_id, resource_id, destination)
);
-- Every destination's newest conversation receives its messages.
INSERT INTO conversation_routes (org_id, resource_id, destination, conversation_id)
SELECT org_id, resource_id, customer_destination, id FROM (
    SELECT org_id, resource_id, customer_destination, id,
           row_number() OVER (PARTITION BY org_id, resource_id, customer_destination
                              ORDER BY started_at DESC, id DESC) AS n
    FROM conversations
) WHERE n = 1;

-- +goose Down
DROP TABLE conversation_routes;
DROP INDEX messages_client;
DROP INDEX messages_conversation;
CREATE INDEX messages_conversation ON messages (org_id, conversation_id);
ALTER TABLE channel_resources DROP COLUMN identify_by;
ALTER TABLE channel_resources DROP COLUMN environment;
ALTER TABLE channel_resources DROP COLUMN app_id;
ALTER TABLE channel_resources DROP COLUMN deployment_id;
ALTER TABLE messages DROP COLUMN client_id;
ALTER TABLE messages DROP COLUMN author;
ALTER TABLE messages DROP COLUMN conversation_seq;
ALTER TABLE messages DROP COLUMN resource_id;
ALTER TABLE conversations DROP COLUMN last_seq;
