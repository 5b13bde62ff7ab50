//! The ledger table's columns, shared by the SQLite/PostgreSQL insert and select paths.

/// Columns in insert/select order.
pub(crate) const COLUMNS: &str = "id, ts_ms, tenant, key_id, tags, task, ingress, route, rule, \
    stream, decision, provider, model, attempt_count, attempts, input_tokens, cache_read_tokens, \
    cache_write_5m_tokens, cache_write_1h_tokens, output_tokens, reasoning_tokens, cost_nanos, \
    baseline_cost_nanos, unpriced, catalog_version, overhead_us, latency_ms, status, http_status, \
    error_class, cost_rem_femtos, baseline_cost_rem_femtos, input_audio_tokens, \
    input_image_tokens, cache_read_audio_tokens, output_audio_tokens, output_image_tokens, \
    usage_estimated, ttft_ms, answer_cost_nanos, answer_cost_rem_femtos, service_tier, \
    cached_from, cache_saved_nanos, cache_saved_rem_femtos";

/// u64 → BIGINT, saturating (no real count reaches 2^63).
pub(crate) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}
