-- Metering shards (docs/design.md, sessions): a metering shard grain charges the wallets whose running sessions fall in its
-- bucket. meter_shard is a stable hash of the wallet (user) id, set when the session row is first written (its open):
-- the first two bytes of md5(wallet_id), 0..65535, the same as Qubrid.MeteringShards.HashOf in C#. A shard of N is
-- meter_shard % N, so changing N regroups the rows and never orphans one. Generated, so the ledger writer's session
-- upsert is unchanged; md5 of a short id costs about a microsecond.

ALTER TABLE qubrid_wallet_sessions
    ADD COLUMN IF NOT EXISTS meter_shard int GENERATED ALWAYS AS (('x' || substr(md5(wallet_id), 1, 4))::bit(16)::int) STORED;

-- A shard's query: running rows whose meter_shard is one of its values (meter_shard = ANY(...)), wallet ids from the index.
CREATE INDEX IF NOT EXISTS qubrid_wallet_sessions_meter_shard ON qubrid_wallet_sessions (meter_shard, wallet_id) WHERE state = 'running';
