//! The Admin API client's HTTP transport: one JSON POST at a time, over the HTTP/TLS
//! stack the AWS SDK already links (hyper-util's client, hyper-rustls, rustls with the
//! aws-lc-rs crypto provider, the system's root certificates), so a function carries one
//! HTTPS stack, not two.
//!
//! What it guarantees (the client relies on each):
//! - a connect timeout (the request timeout, at most 3 s) and one deadline for the whole
//!   exchange, request and response body;
//! - redirects are never followed (a 3xx is an answer like any other: the token must not
//!   travel to another host);
//! - HTTPS only, unless the endpoint is the local plain-http fake the config allows on a
//!   loopback host ([`crate::config::check_admin_endpoint`]);
//! - HTTP/1.1, connections kept alive between calls of one warm function.

use bytes::Bytes;
use http::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_TYPE, USER_AGENT};
use http::StatusCode;
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::sync::Arc;
use std::time::Duration;

/// Longest response body read; an Admin API answer to our queries is a few KB.
const MAX_RESPONSE_BYTES: usize = 4 << 20;

const AGENT: &str = concat!("aftercart/", env!("CARGO_PKG_VERSION"));

/// Why a request got no response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// The deadline passed (connecting or waiting for the answer).
    TimedOut,
    /// No connection (refused, DNS, TLS handshake).
    Connect,
    /// The connection failed later (closed, reset, malformed answer).
    Failed,
    /// The request could not even be built (a bad URL or header): no retry would mend it.
    Invalid,
}

/// A response: status, headers and the body read in full, or why the body could not be
/// read (`body: None`: cut off, too long, or past the deadline).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Option<Bytes>,
}

/// HTTPS (or, for a loopback fake, plain HTTP) JSON POSTs with a deadline.
#[derive(Clone)]
pub struct Transport {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Transport {
    /// A transport whose every exchange ends within `timeout`; `https_only` refuses
    /// plain-http URLs (it is off only for a loopback endpoint override).
    pub fn new(timeout: Duration, https_only: bool) -> Result<Self, String> {
        let mut roots = rustls::RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        let (valid, _invalid) = roots.add_parsable_certificates(native.certs);
        if valid == 0 && https_only {
            return Err(format!(
                "no root CA certificates found on this system ({} errors loading them)",
                native.errors.len()
            ));
        }
        // The SDK's crypto provider (aws-smithy-http-client `rustls-aws-lc`): named here,
        // not taken from a process default, so no second provider is ever linked.
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS configuration: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false); // the TLS layer above takes https URLs
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(timeout.min(Duration::from_secs(3))));
        let builder = HttpsConnectorBuilder::new().with_tls_config(tls);
        let builder = if https_only {
            builder.https_only()
        } else {
            builder.https_or_http()
        };
        let connector = builder.enable_http1().wrap_connector(tcp);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .build(connector);
        Ok(Transport { client, timeout })
    }

    /// POSTs `body` (JSON) to `url` with `headers` added, and reads the answer, all
    /// within the timeout.
    pub async fn post_json(
        &self,
        url: &str,
        headers: &[(&'static str, &HeaderValue)],
        body: Vec<u8>,
    ) -> Result<Answer, SendError> {
        let mut request = http::Request::post(url)
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json")
            .header(USER_AGENT, AGENT);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|_| SendError::Invalid)?;
        let deadline = tokio::time::Instant::now() + self.timeout;
        let response = match tokio::time::timeout_at(deadline, self.client.request(request)).await {
            Err(_) => return Err(SendError::TimedOut),
            Ok(Err(e)) if timed_out(&e) => return Err(SendError::TimedOut),
            Ok(Err(e)) if e.is_connect() => return Err(SendError::Connect),
            Ok(Err(_)) => return Err(SendError::Failed),
            Ok(Ok(r)) => r,
        };
        let (parts, incoming) = response.into_parts();
        let read = Limited::new(incoming, MAX_RESPONSE_BYTES).collect();
        let body = match tokio::time::timeout_at(deadline, read).await {
            Ok(Ok(collected)) => Some(collected.to_bytes()),
            _ => None,
        };
        Ok(Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }
}

/// Whether an error's cause is a timeout (the connect timeout surfaces as an I/O error
/// of kind `TimedOut` inside the client's connect error).
fn timed_out(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        cause = c.source();
    }
    false
}
