-- Hourly rollups, written with each ledger batch in the same transaction, so that a report
-- over a month reads a few thousand rows instead of millions. One row per (hour, dimension,
-- value) for each of the six dimensions a report groups by (a ledger row adds to six rows), and
-- latency / time-to-first-token histograms per (hour, dimension, value), one text row per
-- writer (each writer rewrites only its own rows, so replicas never contend). Money is
-- nano-dollars plus femto remainders, like the ledger. The writer keeps a histogram value as
-- the middle of its bin of 1/32 of an octave (within 1.6%); rows backfilled here keep theirs.
CREATE TABLE ledger_rollup (
    hour_ms              BIGINT NOT NULL,
    dim                  TEXT   NOT NULL,      -- route | rule | provider | model | task | tenant
    key                  TEXT   NOT NULL,      -- '' when the row has no value
    requests             BIGINT NOT NULL,
    ok                   BIGINT NOT NULL,
    cancelled            BIGINT NOT NULL,
    errors               BIGINT NOT NULL,
    unpriced             BIGINT NOT NULL,
    retried              BIGINT NOT NULL,
    escalated            BIGINT NOT NULL,
    cost_nanos           BIGINT NOT NULL,
    cost_rem_femtos      BIGINT NOT NULL,
    baseline_nanos       BIGINT NOT NULL,
    baseline_rem_femtos  BIGINT NOT NULL,
    savings_nanos        BIGINT NOT NULL,
    savings_rem_femtos   BIGINT NOT NULL,
    answer_nanos         BIGINT NOT NULL,
    answer_rem_femtos    BIGINT NOT NULL,
    input_tokens         BIGINT NOT NULL,
    cache_read_tokens    BIGINT NOT NULL,
    output_tokens        BIGINT NOT NULL,
    PRIMARY KEY (dim, hour_ms, key)
);

CREATE TABLE ledger_rollup_hist (
    hour_ms   BIGINT   NOT NULL,
    dim       TEXT     NOT NULL,
    key       TEXT     NOT NULL,
    metric    INTEGER NOT NULL,                -- 0 latency, 1 time to first token
    writer    TEXT     NOT NULL,                -- the ledger writer that owns the row
    hist      TEXT     NOT NULL,                -- 'value_ms:count,…'
    PRIMARY KEY (dim, hour_ms, key, metric, writer)
);

INSERT INTO ledger_rollup
SELECT (ts_ms / 3600000) * 3600000, 'route', COALESCE(route, ''),
       COUNT(*),
       SUM(CASE WHEN status = 'ok' THEN 1 ELSE 0 END),
       SUM(CASE WHEN status = 'client_cancelled' THEN 1 ELSE 0 END),
       SUM(CASE WHEN status NOT IN ('ok', 'client_cancelled') THEN 1 ELSE 0 END),
       SUM(CASE WHEN (unpriced OR cost_nanos IS NULL) THEN 1 ELSE 0 END),
       SUM(CASE WHEN attempt_count > 1 AND NOT (attempts LIKE '%"rejected"%') THEN 1 ELSE 0 END),
       SUM(CASE WHEN attempts LIKE '%"rejected"%' THEN 1 ELSE 0 END),
       COALESCE(SUM(CASE WHEN (NOT unpriced AND cost_nanos IS NOT NULL) THEN cost_nanos END), 0),
       COALESCE(SUM(CASE WHEN (NOT unpriced AND cost_nanos IS NOT NULL) THEN cost_rem_femtos END), 0),
       COALESCE(SUM(baseline_cost_nanos), 0),
       COALESCE(SUM(CASE WHEN baseline_cost_nanos IS NOT NULL THEN baseline_cost_rem_femtos END), 0),
       COALESCE(SUM(CASE WHEN (NOT unpriced AND cost_nanos IS NOT NULL) AND baseline_cost_nanos IS NOT NULL THEN baseline_cost_nanos - cost_nanos END), 0),
       COALESCE(SUM(CASE WHEN (NOT unpriced AND cost_nanos IS NOT NULL) AND baseline_cost_nanos IS NOT NULL THEN baseline_cost_rem_femtos - cost_rem_femtos END), 0),
       COALESCE(SUM(answer_cost_nanos), 0),
       COALESCE(SUM(CASE WHEN answer_cost_nanos IS NOT NULL THEN answer_cost_rem_femtos END), 0),
       SUM(input_tokens + cache_read_tokens + cache_write_5m_tokens + cache_write_1h_tokens),
       SUM(cache_read_tokens),
       SUM(output_tokens)
