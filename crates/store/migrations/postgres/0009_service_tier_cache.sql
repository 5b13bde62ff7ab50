-- The service tier the answer was served (and billed) at, when not the standard one
-- (`flex`, `priority`), and, for an answer served from the response cache, the id of the
-- request whose answer it was (that row holds the cost the hit saved).
ALTER TABLE ledger ADD COLUMN service_tier TEXT;
ALTER TABLE ledger ADD COLUMN cached_from TEXT;
-- The report's cache and service-tier figures read only these rows.
CREATE INDEX ledger_economics ON ledger (ts_ms) WHERE cached_from IS NOT NULL OR service_tier IS NOT NULL;
