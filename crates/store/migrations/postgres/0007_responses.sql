-- Stored Responses API turns (`store: true`, the default): the `response` object and the
-- conversation's items up to it, so `GET /v1/responses/{id}` and `previous_response_id` work
-- across replicas. Scoped to the tenant that created them; never read after `expires_ms`, and
-- deleted by the ledger writer once expired.
CREATE TABLE IF NOT EXISTS responses (
    id          TEXT PRIMARY KEY,
    tenant      TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    created_ms  BIGINT NOT NULL,
    expires_ms  BIGINT NOT NULL,
    body        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS responses_expires ON responses (expires_ms);
