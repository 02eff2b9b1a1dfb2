-- What metering under a real orchestrator needs (see docs/rules.md, sessions and inference):
-- * charged_through: the latest instant a session has been charged up to. A stop is recorded no earlier than it,
--   so a session's total is exactly the formula over its recorded start and stop even when silos' clocks differ.
-- * the inference carry: per wallet and model, the fraction of a micro-credit charged but not yet debited, so that
--   queries cheaper than one micro-credit are charged cumulatively instead of never.
-- * indexes for the session list (newest first, by wallet and state) and for finding a session by its id.

ALTER TABLE qubrid_wallet_sessions ADD COLUMN IF NOT EXISTS charged_through timestamptz NULL;

CREATE INDEX IF NOT EXISTS qubrid_wallet_sessions_newest ON qubrid_wallet_sessions (started_at DESC, wallet_id DESC, session_id DESC);
CREATE INDEX IF NOT EXISTS qubrid_wallet_sessions_wallet_newest ON qubrid_wallet_sessions (wallet_id, started_at DESC, session_id DESC);
CREATE INDEX IF NOT EXISTS qubrid_wallet_sessions_id ON qubrid_wallet_sessions (session_id);

CREATE TABLE IF NOT EXISTS qubrid_inference_carry (
    wallet_id     text    NOT NULL REFERENCES qubrid_wallets (wallet_id),
    model         text    NOT NULL,
    carry_micros  numeric NOT NULL CHECK (carry_micros >= 0 AND carry_micros < 1),
    PRIMARY KEY (wallet_id, model)
);
