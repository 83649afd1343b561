-- Parley schema, version 3 (PostgreSQL), mirroring sqlite/migrations: the
-- identifier timeline, the customers list and the event feed's filters
-- (issue #9).

-- +goose Up
-- GET /v1/customers: newest first, with a keyset cursor.
CREATE INDEX customers_created ON customers (org_id, created_at DESC, id DESC);

-- GET /v1/identifiers/{identifier}/holders: one identifier's intervals in
-- order, with a keyset cursor.
CREATE INDEX identifier_intervals_timeline ON identifier_intervals (org_id, identifier, valid_from, id);

-- What an event is about, read from its payload: "customerId" and
-- "conversationId" (a conversation.* event is also about its subject).
-- Generated columns, so every writer of events takes part by naming them in
-- the payload, and GET /v1/events?customerId=... finds the events of the
-- customer's conversations too.
ALTER TABLE events
    ADD COLUMN customer_id text
        GENERATED ALWAYS AS (NULLIF(payload ->> 'customerId', '')) STORED,
    ADD COLUMN conversation_id text
        GENERATED ALWAYS AS (NULLIF(COALESCE(payload ->> 'conversationId',
            CASE WHEN left(type, 13) = 'conversation.' THEN subject END), '')) STORED;
CREATE INDEX events_customer ON events (org_id, customer_id, seq) WHERE customer_id IS NOT NULL;
CREATE INDEX events_conversation ON events (org_id, conversation_id, seq) WHERE conversation_id IS NOT NULL;
CREATE INDEX events_type ON events (org_id, type, seq);

-- +goose Down
DROP INDEX events_type;
DROP INDEX events_conversation;
DROP INDEX events_customer;
ALTER TABLE events DROP COLUMN conversation_id, DROP COLUMN customer_id;
DROP INDEX identifier_intervals_timeline;
DROP INDEX customers_created;
