-- Key management (SPEC "API keys"): every key gets a public id and a display prefix (never the secret), and may
-- expire, be revoked, or end after a rotation's grace period. Last use is recorded at most once a minute per key
-- per API process, not on every request.

ALTER TABLE qubrid_api_keys
    ADD COLUMN IF NOT EXISTS id           text        NOT NULL DEFAULT ('key_' || replace(gen_random_uuid()::text, '-', '')),
    -- Keys stored before this migration: their prefix is unknown (the secret was never stored); the bootstrap key's is filled in on start.
    ADD COLUMN IF NOT EXISTS prefix       text        NOT NULL DEFAULT '',
    ADD COLUMN IF NOT EXISTS last_used_at timestamptz NULL,
    ADD COLUMN IF NOT EXISTS expires_at   timestamptz NULL,
    ADD COLUMN IF NOT EXISTS revoked_at   timestamptz NULL,
    ADD COLUMN IF NOT EXISTS rotated_to   text        NULL;

CREATE UNIQUE INDEX IF NOT EXISTS qubrid_api_keys_id ON qubrid_api_keys (id);
CREATE INDEX IF NOT EXISTS qubrid_api_keys_user ON qubrid_api_keys (user_id) WHERE user_id IS NOT NULL;
