//! Lambda entry point for `links` (HTTP API): what customers click in follow-up emails.
//! Set up logging, build the app once, serve.

use aftercart::apps::links::LinksApp;
use aftercart::model::time::SystemClock;
use lambda_http::{run, service_fn, Error};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    aftercart::apps::telemetry::init();
    let app = LinksApp::from_env(Arc::new(SystemClock)).await?;
    // Built once and borrowed by every request.
    let app = &app;
    run(service_fn(move |req| async move {
        Ok::<_, Error>(app.handle(req).await)
    }))
    .await
}
