-- Every event SPEC.md names (spend controls, top-ups, balance, expiry notices, webhooks), each written in the
-- transaction of the change that causes it. data holds what is particular to a kind (the limit and its period,
-- the hold, the payment, the lot), as a JSON object; the columns before it stay what every event has.
ALTER TABLE qubrid_events DROP CONSTRAINT IF EXISTS qubrid_events_kind_check;
ALTER TABLE qubrid_events ADD CONSTRAINT qubrid_events_kind_check CHECK (kind IN (
    'session_terminated', 'low_balance', 'balance_depleted', 'balance_recovered', 'topup_succeeded', 'topup_failed',
    'auto_topup_disabled', 'credits_expiring', 'spend_limit_warning', 'spend_limit_reached', 'hold_expired',
    'webhook_disabled'));
ALTER TABLE qubrid_events ADD COLUMN IF NOT EXISTS data jsonb NULL;
