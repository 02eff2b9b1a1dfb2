-- The ledger's filters (GET /v1/wallets/{userId}/ledger and ledger.csv: kind, from, to), served by indexes instead of a scan
-- of the wallet's whole history:
-- * kind: (wallet_id, kind, seq), so that one kind's entries are found directly and read newest first, in the page's order.
-- * date range: qubrid_ledger_at (wallet_id, at) of 0002_ledger.sql already serves from/to.

CREATE INDEX IF NOT EXISTS qubrid_ledger_kind ON qubrid_ledger (wallet_id, kind, seq);
