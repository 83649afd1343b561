-- Parley schema, version 3: the identifier timeline, the customers list and
-- the event feed's filters (issue #9).

-- +goose Up
-- GET /v1/customers: newest first, with a keyset cursor.
CREATE INDEX customers_created ON customers (org_id, created_at DESC, id DESC);

-- What an event is about, read from its payload: "customerId" and
-- "conversationId" (a conversation.* event is also about its subject).
-- Generated columns, so every writer of events takes part by naming them in
-- the payload, and GET /v1/events?customerId=... finds the events of the
-- customer's conversations too.
ALTER TABLE events ADD COLUMN customer_id TEXT
    GENERATED ALWAYS AS (NULLIF(json_extract(payload, '$.customerId'), '')) VIRTUAL;
ALTER TABLE events ADD COLUMN conversation_id TEXT
    GENERATED ALWAYS AS (NULLIF(COALESCE(json_extract(payload, '$.conversationId'),
        CASE WHEN substr(type, 1, 13) = 'conversation.' THEN subject END), '')) VIRTUAL;
CREATE INDEX events_customer ON events (org_id, customer_id, seq) WHERE customer_id IS NOT NULL;
CREATE INDEX events_conversation ON events (org_id, conversation_id, seq) WHERE conversation_id IS NOT NULL;
CREATE INDEX events_type ON events (org_id, type, seq);

-- +goose Down
DROP INDEX events_type;
DROP INDEX events_conversation;
DROP INDEX events_customer;
ALTER TABLE events DROP COLUMN conversation_id;
ALTER TABLE events DROP COLUMN customer_id;
DROP INDEX customers_created;
