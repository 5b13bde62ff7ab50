//! The provider simulator: OpenAI/Anthropic/Gemini wire formats with scripted latency and faults.