FROM ledger GROUP BY (ts_ms / 3600000) * 3600000, COALESCE(route, '');
INSERT INTO ledger_rollup_hist
SELECT h, 'route', k, 0, 'backfill', group_concat(v || ':' || c, ',')
FROM (SELECT (ts_ms / 3600000) * 3600000 AS h, COALESCE(route, '') AS k, latency_ms AS v, COUNT(*) AS c
      FROM ledger GROUP BY 1, 2, 3 ORDER BY 1, 2, 3) AS t
GROUP BY h, k;
INSERT INTO ledger_rollup_hist
SELECT h, 'route', k, 1, 'backfill', group_concat(v || ':' || c, ',')
FROM (SELECT (ts_ms / 3600000) * 3600000 AS h, COALESCE(route, '') AS k, ttft_ms AS v, COUNT(*) AS c
      FROM ledger WHERE ttft_ms IS NOT NULL GROUP BY 1, 2, 3 ORDER BY 1, 2, 3) AS t
GROUP BY h, k;

INSERT INTO ledger_rollup
SELECT (ts_ms / 3600000) * 3600000, 'rule', COALESCE(rule, ''),
       COUNT(*),
       SUM(CASE WHEN status = 'ok' THEN 1 ELSE 0 END),
       SUM(CASE WHEN status = 'client_cancelled' THEN 1 ELSE 0 END),
       SUM(CASE WHEN status NOT IN ('ok', 'client_cancelled') THEN 1 ELSE 0 END),
       SUM(CASE WHEN (unpriced OR cost_nanos IS NULL) THEN 1 ELSE 0 END),
       SUM(CASE WHEN attempt_count > 1 AND NOT (attempts LIKE '%"rejected"%') THEN 1 ELSE 0 END),
       SUM(CASE WHEN attempts LIKE '%"rejected"%' THEN 1 ELSE 0 END),
       COALESCE(SUM(CASE WHEN (NOT unpriced AND cost_nanos IS NOT NULL) THEN cost_nanos END), 0),
       COALESCE(SUM(CASE WHEN (NOT unpriced AND cost_nanos IS NOT NULL) THEN cost_rem_femtos END), 0),
       COALESCE(SUM(baseline_cost_nanos), 0),
       COALESCE(SUM(CASE WHEN baseline_cost_nanos IS NOT NULL THEN baseline_cost_rem_femtos END), 0),
       COALESCE(SUM(CASE WHEN (NOT unpriced AND cost_nanos IS NOT NULL) AND baseline_cost_nanos IS NOT NULL THEN baseline_cost_nanos - cost_nanos END), 0),
       COALESCE(SUM(CASE WHEN (NOT unpriced AND cost_nanos IS NOT NULL) AND baseline_cost_nanos IS NOT NULL THEN baseline_cost_rem_femtos - cost_rem_femtos END), 0),
       COALESCE(SUM(answer_cost_nanos), 0),
       COALESCE(SUM(CASE WHEN answer_cost_nanos IS NOT NULL THEN answer_cost_rem_femtos END), 0),
       SUM(input_tokens + cache_read_tokens + cache_write_5m_tokens + cache_write_1h_tokens),
       SUM(cache_read_tokens),
       SUM(output_tokens)
FROM ledger GROUP BY (ts_ms / 3600000) * 3600000, COALESCE(rule, '');
INSERT INTO ledger_rollup_hist
SELECT h, 'rule', k, 0, 'backfill', group_concat(v || ':' || c, ',')
FROM (SELECT (ts_ms / 3600000) * 3600000 AS h, COALESCE(rule, '') AS k, latency_ms AS v, COUNT(*) AS c
      FROM ledger GROUP BY 1, 2, 3 ORDER BY 1, 2, 3) AS t
GROUP BY h, k;
INSERT INTO ledger_rollup_hist
SELECT h, 'rule', k, 1, 'backfill', group_concat(v || ':' || c, ',')
FROM (SELECT (ts_ms / 3600000) * 3600000 AS h, COALESCE(rule, '') AS k, ttft_ms AS v, COUNT(*) AS c
      FROM ledger WHERE ttft_ms IS NOT NULL GROUP BY 1, 2, 3 ORDER BY 1, 2, 3) AS t
