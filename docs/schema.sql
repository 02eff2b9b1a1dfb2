-- Qubrid Credits: the database schema, in one file.
--
-- This is what the migrations in src/Grains/Storage/Migrations (0001..0061, applied in order by
-- src/Grains/Storage/Migrator.cs) leave in a database, written out once so that it can be read top to bottom.
-- The migrations stay the source: this file is documentation. tests/Qubrid.Tests/Storage/SchemaDocumentTests.cs
-- applies it to an empty database and compares that database's catalog (tables, columns, constraints,
-- indexes, functions, triggers, sequences, Orleans query rows) with a migrated one; a migration that changes
-- the schema must change this file too.
--
-- For an empty database only (no IF NOT EXISTS): psql -v ON_ERROR_STOP=1 --single-transaction -f docs/schema.sql
-- Left out: qubrid_schema_migrations, the migrator's own record of which migrations ran.
--
-- Amounts are integer micro-credits (bigint, 1e-6 USD) unless a column says otherwise. Times are timestamptz,
-- written truncated to the microsecond. Rules cited as R-… are in docs/rules.md.
--
--   Part 1, Qubrid
--     Wallets and the ledger   qubrid_wallets, qubrid_lots, qubrid_ledger, qubrid_ledger_lots,
--                              qubrid_idempotency, qubrid_inference_carry, qubrid_holds,
--                              qubrid_wallet_controls, qubrid_cluster_version, qubrid_silo_releases
--     Sessions and events      qubrid_wallet_sessions, qubrid_events
--     API                      qubrid_api_keys, qubrid_payments, qubrid_sandbox_charges
--     Webhooks and receipts    qubrid_webhook_endpoints, qubrid_webhook_deliveries, qubrid_receipt_counters,
--                              qubrid_receipts
--     Promotions               qubrid_promotions, qubrid_promotion_codes, qubrid_promotion_redemptions,
--                              qubrid_redemption_keys
--     Refunds to the card      qubrid_card_refunds, qubrid_credit_note_counters, qubrid_credit_notes,
--                              qubrid_sandbox_refunds
--     Organizations            qubrid_organizations, qubrid_org_members, qubrid_org_projects
--   Part 2, Orleans (ADO.NET)  OrleansQuery, OrleansMembershipVersionTable, OrleansMembershipTable,
--                              OrleansRemindersTable, OrleansStorage, their functions, the query rows

------------------------------------------------------------------------------------------------------------
-- Part 1, Qubrid: wallets and the ledger
------------------------------------------------------------------------------------------------------------
-- Written only by the silo's ledger writer (src/Grains/Storage/LedgerWriter.cs): one wallet batch or several
-- in one transaction, one statement per table. The balance, the lots and the entries that change them are
-- always written together (R-LEDGER-3).

-- One row per wallet. balance = Σ of its entries' amounts = Σ of its lots' remaining (R-LEDGER-2).
CREATE TABLE qubrid_wallets (
    wallet_id   text        PRIMARY KEY,                        -- the user id
    created_at  timestamptz NOT NULL,
    balance     bigint      NOT NULL CHECK (balance >= 0),     -- lots' remaining, expired lots included until their expiration entry
    next_seq    bigint      NOT NULL CHECK (next_seq >= 1),    -- the seq the next ledger entry (and lot) gets
    version     bigint      NOT NULL,                           -- optimistic concurrency: each commit moves it by one
    low_balance_notified boolean NOT NULL DEFAULT false         -- a low_balance event was raised and has not re-armed (R-SESS-9)
) WITH (fillfactor = 90);                                       -- room on each page for the next version of a row (HOT updates)

-- Credit lots. lot_id is the seq of the ledger entry that created the lot. Promotional lots expire, purchased never.
CREATE TABLE qubrid_lots (
    wallet_id   text        NOT NULL REFERENCES qubrid_wallets (wallet_id),
    lot_id      bigint      NOT NULL,
    kind        text        NOT NULL CHECK (kind IN ('promotional', 'purchased')),
    amount      bigint      NOT NULL CHECK (amount > 0),
    remaining   bigint      NOT NULL CHECK (remaining >= 0 AND remaining <= amount),
    granted_at  timestamptz NOT NULL,
    expires_at  timestamptz NULL,
    source      text        NOT NULL,                           -- the reason of a grant or adjustment, a top-up's payment id
    expiry_notices smallint NOT NULL DEFAULT 0 CHECK (expiry_notices BETWEEN 0 AND 2), -- credits_expiring raised: 1 the 7-day, 2 the 1-day
    open        boolean     GENERATED ALWAYS AS (remaining > 0) STORED, -- changes only when a lot runs out or is refilled
    scope       jsonb       NULL,                               -- a scoped grant's {instanceTypes?, models?, workloads?} (R-SCOPE-1); NULL: unscoped
    PRIMARY KEY (wallet_id, lot_id),
    CHECK ((kind = 'promotional') = (expires_at IS NOT NULL)),
    CONSTRAINT qubrid_lots_scope_check CHECK (scope IS NULL OR (kind = 'promotional' AND jsonb_typeof(scope) = 'object'))
) WITH (fillfactor = 90);
-- A wallet loads only the lots that still hold something. The predicate names `open`, not `remaining`, so that a debit's
-- update of remaining is heap-only (migration 0014).
CREATE INDEX qubrid_lots_open ON qubrid_lots (wallet_id) WHERE open;

-- The ledger: append-only, one row per change of balance, numbered per wallet by seq (R-LEDGER-1).
-- No foreign key to qubrid_wallets: migration 0013 dropped it (its per-entry check and key-share lock cost about a
-- third of an insert); the wallet row is written by the same transaction and reconcile checks that it exists.
CREATE TABLE qubrid_ledger (
    wallet_id        text        NOT NULL,
    seq              bigint      NOT NULL,
    at               timestamptz NOT NULL,
    kind             text        NOT NULL CHECK (kind IN ('grant', 'topup', 'session_charge', 'inference_charge',
                                                          'premium_access', 'expiration', 'adjustment', 'refund',
                                                          'hold_capture', 'grant_void', 'card_refund')),
    amount           bigint      NOT NULL CHECK (amount <> 0),      -- signed: credits positive, debits negative
    balance_after    bigint      NOT NULL CHECK (balance_after >= 0),
    reference        text        NOT NULL,                          -- session id, model and tokens, payment, reason
    idempotency_key  text        NULL,
    session_id       text        NULL,                              -- usage tags, for the usage history
    instance_type    text        NULL,
    model            text        NULL,
    workload         text        NULL,
    -- Lean rows (migration 0040, written once the upgrade is finalized, see qubrid_cluster_version): one row per entry
    -- in the common case. lot_id: the one lot the entry moved, by its whole amount (else its movements are in
    -- qubrid_ledger_lots). fingerprint: the entry is the idempotency record of the request under idempotency_key;
    -- the outcome is (seq, |amount|, balance_after, lot_id for a credit), else it is in qubrid_idempotency.
    lot_id           bigint      NULL,
    fingerprint      text        NULL,
    member_id        text        NULL,                              -- usage billed to an organization: the member it was for (migration 0050)
    project_id       text        NULL,                              -- and the project it named
    PRIMARY KEY (wallet_id, seq),
    CONSTRAINT qubrid_ledger_fingerprint_has_key CHECK (fingerprint IS NULL OR idempotency_key IS NOT NULL)
);
CREATE INDEX qubrid_ledger_at ON qubrid_ledger (wallet_id, at);             -- date ranges: history from/to, statements, the spend limits' tally, usage
CREATE INDEX qubrid_ledger_kind ON qubrid_ledger (wallet_id, kind, seq);     -- the history's kind filter, newest first
-- A key recorded by an entry, once per wallet; the commit also checks it against qubrid_idempotency (qubrid_expect_new_keys).
CREATE UNIQUE INDEX qubrid_ledger_idempotency ON qubrid_ledger (wallet_id, idempotency_key) WHERE fingerprint IS NOT NULL;

