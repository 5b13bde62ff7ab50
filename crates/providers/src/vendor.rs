//! How each vendor's OpenAI-shaped usage is read. Which vendor a provider is (the catalog key
//! that bills it) is decided once, by `switchyard_pricing::vendor::resolve`; the table of what
//! each vendor's usage fields include is in `docs/pricing.md`.

use switchyard_types::OpenAiDialect;

/// How a vendor's OpenAI-shaped usage counts reasoning tokens.
pub fn openai_dialect(vendor: &str) -> OpenAiDialect {
    match vendor {
        "xai" => OpenAiDialect::ReasoningOutsideCompletion,
        _ => OpenAiDialect::Standard,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_xai_reports_reasoning_beside_completion_tokens() {
        assert_eq!(
            openai_dialect("xai"),
            OpenAiDialect::ReasoningOutsideCompletion
        );
        for v in ["openai", "groq", "deepseek", "openrouter", "azure-openai"] {
            assert_eq!(openai_dialect(v), OpenAiDialect::Standard, "{v}");
        }
    }
}
