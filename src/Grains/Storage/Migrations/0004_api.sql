-- API keys (stored hashed), payments of top-ups, and the sandbox gateway's own record of card charges.

CREATE TABLE IF NOT EXISTS qubrid_api_keys (
    key_hash    text        PRIMARY KEY,
    role        text        NOT NULL CHECK (role IN ('user', 'orchestrator', 'admin')),
    user_id     text        NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((role = 'user') = (user_id IS NOT NULL))
);

-- A payment row is written before the card is charged and moves pending → succeeded | declined | failed.
-- Credits are added (idempotently, keyed by the payment id) only once the gateway says the charge succeeded.
CREATE TABLE IF NOT EXISTS qubrid_payments (
    payment_id       text        PRIMARY KEY,
    user_id          text        NOT NULL,
    idempotency_key  text        NOT NULL,
    fingerprint      text        NOT NULL,
    amount           bigint      NOT NULL CHECK (amount > 0),
    status           text        NOT NULL CHECK (status IN ('pending', 'charged', 'succeeded', 'declined', 'failed')),
    lot_id           bigint      NULL,
    failure          text        NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    UNIQUE (user_id, idempotency_key)
);
CREATE INDEX IF NOT EXISTS qubrid_payments_unsettled ON qubrid_payments (updated_at) WHERE status IN ('pending', 'charged');

CREATE TABLE IF NOT EXISTS qubrid_sandbox_charges (
    payment_id  text        PRIMARY KEY,
    amount      bigint      NOT NULL,
    outcome     text        NOT NULL,
    at          timestamptz NOT NULL DEFAULT now()
);