GROUP BY h, k;

INSERT INTO ledger_rollup
SELECT (ts_ms / 3600000) * 3600000, 'provider', COALESCE(provider, ''),
       COUNT(*),
       SUM(CASE WHEN status = 'ok' THEN 1 ELSE 0 END),
       SUM(CASE WHEN status = 'client_cancelled' THEN 1 ELSE 0 END),
       SUM(CASE WHEN status NOT IN ('ok', 'client_cancelled') THEN 1 ELSE 0 END),
       SUM(CASE WHEN (unpriced OR cost_nanos IS NULL) THEN 1 ELSE 0 END),
       SUM(CASE WHEN attempt_count > 1 AND NOT (attempts LIKE '%"rejected"%') THEN 1 ELSE 0 END),
       SUM(CASE WHEN attempts LIKE '%"rejected"%' THEN 1 ELSE 0 END),
       COALESCE(SUM(CASE WHEN (NOT unpriced AND cost_nanos IS NOT NULL) THEN cost_nanos END), 0),
       COALESCE(SUM(CASE WHEN (NOT unpriced AND cost_nanos IS NOT NULL) THEN cost_rem_femtos END), 0),
       COALESCE(SUM(baseline_cost_nanos), 0),
       COALESCE(SUM(CASE WHEN baseline_cost_nanos IS NOT NULL THEN baseline_cost_rem_femtos END), 0),
       COALESCE(SUM(CASE WHEN (NOT unpriced AND cost_nanos IS NOT NULL) AND baseline_cost_nanos IS NOT NULL THEN baseline_cost_nanos - cost_nanos END), 0),
       COALESCE(SUM(CASE WHEN (NOT unpriced AND cost_nanos IS NOT NULL) AND baseline_cost_nanos IS NOT NULL THEN baseline_cost_rem_femtos - cost_rem_femtos END), 0),
       COALESCE(SUM(answer_cost_nanos), 0),
       COALESCE(SUM(CASE WHEN answer_cost_nanos IS NOT NULL THEN answer_cost_rem_femtos END), 0),
       SUM(input_tokens + cache_read_tokens + cache_write_5m_tokens + cache_write_1h_tokens),
       SUM(cache_read_tokens),
       SUM(output_tokens)
FROM ledger GROUP BY (ts_ms / 3600000) * 3600000, COALESCE(provider, '');
INSERT INTO ledger_rollup_hist
SELECT h, 'provider', k, 0, 'backfill', group_concat(v || ':' || c, ',')
FROM (SELECT (ts_ms / 3600000) * 3600000 AS h, COALESCE(provider, '') AS k, latency_ms AS v, COUNT(*) AS c
      FROM ledger GROUP BY 1, 2, 3 ORDER BY 1, 2, 3) AS t
GROUP BY h, k;
INSERT INTO ledger_rollup_hist
SELECT h, 'provider', k, 1, 'backfill', group_concat(v || ':' || c, ',')
FROM (SELECT (ts_ms / 3600000) * 3600000 AS h, COALESCE(provider, '') AS k, ttft_ms AS v, COUNT(*) AS c
      FROM ledger WHERE ttft_ms IS NOT NULL GROUP BY 1, 2, 3 ORDER BY 1, 2, 3) AS t
GROUP BY h, k;

