-- The request ledger: one row per request. Same logical schema as migrations/postgres.
-- Money is integer nano-dollars (1e-9 USD); NULL cost means unpriced, never 0.
CREATE TABLE IF NOT EXISTS ledger (
    id                    TEXT PRIMARY KEY,      -- uuid v7
    ts_ms                 BIGINT  NOT NULL,      -- unix epoch milliseconds
    tenant                TEXT    NOT NULL,
    key_id                TEXT,                  -- gateway key id / hash prefix, never a raw key
    tags                  TEXT    NOT NULL,      -- JSON array of strings
    task                  TEXT,
    ingress               TEXT    NOT NULL,      -- openai | anthropic
    route                 TEXT,
    rule                  TEXT,
    stream                BOOLEAN NOT NULL,
    decision              TEXT    NOT NULL,      -- JSON
    provider              TEXT,
    model                 TEXT,
    attempt_count         INTEGER NOT NULL,
    attempts              TEXT    NOT NULL,      -- JSON array of attempts
    input_tokens          BIGINT  NOT NULL,
    cache_read_tokens     BIGINT  NOT NULL,
    cache_write_5m_tokens BIGINT  NOT NULL,
    cache_write_1h_tokens BIGINT  NOT NULL,
    output_tokens         BIGINT  NOT NULL,
    reasoning_tokens      BIGINT  NOT NULL,
    cost_nanos            BIGINT,
    baseline_cost_nanos   BIGINT,
    unpriced              BOOLEAN NOT NULL,
    catalog_version       TEXT,
    overhead_us           BIGINT  NOT NULL,
    latency_ms            BIGINT  NOT NULL,
    status                TEXT    NOT NULL,      -- ok | error | client_cancelled | ...
    http_status           INTEGER NOT NULL,
    error_class           TEXT
);
CREATE INDEX IF NOT EXISTS ledger_ts ON ledger (ts_ms);
CREATE INDEX IF NOT EXISTS ledger_tenant_ts ON ledger (tenant, ts_ms);
