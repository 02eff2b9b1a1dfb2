-- Every ledger entry is written in the same transaction as its wallet's row (created, or updated under the
-- version check that fails the whole commit when the row is missing or moved). The foreign key from
-- qubrid_ledger to qubrid_wallets checked that again for every entry, with a key-share lock on the wallet
-- row: about a third of the cost of inserting an entry (pgbench, 51-entry batches: 0.66 ms with it, 0.50 ms
-- without). It goes, as the lot movements' did in 0005; the reconcile command checks that every entry's
-- wallet exists.
ALTER TABLE qubrid_ledger DROP CONSTRAINT IF EXISTS qubrid_ledger_wallet_id_fkey;
