-- Issue 28, contract: NOT an automatic migration (it is not in Storage/Migrations). It runs one release after
-- 0040_ledger_row_shape.sql, when no silo of the release before 0040 is left and the upgrade was finalized
-- (`dotnet Qubrid.Silo.dll finalize-upgrade`); it refuses to run before. The release after this one moves it into
-- Storage/Migrations; until then an operator may run it with
--   psql -v ON_ERROR_STOP=1 --single-transaction -f src/Grains/Storage/Contract/0041_ledger_row_shape_contract.sql
-- It rewrites the rows written in the previous shape (before finalization) into the lean shape:
-- * an entry with exactly one lot movement of its whole amount gets it in qubrid_ledger.lot_id, and the
--   qubrid_ledger_lots row goes (entries that moved several lots keep theirs);
-- * an applied outcome whose entry says it all (same seq and key, amount = |entry amount|, balance after, and the
--   lot a credit created = the entry's lot) moves into the entry's fingerprint, and the qubrid_idempotency row goes.
-- The two tables stay, for the rows only they can hold. Reconcile passes before and after (ContractMigrationTests).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM qubrid_cluster_version WHERE version >= 2) THEN
        RAISE EXCEPTION 'the ledger rows can be contracted only after finalize-upgrade' USING ERRCODE = 'QB003';
    END IF;
END $$;

-- Every ledger commit updates its wallet row first: holding the wallets in SHARE mode orders every commit before or after
-- this step, so a commit's key check (its last statement) sees the keys as this step leaves them.
LOCK TABLE qubrid_wallets IN SHARE MODE;

-- The ledger is append-only for the application; this one-off rewrite of its own shape is the exception.
ALTER TABLE qubrid_ledger DISABLE TRIGGER qubrid_ledger_append_only;
ALTER TABLE qubrid_ledger_lots DISABLE TRIGGER qubrid_ledger_lots_append_only;

WITH single AS (
    SELECT wallet_id, seq, min(lot_id) AS lot_id, sum(amount) AS total
    FROM qubrid_ledger_lots GROUP BY wallet_id, seq HAVING count(*) = 1)
UPDATE qubrid_ledger e SET lot_id = s.lot_id
FROM single s
WHERE e.wallet_id = s.wallet_id AND e.seq = s.seq AND e.amount = s.total AND e.lot_id IS NULL;

DELETE FROM qubrid_ledger_lots m
USING qubrid_ledger e
WHERE e.wallet_id = m.wallet_id AND e.seq = m.seq AND e.lot_id = m.lot_id AND e.amount = m.amount;

UPDATE qubrid_ledger e SET fingerprint = i.fingerprint
FROM qubrid_idempotency i
WHERE i.wallet_id = e.wallet_id AND i.seq = e.seq AND i.idempotency_key = e.idempotency_key AND i.refusal_code IS NULL
  AND i.amount = abs(e.amount) AND i.balance_after = e.balance_after
  AND i.lot_id IS NOT DISTINCT FROM (CASE WHEN e.amount > 0 THEN e.lot_id END)
  AND e.fingerprint IS NULL;

DELETE FROM qubrid_idempotency i
USING qubrid_ledger e
WHERE e.wallet_id = i.wallet_id AND e.idempotency_key = i.idempotency_key AND e.seq = i.seq AND e.fingerprint = i.fingerprint;

ALTER TABLE qubrid_ledger ENABLE TRIGGER qubrid_ledger_append_only;
ALTER TABLE qubrid_ledger_lots ENABLE TRIGGER qubrid_ledger_lots_append_only;
