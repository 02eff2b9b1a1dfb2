-- The ledger: the one source of truth for balances. Amounts are integer micro-credits (1e-6 USD).
-- Every change of balance is a row of qubrid_ledger whose lot movements (qubrid_ledger_lots) sum to
-- its amount; the wallet's balance and each lot's remaining are written in the same transaction.

CREATE TABLE IF NOT EXISTS qubrid_wallets (
    wallet_id   text        PRIMARY KEY,
    created_at  timestamptz NOT NULL,
    balance     bigint      NOT NULL CHECK (balance >= 0),
    next_seq    bigint      NOT NULL CHECK (next_seq >= 1),
    version     bigint      NOT NULL
);

CREATE TABLE IF NOT EXISTS qubrid_lots (
    wallet_id   text        NOT NULL REFERENCES qubrid_wallets (wallet_id),
    lot_id      bigint      NOT NULL,
    kind        text        NOT NULL CHECK (kind IN ('promotional', 'purchased')),
    amount      bigint      NOT NULL CHECK (amount > 0),
    remaining   bigint      NOT NULL CHECK (remaining >= 0 AND remaining <= amount),
    granted_at  timestamptz NOT NULL,
    expires_at  timestamptz NULL,
    source      text        NOT NULL,
    PRIMARY KEY (wallet_id, lot_id),
    CHECK ((kind = 'promotional') = (expires_at IS NOT NULL))
);
CREATE INDEX IF NOT EXISTS qubrid_lots_open ON qubrid_lots (wallet_id) WHERE remaining > 0;

CREATE TABLE IF NOT EXISTS qubrid_ledger (
    wallet_id        text        NOT NULL REFERENCES qubrid_wallets (wallet_id),
    seq              bigint      NOT NULL,
    at               timestamptz NOT NULL,
    kind             text        NOT NULL CHECK (kind IN ('grant', 'topup', 'session_charge', 'inference_charge',
                                                          'premium_access', 'expiration', 'adjustment', 'refund')),
    amount           bigint      NOT NULL CHECK (amount <> 0),
    balance_after    bigint      NOT NULL CHECK (balance_after >= 0),
    reference        text        NOT NULL,
    idempotency_key  text        NULL,
    session_id       text        NULL,
    instance_type    text        NULL,
    model            text        NULL,
    workload         text        NULL,
    PRIMARY KEY (wallet_id, seq)
);
CREATE INDEX IF NOT EXISTS qubrid_ledger_at ON qubrid_ledger (wallet_id, at);
CREATE INDEX IF NOT EXISTS qubrid_ledger_session ON qubrid_ledger (wallet_id, session_id) WHERE session_id IS NOT NULL;

CREATE TABLE IF NOT EXISTS qubrid_ledger_lots (
    wallet_id  text   NOT NULL,
    seq        bigint NOT NULL,
    lot_id     bigint NOT NULL,
    amount     bigint NOT NULL CHECK (amount <> 0),
    PRIMARY KEY (wallet_id, seq, lot_id),
    FOREIGN KEY (wallet_id, seq) REFERENCES qubrid_ledger (wallet_id, seq)
);
CREATE INDEX IF NOT EXISTS qubrid_ledger_lots_lot ON qubrid_ledger_lots (wallet_id, lot_id);

-- One row per acknowledged mutating request: the same key returns this result, a different request is refused.
CREATE TABLE IF NOT EXISTS qubrid_idempotency (
    wallet_id        text        NOT NULL,
    idempotency_key  text        NOT NULL,
    fingerprint      text        NOT NULL,
    seq              bigint      NULL,
    amount           bigint      NOT NULL,
    balance_after    bigint      NOT NULL,
    lot_id           bigint      NULL,
    created_at       timestamptz NOT NULL,
    PRIMARY KEY (wallet_id, idempotency_key)
);

-- The ledger is append-only: corrections are new entries, never edits.
-- R-LEDGER-1: the ledger is append-only; corrections are new entries.
CREATE OR REPLACE FUNCTION qubrid_ledger_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only (% on %)', TG_OP, TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
END $$;

DROP TRIGGER IF EXISTS qubrid_ledger_append_only ON qubrid_ledger;
CREATE TRIGGER qubrid_ledger_append_only BEFORE UPDATE OR DELETE ON qubrid_ledger
    FOR EACH ROW EXECUTE FUNCTION qubrid_ledger_is_append_only();
DROP TRIGGER IF EXISTS qubrid_ledger_lots_append_only ON qubrid_ledger_lots;
CREATE TRIGGER qubrid_ledger_lots_append_only BEFORE UPDATE OR DELETE ON qubrid_ledger_lots
    FOR EACH ROW EXECUTE FUNCTION qubrid_ledger_is_append_only();