-- What each entry took from or added to each lot; an entry's movements sum to its amount (R-LEDGER-2). Lean rows
-- (migration 0040) put an entry's one lot in qubrid_ledger.lot_id: only entries that span lots have rows here.
-- No foreign key to qubrid_ledger: migration 0005 dropped it (its per-row check cost more than the rest of a
-- commit); the entry is written by the same transaction and reconcile checks that every movement has one.
CREATE TABLE qubrid_ledger_lots (
    wallet_id  text   NOT NULL,
    seq        bigint NOT NULL,
    lot_id     bigint NOT NULL,
    amount     bigint NOT NULL CHECK (amount <> 0),
    PRIMARY KEY (wallet_id, seq, lot_id)
);

-- One row per acknowledged request under an idempotency key, per wallet (R-IDEM-2..4): the same key and
-- fingerprint replays this result; another fingerprint is 409. Lean rows (migration 0040) keep here only what no
-- entry says: recorded refusals, zero debits, holds; the rest is the entry's fingerprint.
CREATE TABLE qubrid_idempotency (
    wallet_id        text        NOT NULL,
    idempotency_key  text        NOT NULL,
    fingerprint      text        NOT NULL,              -- SHA-256 (first 16 bytes, hex) of the request's canonical form
    seq              bigint      NULL,                  -- the entry written; null for an inference charge that debited 0
    amount           bigint      NOT NULL,
    balance_after    bigint      NOT NULL,
    lot_id           bigint      NULL,                  -- the lot a credit created
    created_at       timestamptz NOT NULL,
    refusal_code     text        NULL,                  -- a recorded 402 (insufficient_credits): the key answers it again
    refusal_detail   text        NULL,
    PRIMARY KEY (wallet_id, idempotency_key),
    CONSTRAINT qubrid_idempotency_refusal_has_no_entry CHECK (refusal_code IS NULL OR (seq IS NULL AND lot_id IS NULL))
);

-- Per wallet and model, the fraction of a micro-credit charged for inference but not yet debited (R-INF-2).
CREATE TABLE qubrid_inference_carry (
    wallet_id     text    NOT NULL REFERENCES qubrid_wallets (wallet_id),
    model         text    NOT NULL,
    carry_micros  numeric NOT NULL CHECK (carry_micros >= 0 AND carry_micros < 1),
    PRIMARY KEY (wallet_id, model)
);

