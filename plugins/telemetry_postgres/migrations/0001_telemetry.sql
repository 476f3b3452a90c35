-- telemetry_postgres, version 1: results and telemetry points.
-- Append-only: never edit a shipped migration; add a new file.

-- Upserted by command_id (PROTOCOL.md §5); a terminal row is never overwritten.
CREATE TABLE IF NOT EXISTS results (
    command_id      text COLLATE "C" PRIMARY KEY,
    agent_id        text NOT NULL,
    status          text NOT NULL,
    exit_code       bigint,             -- NULL when the command did not run to completion
    output          text NOT NULL,
    output_encoding text NOT NULL,      -- 'utf-8' or 'base64'
    truncated       boolean NOT NULL,
    started_ms      bigint NOT NULL,
    finished_ms     bigint NOT NULL,
    received_ms     bigint NOT NULL
);

-- The primary key is the idempotency key of a point. COLLATE "C": byte order, the
-- same order the writers sort a group in (no deadlocks between overlapping groups),
-- and cheaper comparisons than a locale.
CREATE TABLE IF NOT EXISTS telemetry (
    agent_id    text COLLATE "C" NOT NULL,
    metric      text COLLATE "C" NOT NULL,
    ts_ms       bigint NOT NULL,
    labels_hash bigint NOT NULL,        -- 63 bits of SHA-256(labels)
    labels      text COLLATE "C" NOT NULL,  -- canonical JSON of the sorted labels
    value       double precision NOT NULL,
    PRIMARY KEY (agent_id, metric, ts_ms, labels_hash)
);

-- Serves queries without a metric filter (newest first per agent) and retention
-- deletes by time.
CREATE INDEX IF NOT EXISTS telemetry_by_time ON telemetry (agent_id, ts_ms);
