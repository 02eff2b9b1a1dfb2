-- Receipts: every successful top-up gets a number without gaps, global per UTC year (QC-2026-000001), taken in the
-- crediting transaction from a counter row per year (a sequence is not gap-free: a rolled-back nextval is lost).
-- The card's brand and last 4 digits come from the payment gateway's answer, kept on the payment row.
ALTER TABLE qubrid_payments ADD COLUMN IF NOT EXISTS card_brand text NULL;
ALTER TABLE qubrid_payments ADD COLUMN IF NOT EXISTS card_last4 text NULL;
ALTER TABLE qubrid_sandbox_charges ADD COLUMN IF NOT EXISTS card_brand text NULL;
ALTER TABLE qubrid_sandbox_charges ADD COLUMN IF NOT EXISTS card_last4 text NULL;

CREATE TABLE IF NOT EXISTS qubrid_receipt_counters (
    year         integer PRIMARY KEY,
    last_number  bigint  NOT NULL CHECK (last_number > 0)
);

CREATE TABLE IF NOT EXISTS qubrid_receipts (
    number      text        PRIMARY KEY,              -- QC-<year>-<serial, 6 digits or more>
    year        integer     NOT NULL,
    serial      bigint      NOT NULL CHECK (serial > 0),
    wallet_id   text        NOT NULL,
    seq         bigint      NOT NULL,                 -- the top-up's ledger entry
    at          timestamptz NOT NULL,
    amount      bigint      NOT NULL CHECK (amount > 0),
    payment_id  text        NOT NULL,
    card_brand  text        NULL,
    card_last4  text        NULL,
    lot_id      bigint      NOT NULL,
    UNIQUE (year, serial),
    UNIQUE (wallet_id, seq),
    FOREIGN KEY (wallet_id, seq) REFERENCES qubrid_ledger (wallet_id, seq)
);
CREATE INDEX IF NOT EXISTS qubrid_receipts_wallet ON qubrid_receipts (wallet_id, at);