-- Spend controls (R-HOLD, R-LIMIT, R-AUTO in docs/rules.md), written in the ledger transaction like the rest of the wallet.
-- A hold keeps its amount from available while active; its capture is a hold_capture entry. The controls row holds
-- the owner's and the admin's limits (null: none; a null admin limit means the platform default), the period start
-- for which each limit event was raised (once per period) and the auto top-up with its attempt in flight.
CREATE TABLE qubrid_holds (
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
CREATE INDEX qubrid_holds_active ON qubrid_holds (wallet_id) WHERE state = 'active';

CREATE TABLE qubrid_wallet_controls (
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

-- The ledger is append-only: corrections are new entries, never edits.
CREATE FUNCTION qubrid_ledger_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only (% on %)', TG_OP, TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
END $$;

CREATE TRIGGER qubrid_ledger_append_only BEFORE UPDATE OR DELETE ON qubrid_ledger
    FOR EACH ROW EXECUTE FUNCTION qubrid_ledger_is_append_only();
CREATE TRIGGER qubrid_ledger_lots_append_only BEFORE UPDATE OR DELETE ON qubrid_ledger_lots
    FOR EACH ROW EXECUTE FUNCTION qubrid_ledger_is_append_only();

-- A ledger commit is one round trip whose statements run in one implicit transaction, so the wallet version
-- check must fail on the server: the optimistic UPDATE of qubrid_wallets passes the number of rows it moved,
-- and a missing one raises SQLSTATE QB001, which rolls back everything the commit wrote.
CREATE FUNCTION qubrid_expect_rows(what text, actual bigint, expected bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF actual <> expected THEN
        RAISE EXCEPTION 'expected % rows of % to change, % did', expected, what, actual USING ERRCODE = 'QB001';
    END IF;
END $$;

-- The other check of a commit (migration 0040): a key it records must not be recorded already in the other place
-- (an entry's fingerprint, or qubrid_idempotency); the commit passes the count it found, any raises SQLSTATE QB002.
CREATE FUNCTION qubrid_expect_new_keys(taken bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF taken > 0 THEN
        RAISE EXCEPTION '% idempotency keys of the commit are already recorded', taken USING ERRCODE = 'QB002';
    END IF;
END $$;

-- The cluster version gate (migration 0040; docs/operations.md, "Upgrading to the lean ledger rows"): until the
-- operator runs finalize-upgrade (version 2), silos write the ledger rows the previous release reads. One row.
CREATE TABLE qubrid_cluster_version (
    id            smallint    PRIMARY KEY CHECK (id = 1),
    version       integer     NOT NULL CHECK (version >= 1),
    finalized_at  timestamptz NULL
);
INSERT INTO qubrid_cluster_version (id, version, finalized_at) VALUES (1, 2, now()); -- an empty database starts finalized
-- Which cluster version each silo process runs up to (registered before it joins); finalize-upgrade refuses while a silo
-- alive in OrleansMembershipTable has no row allowing the version it finalizes (a previous-release silo has none).
CREATE TABLE qubrid_silo_releases (
    deployment_id  text        NOT NULL,
    address        text        NOT NULL,
    port           integer     NOT NULL,
    generation     integer     NOT NULL,
    max_version    integer     NOT NULL,
    registered_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (deployment_id, address, port, generation)
);

------------------------------------------------------------------------------------------------------------
-- Part 1, Qubrid: sessions and events
------------------------------------------------------------------------------------------------------------

-- Metered GPU sessions as their wallet records them: the source of truth for what a session has paid
-- (R-SESS-*). Written in the wallet's ledger transaction; the session grain's own state is a cache.
CREATE TABLE qubrid_wallet_sessions (
    wallet_id      text        NOT NULL REFERENCES qubrid_wallets (wallet_id),
    session_id     text        NOT NULL,
    instance_type  text        NOT NULL,
    workload       text        NOT NULL,                                -- instance, training or notebook
    usd_per_hour   numeric(18, 6) NOT NULL CHECK (usd_per_hour > 0),    -- USD (not micro-credits), locked at start
    started_at     timestamptz NOT NULL,
    state          text        NOT NULL CHECK (state IN ('running', 'stopped', 'terminated')),
    stopped_at     timestamptz NULL,
    charged        bigint      NOT NULL CHECK (charged >= 0),           -- Σ of the session's session_charge entries
    end_reason     text        NULL,                                    -- stopped | insufficient_credits
    charged_through timestamptz NULL,                                   -- the latest instant charged up to (R-SESS-5)
    -- The metering shard bucket (0..65535): the first two bytes of md5(wallet_id), as MeteringShards.HashOf; shard = meter_shard % Shards.
    meter_shard    int GENERATED ALWAYS AS (('x' || substr(md5(wallet_id), 1, 4))::bit(16)::int) STORED,
    PRIMARY KEY (wallet_id, session_id)
);
-- A wallet loads its running sessions.
CREATE INDEX qubrid_wallet_sessions_running ON qubrid_wallet_sessions (wallet_id) WHERE state = 'running';
-- A metering shard's pass (Qubrid:Metering:Mode = Shards): the wallets with running sessions in its bucket.
CREATE INDEX qubrid_wallet_sessions_meter_shard ON qubrid_wallet_sessions (meter_shard, wallet_id) WHERE state = 'running';
-- GET /v1/sessions: newest first over all wallets, or of one wallet; and a session found by its id.
CREATE INDEX qubrid_wallet_sessions_newest ON qubrid_wallet_sessions (started_at DESC, wallet_id DESC, session_id DESC);
CREATE INDEX qubrid_wallet_sessions_wallet_newest ON qubrid_wallet_sessions (wallet_id, started_at DESC, session_id DESC);
CREATE INDEX qubrid_wallet_sessions_id ON qubrid_wallet_sessions (session_id);

-- The durable event feed the orchestrator reads (GET /v1/sessions/events, resumable by id). Written in the
-- ledger transaction that causes the event; ids are drawn under a transaction-scoped advisory lock so that
-- they follow commit order.
CREATE TABLE qubrid_events (
    id              bigserial   PRIMARY KEY,
    at              timestamptz NOT NULL,
    kind            text        NOT NULL CHECK (kind IN (
                                    'session_terminated', 'low_balance', 'balance_depleted', 'balance_recovered',
                                    'topup_succeeded', 'topup_failed', 'auto_topup_disabled', 'credits_expiring',
                                    'spend_limit_warning', 'spend_limit_reached', 'hold_expired', 'webhook_disabled',
                                    'refund_succeeded', 'refund_failed')),
    wallet_id       text        NOT NULL,
    session_id      text        NULL,
    reason          text        NULL,
    balance         bigint      NOT NULL,
    runway_seconds  bigint      NULL,
    data            jsonb       NULL   -- what is particular to the kind (limit and period, hold, payment, lot)
);
-- A user's webhook endpoint reads its own wallet's events after its cursor (migration 0020).
CREATE INDEX qubrid_events_wallet ON qubrid_events (wallet_id, id);

------------------------------------------------------------------------------------------------------------
-- Part 1, Qubrid: webhooks (migration 0020)
------------------------------------------------------------------------------------------------------------
-- Deliveries are derived from qubrid_events, the transactional outbox: each endpoint keeps a cursor (the last
-- event id it is done with); its delivery loop (src/Grains/Webhooks/WebhookEndpointGrain.cs) sends the events
-- after it in id order and moves it only once the receiver answered 2xx. webhook_disabled events of an admin
-- endpoint have wallet_id '' (no user id is empty).
CREATE TABLE qubrid_webhook_endpoints (
    endpoint_id      text        PRIMARY KEY,                         -- wh_ and 24 hex digits
    user_id          text        NULL,                                -- the owner's wallet; null: an admin endpoint (all events)
    url              text        NOT NULL,
    events           text[]      NOT NULL CHECK (cardinality(events) > 0),
    secret           text        NOT NULL,                            -- signs every request (HMAC-SHA256); shown once
    state            text        NOT NULL CHECK (state IN ('enabled', 'disabled')),
    cursor           bigint      NOT NULL,                            -- the last qubrid_events id this endpoint is done with
    failed_attempts  integer     NOT NULL DEFAULT 0,                  -- failed attempts of the event after the cursor
    failing_since    timestamptz NULL,                                -- the first of them (given up GiveUpAfter later)
    next_attempt_at  timestamptz NULL,
    disabled_at      timestamptz NULL,
    disabled_reason  text        NULL,
    created_at       timestamptz NOT NULL
);
CREATE INDEX qubrid_webhook_endpoints_user ON qubrid_webhook_endpoints (user_id, created_at);

-- One row per (endpoint, event) attempted, holding its latest attempt; replays update the same row.
CREATE TABLE qubrid_webhook_deliveries (
    delivery_id      bigserial   PRIMARY KEY,
    endpoint_id      text        NOT NULL REFERENCES qubrid_webhook_endpoints (endpoint_id) ON DELETE CASCADE,
    event_id         bigint      NOT NULL,
    event_type       text        NOT NULL,
    status           text        NOT NULL CHECK (status IN ('succeeded', 'failed')),
    attempts         integer     NOT NULL CHECK (attempts > 0),
    last_attempt_at  timestamptz NOT NULL,
    response_status  integer     NULL,
    error            text        NULL,
    delivered_at     timestamptz NULL,
    UNIQUE (endpoint_id, event_id)
);

------------------------------------------------------------------------------------------------------------
-- Part 1, Qubrid: receipts (migration 0021)
------------------------------------------------------------------------------------------------------------
-- Written by the ledger writer in the transaction that credits a top-up (CommitStatements.AddTopupReceipts): the
-- year's counter row moves by the number of receipts, so numbers commit or roll back with the credit (no gaps).
CREATE TABLE qubrid_receipt_counters (
    year         integer PRIMARY KEY,
    last_number  bigint  NOT NULL CHECK (last_number > 0)
);

CREATE TABLE qubrid_receipts (
    number      text        PRIMARY KEY,                 -- QC-<year>-<serial, 6 digits or more>
    year        integer     NOT NULL,
    serial      bigint      NOT NULL CHECK (serial > 0),
    wallet_id   text        NOT NULL,
    seq         bigint      NOT NULL,                    -- the top-up's ledger entry
    at          timestamptz NOT NULL,
    amount      bigint      NOT NULL CHECK (amount > 0),
    payment_id  text        NOT NULL,
    card_brand  text        NULL,                        -- from the payment row, as the gateway named the card
    card_last4  text        NULL,
    lot_id      bigint      NOT NULL,
    UNIQUE (year, serial),
    UNIQUE (wallet_id, seq),
    FOREIGN KEY (wallet_id, seq) REFERENCES qubrid_ledger (wallet_id, seq)
);
CREATE INDEX qubrid_receipts_wallet ON qubrid_receipts (wallet_id, at);

------------------------------------------------------------------------------------------------------------
-- Part 1, Qubrid: refunds to the card and credit notes (migration 0061)
------------------------------------------------------------------------------------------------------------
-- A refund row is written pending by the ledger writer in the wallet's transaction that reserves the amount on the
-- payment's lot, before the gateway is asked (CardRefundGrain); the transaction that writes the card_refund entry
-- moves it to succeeded and numbers its credit note from the year's counter row (gap-free, like receipts); a refund
-- the gateway refused moves to failed and writes nothing to the ledger (R-REFUND-*).
CREATE TABLE qubrid_card_refunds (
    refund_id        text        PRIMARY KEY,               -- re_<hash of payment id and key>: the gateway's idempotency key
    wallet_id        text        NOT NULL REFERENCES qubrid_wallets (wallet_id),
    payment_id       text        NOT NULL,
    idempotency_key  text        NOT NULL,
    lot_id           bigint      NOT NULL,                  -- the purchased lot the payment bought
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
CREATE INDEX qubrid_card_refunds_wallet ON qubrid_card_refunds (wallet_id, created_at);
CREATE INDEX qubrid_card_refunds_pending ON qubrid_card_refunds (payment_id) WHERE status = 'pending';

CREATE TABLE qubrid_credit_note_counters (
    year         integer PRIMARY KEY,
    last_number  bigint  NOT NULL CHECK (last_number > 0)
);

CREATE TABLE qubrid_credit_notes (
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

-- The sandbox payment gateway's own record of refunds, keyed by our refund id (asking twice never refunds twice).
CREATE TABLE qubrid_sandbox_refunds (
    refund_id   text        PRIMARY KEY,
    payment_id  text        NOT NULL,
    amount      bigint      NOT NULL CHECK (amount > 0),
    outcome     text        NOT NULL CHECK (outcome IN ('succeeded', 'failed')),
    created_at  timestamptz NOT NULL DEFAULT now()
);

------------------------------------------------------------------------------------------------------------
-- Part 1, Qubrid: organizations (migration 0050)
------------------------------------------------------------------------------------------------------------
-- Written by the organization's grain (src/Grains/Organizations), one activation per organization. Its wallet is an
-- ordinary qubrid_wallets row keyed by org_id (no sign-up bonus).
CREATE TABLE qubrid_organizations (
    org_id      text        PRIMARY KEY,
    name        text        NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    created_at  timestamptz NOT NULL
);

CREATE TABLE qubrid_org_members (
    org_id          text        NOT NULL REFERENCES qubrid_organizations (org_id),
    user_id         text        NOT NULL,
    role            text        NOT NULL CHECK (role IN ('owner', 'billing', 'member')),
    monthly_budget  bigint      NULL CHECK (monthly_budget >= 0),   -- per UTC month; null: none
    added_at        timestamptz NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
-- GET /v1/me/orgs: the organizations of a user.
CREATE INDEX qubrid_org_members_user ON qubrid_org_members (user_id);

CREATE TABLE qubrid_org_projects (
    org_id          text        NOT NULL REFERENCES qubrid_organizations (org_id),
    project_id      text        NOT NULL,
    monthly_budget  bigint      NULL CHECK (monthly_budget >= 0),   -- per UTC month; null: none
    created_at      timestamptz NOT NULL,
    PRIMARY KEY (org_id, project_id)
);

------------------------------------------------------------------------------------------------------------
-- Part 1, Qubrid: API keys and payments (written by the API process, not by the ledger writer)
------------------------------------------------------------------------------------------------------------

-- API keys, stored as SHA-256 hashes of the key. A user key belongs to exactly one user (R-ROLE-1).
CREATE TABLE qubrid_api_keys (
    key_hash    text        PRIMARY KEY,
    role        text        NOT NULL CHECK (role IN ('user', 'orchestrator', 'admin')),
    user_id     text        NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    -- key management: a public id and display prefix (never the secret); expiry, revocation, rotation's successor
    id           text        NOT NULL DEFAULT ('key_' || replace(gen_random_uuid()::text, '-', '')),
    prefix       text        NOT NULL DEFAULT '',
    last_used_at timestamptz NULL,                       -- written at most once a minute per key per API process
    expires_at   timestamptz NULL,
    revoked_at   timestamptz NULL,                       -- set by a revocation, or to the end of a rotation's grace
    rotated_to   text        NULL,
    CHECK ((role = 'user') = (user_id IS NOT NULL))
);
CREATE UNIQUE INDEX qubrid_api_keys_id ON qubrid_api_keys (id);
CREATE INDEX qubrid_api_keys_user ON qubrid_api_keys (user_id) WHERE user_id IS NOT NULL;

-- Top-up payments (R-TOPUP-*). A row is written before the card is charged and moves
-- pending → charged → succeeded, or to declined | failed. The wallet credit is keyed by payment_id.
CREATE TABLE qubrid_payments (
    payment_id       text        PRIMARY KEY,
    user_id          text        NOT NULL,
    idempotency_key  text        NOT NULL,
    fingerprint      text        NOT NULL,
    amount           bigint      NOT NULL CHECK (amount > 0),
    status           text        NOT NULL CHECK (status IN ('pending', 'charged', 'succeeded', 'declined', 'failed')),
    lot_id           bigint      NULL,                  -- the lot the credit created, once succeeded
    failure          text        NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    card_brand       text        NULL,                  -- the card the gateway charged (migration 0021), for the receipt
    card_last4       text        NULL,
    UNIQUE (user_id, idempotency_key)
);
-- PaymentRecovery settles rows left pending or charged.
CREATE INDEX qubrid_payments_unsettled ON qubrid_payments (updated_at) WHERE status IN ('pending', 'charged');

-- The sandbox payment gateway's own record of card charges, as a real gateway would keep one.
CREATE TABLE qubrid_sandbox_charges (
    payment_id  text        PRIMARY KEY,
    amount      bigint      NOT NULL,
    outcome     text        NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    card_brand  text        NULL,
    card_last4  text        NULL
);

------------------------------------------------------------------------------------------------------------
-- Part 1, Qubrid: promotions (migration 0060). The count moves in the reservation's transaction, only under the cap;
-- (promotion, wallet) is unique; a single-use code names the one wallet that took it.
------------------------------------------------------------------------------------------------------------
CREATE TABLE qubrid_promotions (
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
CREATE INDEX qubrid_promotions_created ON qubrid_promotions (created_at DESC, promotion_id);

-- Every code, shared or single-use, stored upper-case. A single-use code names the wallet that took it.
CREATE TABLE qubrid_promotion_codes (
    code          text        PRIMARY KEY,
    promotion_id  text        NOT NULL REFERENCES qubrid_promotions (promotion_id),
    single_use    boolean     NOT NULL,
    redeemed_by   text        NULL,
    CHECK (single_use OR redeemed_by IS NULL)
);

-- One row per wallet that redeemed a promotion: written ('pending') before the wallet's grant, marked 'done' with the
-- lot after it; a pending row is completed on the promotion's next activation (the grant's key makes that idempotent).
-- A reservation whose grant the wallet refused (its own key already used for another call) is deleted with its count.
CREATE TABLE qubrid_promotion_redemptions (
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
CREATE INDEX qubrid_promotion_redemptions_pending ON qubrid_promotion_redemptions (promotion_id) WHERE state = 'pending';

-- A redemption's idempotency key (per wallet): the code it named and how it was answered, so a replay answers the same.
CREATE TABLE qubrid_redemption_keys (
    wallet_id        text        NOT NULL,
    idempotency_key  text        NOT NULL,
    code             text        NOT NULL,
    status           text        NOT NULL,
    promotion_id     text        NULL,
    detail           text        NULL,
    created_at       timestamptz NOT NULL,
    PRIMARY KEY (wallet_id, idempotency_key)
);

------------------------------------------------------------------------------------------------------------
-- Part 2, Orleans: the ADO.NET clustering, reminders and grain storage tables
------------------------------------------------------------------------------------------------------------
-- As migration 0001_orleans.sql defines them (its header names the reference scripts and commits, and what
-- was changed: the unique index ux_orleansstorage_grain). Function bodies and query texts are unchanged.
-- OrleansQuery's rows are data, but Orleans cannot run without them: they are the only queries it issues.

------------------------------------------------------------------------------------------------------------
-- Main
------------------------------------------------------------------------------------------------------------

-- This table defines Orleans operational queries. Orleans uses these to manage its operations,
-- these are the only queries Orleans issues to the database.
CREATE TABLE OrleansQuery
(
    QueryKey varchar(64) NOT NULL,
    QueryText varchar(8000) NOT NULL,

    CONSTRAINT OrleansQuery_Key PRIMARY KEY(QueryKey)
);

------------------------------------------------------------------------------------------------------------
-- Clustering
------------------------------------------------------------------------------------------------------------

-- For each deployment, there will be only one (active) membership version table version column which will be updated periodically.
CREATE TABLE OrleansMembershipVersionTable
(
    DeploymentId varchar(150) NOT NULL,
    Timestamp timestamptz(3) NOT NULL DEFAULT now(),
    Version integer NOT NULL DEFAULT 0,

    CONSTRAINT PK_OrleansMembershipVersionTable_DeploymentId PRIMARY KEY(DeploymentId)
);

-- Every silo instance has a row in the membership table.
CREATE TABLE OrleansMembershipTable
(
    DeploymentId varchar(150) NOT NULL,
    Address varchar(45) NOT NULL,
    Port integer NOT NULL,
    Generation integer NOT NULL,
    SiloName varchar(150) NOT NULL,
    HostName varchar(150) NOT NULL,
    Status integer NOT NULL,
    ProxyPort integer NULL,
    SuspectTimes varchar(8000) NULL,
    StartTime timestamptz(3) NOT NULL,
    IAmAliveTime timestamptz(3) NOT NULL,

    CONSTRAINT PK_MembershipTable_DeploymentId PRIMARY KEY(DeploymentId, Address, Port, Generation),
    CONSTRAINT FK_MembershipTable_MembershipVersionTable_DeploymentId FOREIGN KEY (DeploymentId) REFERENCES OrleansMembershipVersionTable (DeploymentId)
);

CREATE FUNCTION update_i_am_alive_time(
    deployment_id OrleansMembershipTable.DeploymentId%TYPE,
    address_arg OrleansMembershipTable.Address%TYPE,
    port_arg OrleansMembershipTable.Port%TYPE,
    generation_arg OrleansMembershipTable.Generation%TYPE,
    i_am_alive_time OrleansMembershipTable.IAmAliveTime%TYPE)
  RETURNS void AS
$func$
BEGIN
    -- This is expected to never fail by Orleans, so return value
    -- is not needed nor is it checked.
    UPDATE OrleansMembershipTable as d
    SET
        IAmAliveTime = i_am_alive_time
    WHERE
        d.DeploymentId = deployment_id
        AND d.Address = address_arg
        AND d.Port = port_arg
        AND d.Generation = generation_arg;
END
$func$ LANGUAGE plpgsql;

INSERT INTO OrleansQuery(QueryKey, QueryText)
VALUES
(
    'UpdateIAmAlivetimeKey','
    -- This is expected to never fail by Orleans, so return value
    -- is not needed nor is it checked.
    SELECT * from update_i_am_alive_time(
        @DeploymentId,
        @Address,
        @Port,
        @Generation,
        @IAmAliveTime
    );
');

CREATE FUNCTION insert_membership_version(
    DeploymentIdArg OrleansMembershipTable.DeploymentId%TYPE
)
  RETURNS TABLE(row_count integer) AS
$func$
DECLARE
    RowCountVar int := 0;
BEGIN

    BEGIN

        INSERT INTO OrleansMembershipVersionTable
        (
            DeploymentId
        )
        SELECT DeploymentIdArg
        ON CONFLICT (DeploymentId) DO NOTHING;

        GET DIAGNOSTICS RowCountVar = ROW_COUNT;

        ASSERT RowCountVar <> 0, 'no rows affected, rollback';

        RETURN QUERY SELECT RowCountVar;
    EXCEPTION
    WHEN assert_failure THEN
        RETURN QUERY SELECT RowCountVar;
    END;

END
$func$ LANGUAGE plpgsql;

INSERT INTO OrleansQuery(QueryKey, QueryText)
VALUES
(
    'InsertMembershipVersionKey','
    SELECT * FROM insert_membership_version(
        @DeploymentId
    );
');

CREATE FUNCTION insert_membership(
    DeploymentIdArg OrleansMembershipTable.DeploymentId%TYPE,
    AddressArg      OrleansMembershipTable.Address%TYPE,
    PortArg         OrleansMembershipTable.Port%TYPE,
    GenerationArg   OrleansMembershipTable.Generation%TYPE,
    SiloNameArg     OrleansMembershipTable.SiloName%TYPE,
    HostNameArg     OrleansMembershipTable.HostName%TYPE,
    StatusArg       OrleansMembershipTable.Status%TYPE,
    ProxyPortArg    OrleansMembershipTable.ProxyPort%TYPE,
    StartTimeArg    OrleansMembershipTable.StartTime%TYPE,
    IAmAliveTimeArg OrleansMembershipTable.IAmAliveTime%TYPE,
    VersionArg      OrleansMembershipVersionTable.Version%TYPE)
  RETURNS TABLE(row_count integer) AS
$func$
DECLARE
    RowCountVar int := 0;
BEGIN

    BEGIN
        UPDATE OrleansMembershipVersionTable
        SET
            Timestamp = now(),
            Version = Version + 1
        WHERE
            DeploymentId = DeploymentIdArg AND DeploymentIdArg IS NOT NULL
            AND Version = VersionArg AND VersionArg IS NOT NULL AND Version < 2147483647;

        GET DIAGNOSTICS RowCountVar = ROW_COUNT;

        INSERT INTO OrleansMembershipTable
        (
            DeploymentId,
            Address,
            Port,
            Generation,
            SiloName,
            HostName,
            Status,
            ProxyPort,
            StartTime,
            IAmAliveTime
        )
        SELECT
            DeploymentIdArg,
            AddressArg,
            PortArg,
            GenerationArg,
            SiloNameArg,
            HostNameArg,
            StatusArg,
            ProxyPortArg,
            StartTimeArg,
            IAmAliveTimeArg
        WHERE RowCountVar > 0
        ON CONFLICT (DeploymentId, Address, Port, Generation) DO
            NOTHING;


        GET DIAGNOSTICS RowCountVar = ROW_COUNT;

        IF RowCountVar = 0 THEN
            RAISE EXCEPTION 'no rows affected, rollback' USING ERRCODE = 'assert_failure';
        END IF;


        RETURN QUERY SELECT RowCountVar;
    EXCEPTION
    WHEN assert_failure THEN
        RETURN QUERY SELECT RowCountVar;
    END;

END
$func$ LANGUAGE plpgsql;

INSERT INTO OrleansQuery(QueryKey, QueryText)
VALUES
(
    'InsertMembershipKey','
    SELECT * FROM insert_membership(
        @DeploymentId,
        @Address,
        @Port,
        @Generation,
        @SiloName,
        @HostName,
        @Status,
        @ProxyPort,
        @StartTime,
        @IAmAliveTime,
        @Version
    );
');

CREATE FUNCTION update_membership(
    DeploymentIdArg OrleansMembershipTable.DeploymentId%TYPE,
    AddressArg      OrleansMembershipTable.Address%TYPE,
    PortArg         OrleansMembershipTable.Port%TYPE,
    GenerationArg   OrleansMembershipTable.Generation%TYPE,
    StatusArg       OrleansMembershipTable.Status%TYPE,
    SuspectTimesArg OrleansMembershipTable.SuspectTimes%TYPE,
    IAmAliveTimeArg OrleansMembershipTable.IAmAliveTime%TYPE,
    VersionArg      OrleansMembershipVersionTable.Version%TYPE
  )
  RETURNS TABLE(row_count integer) AS
$func$
DECLARE
    RowCountVar int := 0;
BEGIN

    BEGIN

    UPDATE OrleansMembershipVersionTable
    SET
        Timestamp = now(),
        Version = Version + 1
    WHERE
        DeploymentId = DeploymentIdArg AND DeploymentIdArg IS NOT NULL
        AND Version = VersionArg AND VersionArg IS NOT NULL AND Version < 2147483647;


    GET DIAGNOSTICS RowCountVar = ROW_COUNT;

    UPDATE OrleansMembershipTable
    SET
        Status = StatusArg,
        SuspectTimes = SuspectTimesArg,
        IAmAliveTime = IAmAliveTimeArg
    WHERE
        DeploymentId = DeploymentIdArg AND DeploymentIdArg IS NOT NULL
        AND Address = AddressArg AND AddressArg IS NOT NULL
        AND Port = PortArg AND PortArg IS NOT NULL
        AND Generation = GenerationArg AND GenerationArg IS NOT NULL
        AND RowCountVar > 0;


        GET DIAGNOSTICS RowCountVar = ROW_COUNT;

        IF RowCountVar = 0 THEN
            RAISE EXCEPTION 'no rows affected, rollback' USING ERRCODE = 'assert_failure';
        END IF;


        RETURN QUERY SELECT RowCountVar;
    EXCEPTION
    WHEN assert_failure THEN
        RETURN QUERY SELECT RowCountVar;
    END;

END
$func$ LANGUAGE plpgsql;

INSERT INTO OrleansQuery(QueryKey, QueryText)
VALUES
(
    'UpdateMembershipKey','
    SELECT * FROM update_membership(
        @DeploymentId,
        @Address,
        @Port,
        @Generation,
        @Status,
        @SuspectTimes,
        @IAmAliveTime,
        @Version
    );
');

INSERT INTO OrleansQuery(QueryKey, QueryText)
VALUES
(
    'MembershipReadRowKey','
    SELECT
        v.DeploymentId,
        m.Address,
        m.Port,
        m.Generation,
        m.SiloName,
        m.HostName,
        m.Status,
        m.ProxyPort,
        m.SuspectTimes,
        m.StartTime,
        m.IAmAliveTime,
        v.Version
    FROM
        OrleansMembershipVersionTable v
        -- This ensures the version table will returned even if there is no matching membership row.
        LEFT OUTER JOIN OrleansMembershipTable m ON v.DeploymentId = m.DeploymentId
        AND Address = @Address AND @Address IS NOT NULL
        AND Port = @Port AND @Port IS NOT NULL
        AND Generation = @Generation AND @Generation IS NOT NULL
    WHERE
        v.DeploymentId = @DeploymentId AND @DeploymentId IS NOT NULL;
');

INSERT INTO OrleansQuery(QueryKey, QueryText)
VALUES
(
    'MembershipReadAllKey','
    SELECT
        v.DeploymentId,
        m.Address,
        m.Port,
        m.Generation,
        m.SiloName,
        m.HostName,
        m.Status,
        m.ProxyPort,
        m.SuspectTimes,
        m.StartTime,
        m.IAmAliveTime,
        v.Version
    FROM
        OrleansMembershipVersionTable v LEFT OUTER JOIN OrleansMembershipTable m
        ON v.DeploymentId = m.DeploymentId
    WHERE
        v.DeploymentId = @DeploymentId AND @DeploymentId IS NOT NULL;
');

INSERT INTO OrleansQuery(QueryKey, QueryText)
VALUES
(
    'DeleteMembershipTableEntriesKey','
    DELETE FROM OrleansMembershipTable
    WHERE DeploymentId = @DeploymentId AND @DeploymentId IS NOT NULL;
    DELETE FROM OrleansMembershipVersionTable
    WHERE DeploymentId = @DeploymentId AND @DeploymentId IS NOT NULL;
');

INSERT INTO OrleansQuery(QueryKey, QueryText)
VALUES
(
    'GatewaysQueryKey','
    SELECT
        Address,
        ProxyPort,
        Generation
    FROM
        OrleansMembershipTable
    WHERE
        DeploymentId = @DeploymentId AND @DeploymentId IS NOT NULL
        AND Status = @Status AND @Status IS NOT NULL
        AND ProxyPort > 0;
');

INSERT INTO OrleansQuery(QueryKey, QueryText)
VALUES
(
    'CleanupDefunctSiloEntriesKey',
    'DELETE FROM OrleansMembershipTable
    WHERE DeploymentId = @DeploymentId
        AND @DeploymentId IS NOT NULL
        AND IAmAliveTime < @IAmAliveTime
        AND StartTime < @IAmAliveTime
        AND COALESCE(SuspectTimes, '''') = ''''
        AND Status = 6;
');

INSERT INTO OrleansQuery(QueryKey, QueryText)
VALUES
(
    'CleanupDefunctSiloEntryKey',
    'DELETE FROM OrleansMembershipTable
    WHERE DeploymentId = @DeploymentId AND Status = 6
        AND Address = @Address AND Port = @Port AND Generation = @Generation
        AND IAmAliveTime = @IAmAliveTime AND StartTime = @StartTime
        AND COALESCE(SuspectTimes, '''') = COALESCE(@SuspectTimes, '''');
');

------------------------------------------------------------------------------------------------------------
-- Reminders
------------------------------------------------------------------------------------------------------------

-- Orleans Reminders table - https://learn.microsoft.com/dotnet/orleans/grains/timers-and-reminders
CREATE TABLE OrleansRemindersTable
(
    ServiceId varchar(150) NOT NULL,
    GrainId varchar(150) NOT NULL,
    ReminderName varchar(150) NOT NULL,
    StartTime timestamptz(3) NOT NULL,
    Period bigint NOT NULL,
    GrainHash integer NOT NULL,
    Version integer NOT NULL,

    CONSTRAINT PK_RemindersTable_ServiceId_GrainId_ReminderName PRIMARY KEY(ServiceId, GrainId, ReminderName)
);

CREATE FUNCTION upsert_reminder_row(
    ServiceIdArg    OrleansRemindersTable.ServiceId%TYPE,
    GrainIdArg      OrleansRemindersTable.GrainId%TYPE,
    ReminderNameArg OrleansRemindersTable.ReminderName%TYPE,
    StartTimeArg    OrleansRemindersTable.StartTime%TYPE,
    PeriodArg       OrleansRemindersTable.Period%TYPE,
    GrainHashArg    OrleansRemindersTable.GrainHash%TYPE
  )
  RETURNS TABLE(version integer) AS
$func$
DECLARE
    VersionVar int := 0;
BEGIN

    INSERT INTO OrleansRemindersTable
    (
        ServiceId,
        GrainId,
        ReminderName,
        StartTime,
        Period,
        GrainHash,
        Version
    )
    SELECT
        ServiceIdArg,
        GrainIdArg,
        ReminderNameArg,
        StartTimeArg,
        PeriodArg,
        GrainHashArg,
        0
    ON CONFLICT (ServiceId, GrainId, ReminderName)
        DO UPDATE SET
            StartTime = excluded.StartTime,
            Period = excluded.Period,
            GrainHash = excluded.GrainHash,
            Version = OrleansRemindersTable.Version + 1
    RETURNING
        OrleansRemindersTable.Version INTO STRICT VersionVar;

    RETURN QUERY SELECT VersionVar AS versionr;

END
$func$ LANGUAGE plpgsql;

INSERT INTO OrleansQuery(QueryKey, QueryText)
VALUES
(
    'UpsertReminderRowKey','
    SELECT * FROM upsert_reminder_row(
        @ServiceId,
        @GrainId,
        @ReminderName,
        @StartTime,
        @Period,
        @GrainHash
    );
');

INSERT INTO OrleansQuery(QueryKey, QueryText)
VALUES
(
    'ReadReminderRowsKey','
    SELECT
        GrainId,
        ReminderName,
        StartTime,
        Period,
        Version
    FROM OrleansRemindersTable
    WHERE
        ServiceId = @ServiceId AND @ServiceId IS NOT NULL
        AND GrainId = @GrainId AND @GrainId IS NOT NULL;
');

INSERT INTO OrleansQuery(QueryKey, QueryText)
VALUES
(
    'ReadReminderRowKey','
    SELECT
        GrainId,
        ReminderName,
        StartTime,
        Period,
        Version
    FROM OrleansRemindersTable
    WHERE
        ServiceId = @ServiceId AND @ServiceId IS NOT NULL
        AND GrainId = @GrainId AND @GrainId IS NOT NULL
        AND ReminderName = @ReminderName AND @ReminderName IS NOT NULL;
');

INSERT INTO OrleansQuery(QueryKey, QueryText)
VALUES
(
    'ReadRangeRows1Key','
    SELECT
        GrainId,
        ReminderName,
        StartTime,
        Period,
        Version
    FROM OrleansRemindersTable
    WHERE
        ServiceId = @ServiceId AND @ServiceId IS NOT NULL
        AND GrainHash > @BeginHash AND @BeginHash IS NOT NULL
        AND GrainHash <= @EndHash AND @EndHash IS NOT NULL;
');

INSERT INTO OrleansQuery(QueryKey, QueryText)
VALUES
(
    'ReadRangeRows2Key','
    SELECT
        GrainId,
        ReminderName,
        StartTime,
        Period,
        Version
    FROM OrleansRemindersTable
    WHERE
        ServiceId = @ServiceId AND @ServiceId IS NOT NULL
        AND ((GrainHash > @BeginHash AND @BeginHash IS NOT NULL)
        OR (GrainHash <= @EndHash AND @EndHash IS NOT NULL));
');

CREATE FUNCTION delete_reminder_row(
    ServiceIdArg    OrleansRemindersTable.ServiceId%TYPE,
    GrainIdArg      OrleansRemindersTable.GrainId%TYPE,
    ReminderNameArg OrleansRemindersTable.ReminderName%TYPE,
    VersionArg      OrleansRemindersTable.Version%TYPE
)
  RETURNS TABLE(row_count integer) AS
$func$
DECLARE
    RowCountVar int := 0;
BEGIN


    DELETE FROM OrleansRemindersTable
    WHERE
        ServiceId = ServiceIdArg AND ServiceIdArg IS NOT NULL
        AND GrainId = GrainIdArg AND GrainIdArg IS NOT NULL
        AND ReminderName = ReminderNameArg AND ReminderNameArg IS NOT NULL
        AND Version = VersionArg AND VersionArg IS NOT NULL;

    GET DIAGNOSTICS RowCountVar = ROW_COUNT;

    RETURN QUERY SELECT RowCountVar;

END
$func$ LANGUAGE plpgsql;

INSERT INTO OrleansQuery(QueryKey, QueryText)
VALUES
(
    'DeleteReminderRowKey','
    SELECT * FROM delete_reminder_row(
        @ServiceId,
        @GrainId,
        @ReminderName,
        @Version
    );
');

INSERT INTO OrleansQuery(QueryKey, QueryText)
VALUES
(
    'DeleteReminderRowsKey','
    DELETE FROM OrleansRemindersTable
    WHERE
        ServiceId = @ServiceId AND @ServiceId IS NOT NULL;
');

------------------------------------------------------------------------------------------------------------
-- Persistence
------------------------------------------------------------------------------------------------------------

CREATE TABLE OrleansStorage
(
    grainidhash integer NOT NULL,
    grainidn0 bigint NOT NULL,
    grainidn1 bigint NOT NULL,
    graintypehash integer NOT NULL,
    graintypestring character varying(512)  NOT NULL,
    grainidextensionstring character varying(512) ,
    serviceid character varying(150)  NOT NULL,
    payloadbinary bytea,
    modifiedon timestamp without time zone NOT NULL,
    version integer
);

CREATE INDEX ix_orleansstorage
    ON orleansstorage USING btree
    (grainidhash, graintypehash);

-- Added (not in the reference): one row per grain identity. These are exactly the columns, and the
-- null-safe GrainIdExtensionString comparison, that ReadFromStorageKey/WriteToStorage use to find a row.
-- With it, the INSERT ... WHERE NOT EXISTS first write in writetostorage can no longer create a second
-- row when two writers race: the loser gets unique_violation (23505), which Orleans surfaces as a failed write.
CREATE UNIQUE INDEX ux_orleansstorage_grain
    ON orleansstorage USING btree
    (grainidhash, graintypehash, grainidn0, grainidn1, graintypestring, grainidextensionstring, serviceid)
    NULLS NOT DISTINCT;

CREATE FUNCTION writetostorage(
    _grainidhash integer,
    _grainidn0 bigint,
    _grainidn1 bigint,
    _graintypehash integer,
    _graintypestring character varying,
    _grainidextensionstring character varying,
    _serviceid character varying,
    _grainstateversion integer,
    _payloadbinary bytea)
    RETURNS TABLE(newgrainstateversion integer)
    LANGUAGE 'plpgsql'
AS $function$
    DECLARE
     _newGrainStateVersion integer := _GrainStateVersion;
     RowCountVar integer := 0;

    BEGIN

    -- Grain state is not null, so the state must have been read from the storage before.
    -- Let's try to update it.
    --
    -- When Orleans is running in normal, non-split state, there will
    -- be only one grain with the given ID and type combination only. This
    -- grain saves states mostly serially if Orleans guarantees are upheld. Even
    -- if not, the updates should work correctly due to version number.
    --
    -- In split brain situations there can be a situation where there are two or more
    -- grains with the given ID and type combination. When they try to INSERT
    -- concurrently, the table needs to be locked pessimistically before one of
    -- the grains gets @GrainStateVersion = 1 in return and the other grains will fail
    -- to update storage. The following arrangement is made to reduce locking in normal operation.
    --
    -- If the version number explicitly returned is still the same, Orleans interprets it so the update did not succeed
    -- and throws an InconsistentStateException.
    --
    -- See further information at https://learn.microsoft.com/dotnet/orleans/grains/grain-persistence.
    IF _GrainStateVersion IS NOT NULL
    THEN
        UPDATE OrleansStorage
        SET
            PayloadBinary = _PayloadBinary,
            ModifiedOn = (now() at time zone 'utc'),
            Version = Version + 1

        WHERE
            GrainIdHash = _GrainIdHash AND _GrainIdHash IS NOT NULL
            AND GrainTypeHash = _GrainTypeHash AND _GrainTypeHash IS NOT NULL
            AND GrainIdN0 = _GrainIdN0 AND _GrainIdN0 IS NOT NULL
            AND GrainIdN1 = _GrainIdN1 AND _GrainIdN1 IS NOT NULL
            AND GrainTypeString = _GrainTypeString AND _GrainTypeString IS NOT NULL
            AND ((_GrainIdExtensionString IS NOT NULL AND GrainIdExtensionString IS NOT NULL AND GrainIdExtensionString = _GrainIdExtensionString) OR _GrainIdExtensionString IS NULL AND GrainIdExtensionString IS NULL)
            AND ServiceId = _ServiceId AND _ServiceId IS NOT NULL
            AND Version IS NOT NULL AND Version = _GrainStateVersion AND _GrainStateVersion IS NOT NULL;

        GET DIAGNOSTICS RowCountVar = ROW_COUNT;
        IF RowCountVar > 0
        THEN
            _newGrainStateVersion := _GrainStateVersion + 1;
        END IF;
    END IF;

    -- The grain state has not been read. The following locks rather pessimistically
    -- to ensure only one INSERT succeeds.
    -- (With ux_orleansstorage_grain a racing duplicate INSERT raises unique_violation.)
    IF _GrainStateVersion IS NULL
    THEN
        INSERT INTO OrleansStorage
        (
            GrainIdHash,
            GrainIdN0,
            GrainIdN1,
            GrainTypeHash,
            GrainTypeString,
            GrainIdExtensionString,
            ServiceId,
            PayloadBinary,
            ModifiedOn,
            Version
        )
        SELECT
            _GrainIdHash,
            _GrainIdN0,
            _GrainIdN1,
            _GrainTypeHash,
            _GrainTypeString,
            _GrainIdExtensionString,
            _ServiceId,
            _PayloadBinary,
           (now() at time zone 'utc'),
            1
        WHERE NOT EXISTS
         (
            -- There should not be any version of this grain state.
            SELECT 1
            FROM OrleansStorage
            WHERE
                GrainIdHash = _GrainIdHash AND _GrainIdHash IS NOT NULL
                AND GrainTypeHash = _GrainTypeHash AND _GrainTypeHash IS NOT NULL
                AND GrainIdN0 = _GrainIdN0 AND _GrainIdN0 IS NOT NULL
                AND GrainIdN1 = _GrainIdN1 AND _GrainIdN1 IS NOT NULL
                AND GrainTypeString = _GrainTypeString AND _GrainTypeString IS NOT NULL
                AND ((_GrainIdExtensionString IS NOT NULL AND GrainIdExtensionString IS NOT NULL AND GrainIdExtensionString = _GrainIdExtensionString) OR _GrainIdExtensionString IS NULL AND GrainIdExtensionString IS NULL)
                AND ServiceId = _ServiceId AND _ServiceId IS NOT NULL
         );

        GET DIAGNOSTICS RowCountVar = ROW_COUNT;
        IF RowCountVar > 0
        THEN
            _newGrainStateVersion := 1;
        END IF;
    END IF;

    RETURN QUERY SELECT _newGrainStateVersion AS NewGrainStateVersion;
END

$function$;

INSERT INTO OrleansQuery(QueryKey, QueryText)
VALUES
(
    'WriteToStorageKey','

        select * from WriteToStorage(@GrainIdHash, @GrainIdN0, @GrainIdN1, @GrainTypeHash, @GrainTypeString, @GrainIdExtensionString, @ServiceId, @GrainStateVersion, @PayloadBinary);
');

INSERT INTO OrleansQuery(QueryKey, QueryText)
VALUES
(
    'ReadFromStorageKey','
    SELECT
        PayloadBinary,
        (now() at time zone ''utc''),
        Version
    FROM
        OrleansStorage
    WHERE
        GrainIdHash = @GrainIdHash
        AND GrainTypeHash = @GrainTypeHash AND @GrainTypeHash IS NOT NULL
        AND GrainIdN0 = @GrainIdN0 AND @GrainIdN0 IS NOT NULL
        AND GrainIdN1 = @GrainIdN1 AND @GrainIdN1 IS NOT NULL
        AND GrainTypeString = @GrainTypeString AND GrainTypeString IS NOT NULL
        AND ((@GrainIdExtensionString IS NOT NULL AND GrainIdExtensionString IS NOT NULL AND GrainIdExtensionString = @GrainIdExtensionString) OR @GrainIdExtensionString IS NULL AND GrainIdExtensionString IS NULL)
        AND ServiceId = @ServiceId AND @ServiceId IS NOT NULL
');

INSERT INTO OrleansQuery(QueryKey, QueryText)
VALUES
(
    'ClearStorageKey','
    UPDATE OrleansStorage
    SET
        PayloadBinary = NULL,
        Version = Version + 1
    WHERE
        GrainIdHash = @GrainIdHash AND @GrainIdHash IS NOT NULL
        AND GrainTypeHash = @GrainTypeHash AND @GrainTypeHash IS NOT NULL
        AND GrainIdN0 = @GrainIdN0 AND @GrainIdN0 IS NOT NULL
        AND GrainIdN1 = @GrainIdN1 AND @GrainIdN1 IS NOT NULL
        AND GrainTypeString = @GrainTypeString AND @GrainTypeString IS NOT NULL
        AND ((@GrainIdExtensionString IS NOT NULL AND GrainIdExtensionString IS NOT NULL AND GrainIdExtensionString = @GrainIdExtensionString) OR @GrainIdExtensionString IS NULL AND GrainIdExtensionString IS NULL)
        AND ServiceId = @ServiceId AND @ServiceId IS NOT NULL
        AND Version IS NOT NULL AND Version = @GrainStateVersion AND @GrainStateVersion IS NOT NULL
    Returning Version as NewGrainStateVersion
');

INSERT INTO OrleansQuery(QueryKey, QueryText)
VALUES
(
    'DeleteStorageKey','
    DELETE FROM OrleansStorage
    WHERE
        GrainIdHash = @GrainIdHash AND @GrainIdHash IS NOT NULL
        AND GrainTypeHash = @GrainTypeHash AND @GrainTypeHash IS NOT NULL
        AND GrainIdN0 = @GrainIdN0 AND @GrainIdN0 IS NOT NULL
        AND GrainIdN1 = @GrainIdN1 AND @GrainIdN1 IS NOT NULL
        AND GrainTypeString = @GrainTypeString AND @GrainTypeString IS NOT NULL
        AND ((@GrainIdExtensionString IS NOT NULL AND GrainIdExtensionString IS NOT NULL AND GrainIdExtensionString = @GrainIdExtensionString) OR @GrainIdExtensionString IS NULL AND GrainIdExtensionString IS NULL)
        AND ServiceId = @ServiceId AND @ServiceId IS NOT NULL
        AND Version IS NOT NULL AND Version = @GrainStateVersion AND @GrainStateVersion IS NOT NULL
    Returning Version + 1 as NewGrainStateVersion
');
