-- Webhook endpoints and their deliveries (SPEC.md, events and webhooks). Deliveries are derived from qubrid_events,
-- the transactional outbox: each endpoint keeps a cursor (the last event id it is done with) and its delivery loop
-- sends the events after it in id order, so an event that did not commit is never sent and one that did is never lost.
CREATE TABLE IF NOT EXISTS qubrid_webhook_endpoints (
    endpoint_id      text        PRIMARY KEY,
    user_id          text        NULL,                -- the owner's wallet; null: an admin endpoint (every wallet's events)
    url              text        NOT NULL,
    events           text[]      NOT NULL CHECK (cardinality(events) > 0),
    secret           text        NOT NULL,            -- signs every request (HMAC-SHA256); shown once at creation
    state            text        NOT NULL CHECK (state IN ('enabled', 'disabled')),
    cursor           bigint      NOT NULL,            -- the last qubrid_events id this endpoint is done with
    failed_attempts  integer     NOT NULL DEFAULT 0,  -- failed attempts of the event after the cursor
    failing_since    timestamptz NULL,                -- the first of them (retries stop 3 days later)
    next_attempt_at  timestamptz NULL,
    disabled_at      timestamptz NULL,
    disabled_reason  text        NULL,
    created_at       timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS qubrid_webhook_endpoints_user ON qubrid_webhook_endpoints (user_id, created_at);

-- One row per (endpoint, event) attempted: its latest attempt. Replays update the same row.
CREATE TABLE IF NOT EXISTS qubrid_webhook_deliveries (
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

-- A user endpoint reads its own wallet's events after its cursor.
CREATE INDEX IF NOT EXISTS qubrid_events_wallet ON qubrid_events (wallet_id, id);
