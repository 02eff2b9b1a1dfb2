-- A business refusal (402 insufficient_credits) answered under an idempotency key is recorded like an applied
-- request: the same key answers the same refusal (the client retries with a new key after topping up).
-- refusal_code is null for an applied request.
ALTER TABLE qubrid_idempotency ADD COLUMN IF NOT EXISTS refusal_code text NULL;
ALTER TABLE qubrid_idempotency ADD COLUMN IF NOT EXISTS refusal_detail text NULL;
ALTER TABLE qubrid_idempotency DROP CONSTRAINT IF EXISTS qubrid_idempotency_refusal_has_no_entry;
ALTER TABLE qubrid_idempotency ADD CONSTRAINT qubrid_idempotency_refusal_has_no_entry CHECK (refusal_code IS NULL OR (seq IS NULL AND lot_id IS NULL));
