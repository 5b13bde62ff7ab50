-- Prompt and answer text of requests on routes whose operator opted in to capture
-- (`capture = { retention = "7d" }`), written with their ledger row in the same transaction.
-- A capture is never read after `expires_ms`, and the writer deletes expired ones; routes
-- without `capture` never write here.
CREATE TABLE IF NOT EXISTS captures (
    request_id  TEXT PRIMARY KEY,
    ts_ms       BIGINT NOT NULL,
    expires_ms  BIGINT NOT NULL,
    prompt      TEXT NOT NULL,
    answer      TEXT,
    truncated   BOOLEAN NOT NULL
);
CREATE INDEX IF NOT EXISTS captures_expires ON captures (expires_ms);
