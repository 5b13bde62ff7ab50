//! The HTTP gateway: axum app, ingress, error mapping, config load and reload.