INSERT INTO ledger_rollup
SELECT (ts_ms / 3600000) * 3600000, 'model', COALESCE(model, ''),
       COUNT(*),
       SUM(CASE WHEN status = 'ok' THEN 1 ELSE 0 END),
       SUM(CASE WHEN status = 'client_cancelled' THEN 1 ELSE 0 END),
       SUM(CASE WHEN status NOT IN ('ok', 'client_cancelled') THEN 1 ELSE 0 END),
       SUM(CASE WHEN (unpriced OR cost_nanos IS NULL) THEN 1 ELSE 0 END),
       SUM(CASE WHEN attempt_count > 1 AND NOT (attempts LIKE '%"rejected"%') THEN 1 ELSE 0 END),
       SUM(CASE WHEN attempts LIKE '%"rejected"%' THEN 1 ELSE 0 END),
       COALESCE(SUM(CASE WHEN (NOT unpriced AND cost_nanos IS NOT NULL) THEN cost_nanos END), 0),
       COALESCE(SUM(CASE WHEN (NOT unpriced AND cost_nanos IS NOT NULL) THEN cost_rem_femtos END), 0),
       COALESCE(SUM(baseline_cost_nanos), 0),
       COALESCE(SUM(CASE WHEN baseline_cost_nanos IS NOT NULL THEN baseline_cost_rem_femtos END), 0),
       COALESCE(SUM(CASE WHEN (NOT unpriced AND cost_nanos IS NOT NULL) AND baseline_cost_nanos IS NOT NULL THEN baseline_cost_nanos - cost_nanos END), 0),
       COALESCE(SUM(CASE WHEN (NOT unpriced AND cost_nanos IS NOT NULL) AND baseline_cost_nanos IS NOT NULL THEN baseline_cost_rem_femtos - cost_rem_femtos END), 0),
       COALESCE(SUM(answer_cost_nanos), 0),
       COALESCE(SUM(CASE WHEN answer_cost_nanos IS NOT NULL THEN answer_cost_rem_femtos END), 0),
       SUM(input_tokens + cache_read_tokens + cache_write_5m_tokens + cache_write_1h_tokens),
       SUM(cache_read_tokens),
       SUM(output_tokens)
FROM ledger GROUP BY (ts_ms / 3600000) * 3600000, COALESCE(model, '');
INSERT INTO ledger_rollup_hist
SELECT h, 'model', k, 0, 'backfill', group_concat(v || ':' || c, ',')
FROM (SELECT (ts_ms / 3600000) * 3600000 AS h, COALESCE(model, '') AS k, latency_ms AS v, COUNT(*) AS c
      FROM ledger GROUP BY 1, 2, 3 ORDER BY 1, 2, 3) AS t
GROUP BY h, k;
INSERT INTO ledger_rollup_hist
SELECT h, 'model', k, 1, 'backfill', group_concat(v || ':' || c, ',')
FROM (SELECT (ts_ms / 3600000) * 3600000 AS h, COALESCE(model, '') AS k, ttft_ms AS v, COUNT(*) AS c
      FROM ledger WHERE ttft_ms IS NOT NULL GROUP BY 1, 2, 3 ORDER BY 1, 2, 3) AS t
GROUP BY h, k;

INSERT INTO ledger_rollup
SELECT (ts_ms / 3600000) * 3600000, 'task', COALESCE(task, ''),
       COUNT(*),
       SUM(CASE WHEN status = 'ok' THEN 1 ELSE 0 END),
       SUM(CASE WHEN status = 'client_cancelled' THEN 1 ELSE 0 END),
       SUM(CASE WHEN status NOT IN ('ok', 'client_cancelled') THEN 1 ELSE 0 END),
       SUM(CASE WHEN (unpriced OR cost_nanos IS NULL) THEN 1 ELSE 0 END),
       SUM(CASE WHEN attempt_count > 1 AND NOT (attempts LIKE '%"rejected"%') THEN 1 ELSE 0 END),
       SUM(CASE WHEN attempts LIKE '%"rejected"%' THEN 1 ELSE 0 END),
       COALESCE(SUM(CASE WHEN (NOT unpriced AND cost_nanos IS NOT NULL) THEN cost_nanos END), 0),
       COALESCE(SUM(CASE WHEN (NOT unpriced AND cost_nanos IS NOT NULL) THEN cost_rem_femtos END), 0),
       COALESCE(SUM(baseline_cost_nanos), 0),
       COALESCE(SUM(CASE WHEN baseline_cost_nanos IS NOT NULL THEN baseline_cost_rem_femtos END), 0),
       COALESCE(SUM(CASE WHEN (NOT unpriced AND cost_nanos IS NOT NULL) AND baseline_cost_nanos IS NOT NULL THEN baseline_cost_nanos - cost_nanos END), 0),
       COALESCE(SUM(CASE WHEN (NOT unpriced AND cost_nanos IS NOT NULL) AND baseline_cost_nanos IS NOT NULL THEN baseline_cost_rem_femtos - cost_rem_femtos END), 0),
       COALESCE(SUM(answer_cost_nanos), 0),
       COALESCE(SUM(CASE WHEN answer_cost_nanos IS NOT NULL THEN answer_cost_rem_femtos END), 0),
       SUM(input_tokens + cache_read_tokens + cache_write_5m_tokens + cache_write_1h_tokens),
       SUM(cache_read_tokens),
       SUM(output_tokens)
