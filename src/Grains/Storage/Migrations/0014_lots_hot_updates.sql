-- A debit rewrites the remaining of the lots it takes from. The partial index on open lots named `remaining` in its
-- predicate, so every such update also wrote new entries into both of the table's indexes (no HOT update). The index
-- now names a stored generated column that changes only when a lot runs out or is refilled: updating remaining alone
-- is a heap-only update (pgbench, 15 random wallets' lots per transaction: about 30 % less time per update).
-- Free space in each page (fillfactor) lets the new row version stay on its page, for the wallets' rows too.
ALTER TABLE qubrid_lots ADD COLUMN IF NOT EXISTS open boolean GENERATED ALWAYS AS (remaining > 0) STORED;
DROP INDEX IF EXISTS qubrid_lots_open;
CREATE INDEX qubrid_lots_open ON qubrid_lots (wallet_id) WHERE open;
ALTER TABLE qubrid_lots SET (fillfactor = 90);
ALTER TABLE qubrid_wallets SET (fillfactor = 90);
