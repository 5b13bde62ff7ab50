-- Exact money past a billion requests: the sub-nano remainder of each cost, in femto-dollars
-- (0 <= rem < 1e6), so that cost = cost_nanos + rem / 1e6 nano-dollars exactly.
ALTER TABLE ledger ADD COLUMN cost_rem_femtos BIGINT NOT NULL DEFAULT 0;
ALTER TABLE ledger ADD COLUMN baseline_cost_rem_femtos BIGINT NOT NULL DEFAULT 0;
-- Separately priced modalities (subsets of the input, cache-read and output token columns).
ALTER TABLE ledger ADD COLUMN input_audio_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE ledger ADD COLUMN input_image_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE ledger ADD COLUMN cache_read_audio_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE ledger ADD COLUMN output_audio_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE ledger ADD COLUMN output_image_tokens BIGINT NOT NULL DEFAULT 0;
-- True when usage is the gateway's estimate (request abandoned before the provider reported it).
ALTER TABLE ledger ADD COLUMN usage_estimated BOOLEAN NOT NULL DEFAULT FALSE;
