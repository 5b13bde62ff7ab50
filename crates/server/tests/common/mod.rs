//! What several test files share: a gateway started from a config text, and a ledger row read
//! back once the writer has flushed it.

#![allow(dead_code, reason = "each test binary uses a part")]

use std::{sync::Arc, time::Duration};

use switchyard_server::{app, config, Gateway, GatewayHandle};
use switchyard_store::{LedgerReader, LedgerRow};

/// Start a gateway from the config `text` on a free loopback port, served until the test's
/// runtime ends; returns its handle and base URL.
pub async fn start(text: &str) -> (GatewayHandle, String) {
    start_with_secrets(text, Arc::new(|_: &str| None)).await
}

/// [`start`], with the environment variables `secrets` answers.
pub async fn start_with_secrets(
    text: &str,
    secrets: switchyard_server::SecretLookup,
) -> (GatewayHandle, String) {
    let gw = Gateway::start(config::parse(text).unwrap(), None, secrets)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let listener = app::bind(([127, 0, 0, 1], 0).into()).await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(app::serve(listener, gw.clone(), std::future::pending()));
    (gw, url)
}

/// [`start`], when only the URL is needed.
pub async fn serve(text: &str) -> String {
    start(text).await.1
}

/// The ledger row of request `id` in the ledger at `url`, once written (panics after ~2 s).
pub async fn ledger_row(url: &str, id: &str) -> LedgerRow {
    let reader = LedgerReader::connect(url).await.unwrap();
    for _ in 0..200 {
        if let Some(r) = reader
            .rows(None, None)
            .await
            .unwrap()
            .into_iter()
            .find(|r| r.id == id)
        {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("row {id} never written");
}
