-- Spend controls (SPEC.md: holds, spending limits, auto top-up), all written in the wallet's ledger transaction.
-- * qubrid_holds: two-phase spending. An active hold keeps its amount from available; a capture is a hold_capture entry.
-- * qubrid_wallet_controls: the owner's and the admin's limits (null = none; a null admin limit means the platform
--   default), the period for which each limit event was raised (once per period), and the auto top-up: its settings,
--   the attempt in flight (the payment id derives from it), failures in a row and what the month's cap has used.
ALTER TABLE qubrid_ledger DROP CONSTRAINT IF EXISTS qubrid_ledger_kind_check;
ALTER TABLE qubrid_ledger ADD CONSTRAINT qubrid_ledger_kind_check CHECK (kind IN ('grant', 'topup', 'session_charge', 'inference_charge',
    'premium_access', 'expiration', 'adjustment', 'refund', 'hold_capture'));

CREATE TABLE IF NOT EXISTS qubrid_holds (
    wallet_id   text        NOT NULL REFERENCES qubrid_wallets (wallet_id),
    hold_no     bigint      NOT NULL CHECK (hold_no >= 1),
    amount      bigint      NOT NULL CHECK (amount > 0),
    captured    bigint      NOT NULL CHECK (captured >= 0 AND captured <= amount),
    state       text        NOT NULL CHECK (state IN ('active', 'captured', 'voided', 'expired')),
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL CHECK (expires_at > created_at),
    reference   text        NOT NULL,
    PRIMARY KEY (wallet_id, hold_no),
    CHECK (state = 'captured' OR captured = 0)
);
CREATE INDEX IF NOT EXISTS qubrid_holds_active ON qubrid_holds (wallet_id) WHERE state = 'active';

CREATE TABLE IF NOT EXISTS qubrid_wallet_controls (
    wallet_id              text        PRIMARY KEY REFERENCES qubrid_wallets (wallet_id),
    owner_per_hour         bigint      NULL CHECK (owner_per_hour >= 0),
    owner_per_day          bigint      NULL CHECK (owner_per_day >= 0),
    owner_per_month        bigint      NULL CHECK (owner_per_month >= 0),
    admin_per_hour         bigint      NULL CHECK (admin_per_hour >= 0),
    admin_per_day          bigint      NULL CHECK (admin_per_day >= 0),
    admin_per_month        bigint      NULL CHECK (admin_per_month >= 0),
    warned_hour            timestamptz NULL,
    warned_day             timestamptz NULL,
    warned_month           timestamptz NULL,
    reached_hour           timestamptz NULL,
    reached_day            timestamptz NULL,
    reached_month          timestamptz NULL,
    auto_enabled           boolean     NOT NULL,
    auto_threshold         bigint      NOT NULL CHECK (auto_threshold >= 0),
    auto_target            bigint      NOT NULL CHECK (auto_target >= 0),
    auto_token             text        NULL,
    auto_monthly_cap       bigint      NOT NULL CHECK (auto_monthly_cap >= 0),
    auto_month_start       timestamptz NULL,
    auto_spent_month       bigint      NOT NULL CHECK (auto_spent_month >= 0),
    auto_failures          integer     NOT NULL CHECK (auto_failures >= 0),
    auto_disabled_reason   text        NULL,
    auto_next_attempt      bigint      NOT NULL CHECK (auto_next_attempt >= 1),
    auto_in_flight         bigint      NULL,
    auto_in_flight_amount  bigint      NOT NULL CHECK (auto_in_flight_amount >= 0),
    auto_retry_at          timestamptz NULL
);
