//! Provider adapters: wire types, conversion, streaming, error classification.
