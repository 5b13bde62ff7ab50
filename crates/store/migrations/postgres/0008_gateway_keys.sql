-- Gateway keys (tenants), shared by every replica on this database. Only the SHA-256 of a key
-- is stored (keys are 238 random bits, so a fast hash is enough); the key itself is shown
-- once, at creation. `spec` is the key's grant as JSON (team, routes, models, tags, …).
CREATE TABLE IF NOT EXISTS gateway_keys (
    id          TEXT PRIMARY KEY,
    hash        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    spec        TEXT NOT NULL,
    created_ms  BIGINT NOT NULL,
    revoked_ms  BIGINT
);
