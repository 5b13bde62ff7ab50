-- The answering attempt's time to first token (streams), and its cost alone: the list-price
-- cost of the answer, next to `cost_*`, the effective cost (every billed attempt: failures,
-- escalations). Both NULL when there was no answer (or no stream, for the TTFT).
ALTER TABLE ledger ADD COLUMN ttft_ms BIGINT;
ALTER TABLE ledger ADD COLUMN answer_cost_nanos BIGINT;
ALTER TABLE ledger ADD COLUMN answer_cost_rem_femtos BIGINT NOT NULL DEFAULT 0;
