-- Performance (#10): event sequence numbers by writing transaction, and the
-- indexes retention deletes by.

-- +goose Up
-- Seq is assigned by AppendEvent: (writing transaction id << 16) + position
-- in the transaction, so concurrent writers never wait for each other and
-- readers list only events of ended transactions (postgres/records.go).
ALTER TABLE events ALTER COLUMN seq DROP DEFAULT;
DROP SEQUENCE events_seq_seq;

-- The feed's horizon: the oldest transaction id that may still commit an
-- event of this database (ListEvents lists events with seq below it << 16).
-- It is the smallest id in progress in the caller's snapshot, or the
-- snapshot's next id when none is, ignoring ids positively known to be
-- running in another database (a write there can never add an event here,
-- and a long one, such as CREATE DATABASE, would hold the feed back for
-- nothing). An id whose database is unknown (its transaction just ended, or
-- its backend's status cannot be read) is kept, which only delays the feed.
-- +goose StatementBegin
CREATE FUNCTION parley_feed_horizon() RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT COALESCE(min(x::text::bigint), pg_snapshot_xmax(pg_current_snapshot())::text::bigint)
    FROM pg_snapshot_xip(pg_current_snapshot()) AS x
    WHERE x::xid NOT IN (
        SELECT a.backend_xid FROM pg_stat_get_activity(NULL) AS a
        WHERE a.backend_xid IS NOT NULL
          AND a.datid <> (SELECT oid FROM pg_database WHERE datname = current_database()))
$$;
-- +goose StatementEnd

-- Retention deletes the oldest rows first, across orgs.
CREATE INDEX operation_runs_started ON operation_runs (started_at);
CREATE INDEX events_created ON events (created_at);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- +goose Down
DROP FUNCTION parley_feed_horizon();
DROP INDEX idempotency_keys_created;
DROP INDEX events_created;
DROP INDEX operation_runs_started;
CREATE SEQUENCE events_seq_seq OWNED BY events.seq;
SELECT setval('events_seq_seq', COALESCE((SELECT max(seq) FROM events), 0) + 1, false);
ALTER TABLE events ALTER COLUMN seq SET DEFAULT nextval('events_seq_seq');