FROM ledger GROUP BY (ts_ms / 3600000) * 3600000, COALESCE(task, '');
INSERT INTO ledger_rollup_hist
SELECT h, 'task', k, 0, 'backfill', group_concat(v || ':' || c, ',')
FROM (SELECT (ts_ms / 3600000) * 3600000 AS h, COALESCE(task, '') AS k, latency_ms AS v, COUNT(*) AS c
      FROM ledger GROUP BY 1, 2, 3 ORDER BY 1, 2, 3) AS t
GROUP BY h, k;
INSERT INTO ledger_rollup_hist
SELECT h, 'task', k, 1, 'backfill', group_concat(v || ':' || c, ',')
FROM (SELECT (ts_ms / 3600000) * 3600000 AS h, COALESCE(task, '') AS k, ttft_ms AS v, COUNT(*) AS c
      FROM ledger WHERE ttft_ms IS NOT NULL GROUP BY 1, 2, 3 ORDER BY 1, 2, 3) AS t
GROUP BY h, k;

INSERT INTO ledger_rollup
SELECT (ts_ms / 3600000) * 3600000, 'tenant', COALESCE(tenant, ''),
       COUNT(*),
       SUM(CASE WHEN status = 'ok' THEN 1 ELSE 0 END),
       SUM(CASE WHEN status = 'client_cancelled' THEN 1 ELSE 0 END),
       SUM(CASE WHEN status NOT IN ('ok', 'client_cancelled') THEN 1 ELSE 0 END),
       SUM(CASE WHEN (unpriced OR cost_nanos IS NULL) THEN 1 ELSE 0 END),
       SUM(CASE WHEN attempt_count > 1 AND NOT (attempts LIKE '%"rejected"%') THEN 1 ELSE 0 END),
       SUM(CASE WHEN attempts LIKE '%"rejected"%' THEN 1 ELSE 0 END),
       COALESCE(SUM(CASE WHEN (NOT unpriced AND cost_nanos IS NOT NULL) THEN cost_nanos END), 0),
       COALESCE(SUM(CASE WHEN (NOT unpriced AND cost_nanos IS NOT NULL) THEN cost_rem_femtos END), 0),
       COALESCE(SUM(baseline_cost_nanos), 0),
       COALESCE(SUM(CASE WHEN baseline_cost_nanos IS NOT NULL THEN baseline_cost_rem_femtos END), 0),
       COALESCE(SUM(CASE WHEN (NOT unpriced AND cost_nanos IS NOT NULL) AND baseline_cost_nanos IS NOT NULL THEN baseline_cost_nanos - cost_nanos END), 0),
       COALESCE(SUM(CASE WHEN (NOT unpriced AND cost_nanos IS NOT NULL) AND baseline_cost_nanos IS NOT NULL THEN baseline_cost_rem_femtos - cost_rem_femtos END), 0),
       COALESCE(SUM(answer_cost_nanos), 0),
       COALESCE(SUM(CASE WHEN answer_cost_nanos IS NOT NULL THEN answer_cost_rem_femtos END), 0),
       SUM(input_tokens + cache_read_tokens + cache_write_5m_tokens + cache_write_1h_tokens),
       SUM(cache_read_tokens),
       SUM(output_tokens)
FROM ledger GROUP BY (ts_ms / 3600000) * 3600000, COALESCE(tenant, '');
INSERT INTO ledger_rollup_hist
SELECT h, 'tenant', k, 0, 'backfill', group_concat(v || ':' || c, ',')
FROM (SELECT (ts_ms / 3600000) * 3600000 AS h, COALESCE(tenant, '') AS k, latency_ms AS v, COUNT(*) AS c
      FROM ledger GROUP BY 1, 2, 3 ORDER BY 1, 2, 3) AS t
GROUP BY h, k;
INSERT INTO ledger_rollup_hist
SELECT h, 'tenant', k, 1, 'backfill', group_concat(v || ':' || c, ',')
FROM (SELECT (ts_ms / 3600000) * 3600000 AS h, COALESCE(tenant, '') AS k, ttft_ms AS v, COUNT(*) AS c
      FROM ledger WHERE ttft_ms IS NOT NULL GROUP BY 1, 2, 3 ORDER BY 1, 2, 3) AS t
GROUP BY h, k;
