-- Quality signals beside their requests: each evaluator's judgement of an answer, the
-- combined verdict per answering attempt, and client feedback. Rows with `observed` are the
-- observations the quality model is rebuilt from at start (one per verdict or feedback).
CREATE TABLE IF NOT EXISTS signals (
    id TEXT PRIMARY KEY,
    request_id TEXT NOT NULL,
    ts_ms BIGINT NOT NULL,
    source TEXT NOT NULL,
    name TEXT NOT NULL,
    model TEXT,
    task TEXT,
    route TEXT,
    score DOUBLE PRECISION NOT NULL,
    passed BOOLEAN,
    observed BOOLEAN NOT NULL,
    label TEXT,
    detail TEXT
);
CREATE INDEX IF NOT EXISTS signals_request ON signals (request_id);
CREATE INDEX IF NOT EXISTS signals_observed ON signals (observed, task, model);
CREATE INDEX IF NOT EXISTS signals_ts ON signals (ts_ms);
