-- Promotions with codes (docs/design.md "Promotions"). A promotion grain serializes its redemptions; the database guards
-- them again: the count moves in the reservation's transaction only while it is under the cap and the promotion is
-- active, a single-use code is taken by at most one wallet, and (promotion, wallet) is unique.
CREATE TABLE IF NOT EXISTS qubrid_promotions (
    promotion_id     text        PRIMARY KEY,
    shared_code      text        NULL,                 -- the one shared code, or NULL for generated single-use codes
    code_count       integer     NULL CHECK (code_count > 0),
    amount           bigint      NOT NULL CHECK (amount > 0),
    lot_expires_at   timestamptz NULL,
    lot_valid_days   integer     NULL CHECK (lot_valid_days > 0),
    starts_at        timestamptz NULL,
    ends_at          timestamptz NULL,
    max_redemptions  integer     NULL CHECK (max_redemptions > 0),
    redemptions      integer     NOT NULL DEFAULT 0,   -- reservations, pending and done: the count the cap is checked against
    new_wallets_only boolean     NOT NULL,
    created_at       timestamptz NOT NULL,
    disabled_at      timestamptz NULL,
    CHECK ((shared_code IS NULL) <> (code_count IS NULL)),
    CHECK ((lot_expires_at IS NULL) <> (lot_valid_days IS NULL)),
    CHECK (starts_at IS NULL OR ends_at IS NULL OR ends_at > starts_at),
    CHECK (redemptions >= 0 AND (max_redemptions IS NULL OR redemptions <= max_redemptions)),
    CHECK (code_count IS NULL OR redemptions <= code_count)
);
CREATE INDEX IF NOT EXISTS qubrid_promotions_created ON qubrid_promotions (created_at DESC, promotion_id);

-- Every code, shared or single-use, stored upper-case. A single-use code names the wallet that took it.
CREATE TABLE IF NOT EXISTS qubrid_promotion_codes (
    code          text        PRIMARY KEY,
    promotion_id  text        NOT NULL REFERENCES qubrid_promotions (promotion_id),
    single_use    boolean     NOT NULL,
    redeemed_by   text        NULL,
    CHECK (single_use OR redeemed_by IS NULL)
);

-- One row per wallet that redeemed a promotion: written ('pending') before the wallet's grant, marked 'done' with the
-- lot after it; a pending row is completed on the promotion's next activation (the grant's key makes that idempotent).
-- A reservation whose grant the wallet refused (its own key already used for another call) is deleted with its count.
CREATE TABLE IF NOT EXISTS qubrid_promotion_redemptions (
    promotion_id     text        NOT NULL REFERENCES qubrid_promotions (promotion_id),
    wallet_id        text        NOT NULL,
    idempotency_key  text        NOT NULL,
    code             text        NOT NULL,
    state            text        NOT NULL CHECK (state IN ('pending', 'done')),
    amount           bigint      NOT NULL CHECK (amount > 0),
    lot_expires_at   timestamptz NOT NULL,
    lot_id           bigint      NULL,
    created_at       timestamptz NOT NULL,
    PRIMARY KEY (promotion_id, wallet_id),
    CHECK ((state = 'done') = (lot_id IS NOT NULL))
);
CREATE INDEX IF NOT EXISTS qubrid_promotion_redemptions_pending ON qubrid_promotion_redemptions (promotion_id) WHERE state = 'pending';

-- A redemption's idempotency key (per wallet): the code it named and how it was answered, so a replay answers the same.
CREATE TABLE IF NOT EXISTS qubrid_redemption_keys (
    wallet_id        text        NOT NULL,
    idempotency_key  text        NOT NULL,
    code             text        NOT NULL,
    status           text        NOT NULL,
    promotion_id     text        NULL,
    detail           text        NULL,
    created_at       timestamptz NOT NULL,
    PRIMARY KEY (wallet_id, idempotency_key)
);
