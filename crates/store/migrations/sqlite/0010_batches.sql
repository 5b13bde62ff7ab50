-- The batch lane (`POST /v1/files`, `POST /v1/batches`): uploaded files and the batches'
-- state, in the ledger's database so a batch survives a restart and any replica can answer
-- for it. Scoped to the tenant that created them. A batch's `state` is opaque JSON here (the
-- server's batch worker gives it meaning).
CREATE TABLE IF NOT EXISTS batch_files (
    id          TEXT PRIMARY KEY,
    tenant      TEXT NOT NULL,
    purpose     TEXT NOT NULL,
    filename    TEXT NOT NULL,
    created_ms  BIGINT NOT NULL,
    content     TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS batches (
    id          TEXT PRIMARY KEY,
    tenant      TEXT NOT NULL,
    status      TEXT NOT NULL,
    created_ms  BIGINT NOT NULL,
    state       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS batches_status ON batches (status);
-- The report's batch-lane figures read only the batch lane's rows.
CREATE INDEX IF NOT EXISTS ledger_batch_lane ON ledger (ts_ms) WHERE ingress = 'batch';
