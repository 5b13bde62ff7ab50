-- What prompt caching saved on this request: the same usage billed as plain input, minus what
-- was billed (negative when cache writes cost more than the reads saved). NULL when the usage
-- had no cache reads or writes.
ALTER TABLE ledger ADD COLUMN cache_saved_nanos BIGINT;
ALTER TABLE ledger ADD COLUMN cache_saved_rem_femtos BIGINT NOT NULL DEFAULT 0;
-- The report's prompt-cache figures read only these rows.
CREATE INDEX ledger_prompt_cache ON ledger (ts_ms) WHERE cache_saved_nanos IS NOT NULL;
