-- credits_expiring: 7 days and 1 day before a promotional lot with something left expires, once each. A lot records
-- which notices it has raised (0 none, 1 the 7-day one, 2 the 1-day one), written with its remaining.
ALTER TABLE qubrid_lots ADD COLUMN IF NOT EXISTS expiry_notices smallint NOT NULL DEFAULT 0 CHECK (expiry_notices BETWEEN 0 AND 2);
