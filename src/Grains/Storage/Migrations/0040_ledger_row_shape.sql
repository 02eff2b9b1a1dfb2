-- Issue 28, expand: one ledger row per debit in the common case (docs/operations.md, "Upgrading to the lean ledger rows").
-- Additions that the previous release's silos, which may still run, do not notice, and two indexes it never reads; no
-- data moves here. The CHECK's validation and the unique index's build scan qubrid_ledger while the ALTER's exclusive
-- lock stops its reads and writes: on a large ledger, start the first silo of this release at a quiet time.
-- * qubrid_ledger.lot_id: the one lot an entry moved (its whole amount), instead of a qubrid_ledger_lots row.
--   Entries that move several lots keep their movements in qubrid_ledger_lots, and so do the previous release's entries.
-- * qubrid_ledger.fingerprint: the entry is also the idempotency record of the request that wrote it (its key is
--   idempotency_key), instead of a qubrid_idempotency row. Outcomes without an entry (402 refusals, zero debits, holds)
--   stay in qubrid_idempotency. A key is recorded in one place or the other, never both (the commit checks both).
-- * qubrid_cluster_version: the cluster version gate. Until the operator finalizes the upgrade (version 2), silos of
--   this release write the previous shape, which the previous release reads; after it, the lean shape.
-- Indexes no read uses go (pg_stat_user_indexes under the benchmark: no scans): qubrid_ledger_session (reads of a
-- session's charges come from qubrid_wallet_sessions; reconcile aggregates the whole table) and qubrid_ledger_lots_lot
-- (nothing looks movements up by lot; reconcile aggregates the whole table).
ALTER TABLE qubrid_ledger ADD COLUMN IF NOT EXISTS lot_id bigint NULL;
ALTER TABLE qubrid_ledger ADD COLUMN IF NOT EXISTS fingerprint text NULL;
ALTER TABLE qubrid_ledger DROP CONSTRAINT IF EXISTS qubrid_ledger_fingerprint_has_key;
ALTER TABLE qubrid_ledger ADD CONSTRAINT qubrid_ledger_fingerprint_has_key CHECK (fingerprint IS NULL OR idempotency_key IS NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS qubrid_ledger_idempotency ON qubrid_ledger (wallet_id, idempotency_key) WHERE fingerprint IS NOT NULL;
DROP INDEX IF EXISTS qubrid_ledger_session;
DROP INDEX IF EXISTS qubrid_ledger_lots_lot;

CREATE TABLE IF NOT EXISTS qubrid_cluster_version (
    id            smallint    PRIMARY KEY CHECK (id = 1),
    version       integer     NOT NULL CHECK (version >= 1),
    finalized_at  timestamptz NULL
);
-- A database nothing ran against yet (no wallet, no silo ever joined) starts finalized; any other waits for finalize-upgrade.
INSERT INTO qubrid_cluster_version (id, version, finalized_at)
SELECT 1, CASE WHEN fresh THEN 2 ELSE 1 END, CASE WHEN fresh THEN now() END
FROM (SELECT NOT EXISTS (SELECT 1 FROM qubrid_wallets) AND NOT EXISTS (SELECT 1 FROM OrleansMembershipTable) AS fresh) f
ON CONFLICT (id) DO NOTHING;

-- Raised by a commit that records an idempotency key already recorded in the other place (SQLSTATE QB002).
CREATE OR REPLACE FUNCTION qubrid_expect_new_keys(taken bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF taken > 0 THEN
        RAISE EXCEPTION '% idempotency keys of the commit are already recorded', taken USING ERRCODE = 'QB002';
    END IF;
END $$;
