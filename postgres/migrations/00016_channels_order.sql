-- Channels (issue #8), second migration: the SMS outbox sends one
-- conversation's messages in their order. Mirrors sqlite/migrations/00016.

-- +goose Up
-- The message's sequence number in its conversation (0 for rows queued
-- before this migration: they keep the order of their message ids).
ALTER TABLE sms_outbox ADD COLUMN seq bigint NOT NULL DEFAULT 0;
-- A message is claimed only when no earlier one of its conversation is
-- waiting or being sent.
CREATE INDEX sms_outbox_conversation ON sms_outbox (conversation_id, seq, message_id) WHERE state IN ('pending', 'sending');

-- +goose Down
DROP INDEX sms_outbox_conversation;
ALTER TABLE sms_outbox DROP COLUMN seq;
