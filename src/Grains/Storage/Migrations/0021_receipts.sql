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

-- Top-ups credited before this migration get their receipts now, numbered per year in the order they happened.
INSERT INTO qubrid_receipts (number, year, serial, wallet_id, seq, at, amount, payment_id, card_brand, card_last4, lot_id)
SELECT 'QC-' || t.year || '-' || lpad(t.serial::text, greatest(6, length(t.serial::text)), '0'), t.year, t.serial,
       t.wallet_id, t.seq, t.at, t.amount, t.reference, p.card_brand, p.card_last4,
       coalesce((SELECT min(m.lot_id) FROM qubrid_ledger_lots m WHERE m.wallet_id = t.wallet_id AND m.seq = t.seq), t.seq)
FROM (
    SELECT l.wallet_id, l.seq, l.at, l.amount, l.reference, extract(year FROM l.at AT TIME ZONE 'UTC')::int AS year,
           row_number() OVER (PARTITION BY extract(year FROM l.at AT TIME ZONE 'UTC') ORDER BY l.at, l.wallet_id, l.seq) AS serial
    FROM qubrid_ledger l
    WHERE l.kind = 'topup' AND NOT EXISTS (SELECT 1 FROM qubrid_receipts r WHERE r.wallet_id = l.wallet_id AND r.seq = l.seq)
) t
LEFT JOIN qubrid_payments p ON p.payment_id = t.reference
WHERE NOT EXISTS (SELECT 1 FROM qubrid_receipt_counters);
INSERT INTO qubrid_receipt_counters (year, last_number)
SELECT year, max(serial) FROM qubrid_receipts GROUP BY year
ON CONFLICT (year) DO NOTHING;
