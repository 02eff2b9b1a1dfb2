-- Scoped credits (docs/rules.md#R-SCOPE-1): a grant may carry a scope, {instanceTypes?, models?, workloads?} as canonical
-- JSON (CreditScopes.ToJson); its lot pays only for usage that matches every list given. NULL: unscoped, as every lot the
-- previous release writes (it never names the column). Expand-only: a nullable column and a check that rows without a
-- scope always pass. Only promotional lots are scoped.
ALTER TABLE qubrid_lots ADD COLUMN IF NOT EXISTS scope jsonb NULL;
ALTER TABLE qubrid_lots DROP CONSTRAINT IF EXISTS qubrid_lots_scope_check;
ALTER TABLE qubrid_lots ADD CONSTRAINT qubrid_lots_scope_check
    CHECK (scope IS NULL OR (kind = 'promotional' AND jsonb_typeof(scope) = 'object'));
