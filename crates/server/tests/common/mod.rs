//! What several test files share: a gateway started from a config text.

use std::sync::Arc;

use switchyard_server::{app, config, Gateway};

/// Start a gateway from the config `text` on a free loopback port, served until the test's
/// runtime ends; returns its base URL.
pub async fn serve(text: &str) -> String {
    let gw = Gateway::start(config::parse(text).unwrap(), None, Arc::new(|_: &str| None))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let listener = app::bind(([127, 0, 0, 1], 0).into()).await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(app::serve(listener, gw, std::future::pending()));
    url
}
