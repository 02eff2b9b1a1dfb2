-- A ledger commit is one round trip: its statements run in one implicit transaction that commits at
-- the end unless a statement fails. The wallet version check must therefore fail on the server: this
-- raises SQLSTATE QB001 when an optimistic UPDATE moved fewer wallet rows than it expected, which rolls
-- back everything the commit wrote.
CREATE OR REPLACE FUNCTION qubrid_expect_rows(what text, actual bigint, expected bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF actual <> expected THEN
        RAISE EXCEPTION 'expected % rows of % to change, % did', expected, what, actual USING ERRCODE = 'QB001';
    END IF;
END $$;

-- A lot movement's entry is written by the same statement batch of the same transaction, and the
-- reconcile command checks that every movement has its entry. The foreign key's per-row check cost
-- more than the rest of a commit together on a freshly created ledger (its cached plan scanned the
-- table until the first ANALYZE), so it goes.
ALTER TABLE qubrid_ledger_lots DROP CONSTRAINT IF EXISTS qubrid_ledger_lots_wallet_id_seq_fkey;
