-- Issue 32, voids and refunds to the card (expand only: the previous release never reads these tables or kinds).
-- * Ledger kinds grant_void (an admin voids a promotional lot's remainder) and card_refund (a purchase refunded to the card,
--   taken from the lot that payment bought). A silo of the previous release that loads a ledger page with them cannot
--   parse the kind: see docs/design.md, "Versioned contracts".
-- * Events refund_succeeded and refund_failed.
-- * qubrid_card_refunds: one row per refund to the card, keyed by the payment and the idempotency key, written pending in
--   the wallet's transaction that reserves the amount on the lot (before the gateway is asked), and settled in the
--   transaction that writes the card_refund entry (or releases the reservation when the gateway refused).
-- * Credit notes: a gap-free series of their own per UTC year (QC-CN-2026-000001), numbered from a counter row in the
--   transaction that writes the card_refund entry, like receipts (0021).
-- * qubrid_sandbox_refunds: the sandbox gateway's own refunds, idempotent by refund id.
ALTER TABLE qubrid_ledger DROP CONSTRAINT IF EXISTS qubrid_ledger_kind_check;
ALTER TABLE qubrid_ledger ADD CONSTRAINT qubrid_ledger_kind_check CHECK (kind IN ('grant', 'topup', 'session_charge', 'inference_charge',
    'premium_access', 'expiration', 'adjustment', 'refund', 'hold_capture', 'grant_void', 'card_refund'));

ALTER TABLE qubrid_events DROP CONSTRAINT IF EXISTS qubrid_events_kind_check;
ALTER TABLE qubrid_events ADD CONSTRAINT qubrid_events_kind_check CHECK (kind IN (
    'session_terminated', 'low_balance', 'balance_depleted', 'balance_recovered', 'topup_succeeded', 'topup_failed',
    'auto_topup_disabled', 'credits_expiring', 'spend_limit_warning', 'spend_limit_reached', 'hold_expired',
    'webhook_disabled', 'refund_succeeded', 'refund_failed'));

CREATE TABLE IF NOT EXISTS qubrid_card_refunds (
    refund_id        text        PRIMARY KEY,               -- re_<hash of payment id and key>: the gateway's idempotency key
    wallet_id        text        NOT NULL REFERENCES qubrid_wallets (wallet_id),
    payment_id       text        NOT NULL,
    idempotency_key  text        NOT NULL,
    lot_id           bigint      NOT NULL,
    amount           bigint      NOT NULL CHECK (amount > 0),
    reason           text        NOT NULL,
    status           text        NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    created_at       timestamptz NOT NULL,
    settled_at       timestamptz NULL,
    seq              bigint      NULL,                      -- the card_refund entry
    failure          text        NULL,
    UNIQUE (payment_id, idempotency_key),
    FOREIGN KEY (wallet_id, seq) REFERENCES qubrid_ledger (wallet_id, seq),
    CHECK ((status = 'succeeded') = (seq IS NOT NULL)),
    CHECK ((status = 'pending') = (settled_at IS NULL))
);
CREATE INDEX IF NOT EXISTS qubrid_card_refunds_wallet ON qubrid_card_refunds (wallet_id, created_at);
CREATE INDEX IF NOT EXISTS qubrid_card_refunds_pending ON qubrid_card_refunds (payment_id) WHERE status = 'pending';

CREATE TABLE IF NOT EXISTS qubrid_credit_note_counters (
    year         integer PRIMARY KEY,
    last_number  bigint  NOT NULL CHECK (last_number > 0)
);

CREATE TABLE IF NOT EXISTS qubrid_credit_notes (
    number      text        PRIMARY KEY,                    -- QC-CN-<year>-<serial, 6 digits or more>
    year        integer     NOT NULL,
    serial      bigint      NOT NULL CHECK (serial > 0),
    wallet_id   text        NOT NULL,
    seq         bigint      NOT NULL,                       -- the card_refund entry
    at          timestamptz NOT NULL,
    amount      bigint      NOT NULL CHECK (amount > 0),
    refund_id   text        NOT NULL UNIQUE REFERENCES qubrid_card_refunds (refund_id),
    payment_id  text        NOT NULL,
    UNIQUE (year, serial),
    UNIQUE (wallet_id, seq),
    FOREIGN KEY (wallet_id, seq) REFERENCES qubrid_ledger (wallet_id, seq)
);

CREATE TABLE IF NOT EXISTS qubrid_sandbox_refunds (
    refund_id   text        PRIMARY KEY,
    payment_id  text        NOT NULL,
    amount      bigint      NOT NULL CHECK (amount > 0),
    outcome     text        NOT NULL CHECK (outcome IN ('succeeded', 'failed')),
    created_at  timestamptz NOT NULL DEFAULT now()
);
