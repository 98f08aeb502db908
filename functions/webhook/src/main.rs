//! Lambda entry point for `webhook`: set up logging, build the app once, serve.

use aftercart::apps::webhook::WebhookApp;
use lambda_http::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    aftercart::apps::telemetry::init();
    let app = WebhookApp::from_env().await?;
    // Built once and borrowed by every request.
    let app = &app;
    run(service_fn(move |req| async move {
        Ok::<_, Error>(app.handle(req).await)
    }))
    .await
}
