//! Reasoning budgets and efforts across APIs: a thinking budget in tokens (Anthropic's
//! `budget_tokens`, Gemini's `thinkingBudget`) read as the OpenAI effort clients of other APIs
//! understand.

/// The effort a positive thinking budget stands for: up to 2,048 tokens `low`, up to 16,384
/// `medium`, more `high`.
pub(crate) fn effort_for_budget(tokens: u64) -> &'static str {
    match tokens {
        0..=2048 => "low",
        2049..=16_384 => "medium",
        _ => "high",
    }
}
