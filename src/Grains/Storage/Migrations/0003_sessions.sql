-- Metered sessions as their wallet records them (the source of truth for what a session paid),
-- and the durable event feed the orchestrator reads. Both are written in the wallet's ledger transaction.

ALTER TABLE qubrid_wallets ADD COLUMN IF NOT EXISTS low_balance_notified boolean NOT NULL DEFAULT false;

CREATE TABLE IF NOT EXISTS qubrid_wallet_sessions (
    wallet_id      text        NOT NULL REFERENCES qubrid_wallets (wallet_id),
    session_id     text        NOT NULL,
    instance_type  text        NOT NULL,
    workload       text        NOT NULL,
    usd_per_hour   numeric(18, 6) NOT NULL CHECK (usd_per_hour > 0),
    started_at     timestamptz NOT NULL,
    state          text        NOT NULL CHECK (state IN ('running', 'stopped', 'terminated')),
    stopped_at     timestamptz NULL,
    charged        bigint      NOT NULL CHECK (charged >= 0),
    end_reason     text        NULL,
    PRIMARY KEY (wallet_id, session_id)
);
CREATE INDEX IF NOT EXISTS qubrid_wallet_sessions_running ON qubrid_wallet_sessions (wallet_id) WHERE state = 'running';

CREATE TABLE IF NOT EXISTS qubrid_events (
    id              bigserial   PRIMARY KEY,
    at              timestamptz NOT NULL,
    kind            text        NOT NULL CHECK (kind IN ('session_terminated', 'low_balance')),
    wallet_id       text        NOT NULL,
    session_id      text        NULL,
    reason          text        NULL,
    balance         bigint      NOT NULL,
    runway_seconds  bigint      NULL
);
