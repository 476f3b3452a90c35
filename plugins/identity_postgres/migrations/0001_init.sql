-- identity_postgres 0001: the agent registry and one session lease per agent.
-- Append-only: never edit a shipped step; add 0002_*.sql instead.
CREATE TABLE agents (
    agent_id         text        PRIMARY KEY,
    cert_fingerprint text        NOT NULL,
    first_seen       timestamptz NOT NULL,
    last_seen        timestamptz NOT NULL,
    revoked          boolean     NOT NULL DEFAULT false,
    agent_version    text        NOT NULL DEFAULT '',
    hostname         text        NOT NULL DEFAULT '',
    platform         text        NOT NULL DEFAULT '',
    capabilities     jsonb       -- array of command names from the last hello; NULL if never sent
);

-- One row per agent, cluster-wide: the PRIMARY KEY is what makes a second live
-- session impossible, whichever host opens it. Lease times come from the server's
-- clock (now()), so hosts with skewed clocks still agree on expiry.
CREATE TABLE sessions (
    agent_id         text        PRIMARY KEY REFERENCES agents (agent_id) ON DELETE CASCADE,
    session_id       text        NOT NULL,
    host_id          text        NOT NULL,
    cert_fingerprint text        NOT NULL,
    opened_at        timestamptz NOT NULL,
    lease_expires    timestamptz NOT NULL
);

-- Operators list sessions per host (e.g. after a host died).
CREATE INDEX sessions_host_id ON sessions (host_id);
