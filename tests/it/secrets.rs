//! Secrets from SSM Parameter Store: real SecureStrings in moto's SSM, read by the
//! production client (its timeouts included) through `aftercart::adapters::ssm::resolve`.

use aftercart::adapters::ssm::aws_sdk_ssm::config::{Credentials, Region};
use aftercart::adapters::ssm::aws_sdk_ssm::types::ParameterType;
use aftercart::adapters::ssm::aws_sdk_ssm::Client;
use aftercart::adapters::ssm::{resolve, ssm_client_from, SecretError};
use aftercart_integration::endpoint;
use std::collections::HashMap;

async fn ssm() -> Client {
    let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "it"))
        .load()
        .await;
    ssm_client_from(&shared)
}

/// A fresh parameter path per test, so tests never see each other's parameters.
fn prefix() -> String {
    format!("/aftercart-it/{:016x}", fastrand::u64(..))
}

async fn put(client: &Client, name: &str, value: &str, kind: ParameterType) {
    client
        .put_parameter()
        .name(name)
        .value(value)
        .r#type(kind)
        // The production client's short timeouts can make the SDK retry a put that
        // landed; overwriting makes that retry harmless.
        .overwrite(true)
        .send()
        .await
        .unwrap_or_else(|e| panic!("creating {name} in moto: {e:?}"));
}

fn lookup(pairs: Vec<(String, String)>) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs.into_iter().collect();
    move |k| map.get(k).cloned()
}

#[tokio::test]
async fn secure_strings_named_by_param_variables_are_read_and_decrypted_in_batches() {
    let client = ssm().await;
    let p = prefix();
    // Twelve parameters: more than one GetParameters call holds (ten).
    let mut env = Vec::new();
    let mut vars = Vec::new();
    for i in 0..12 {
        let name = format!("{p}/secret-{i:02}");
        put(
            &client,
            &name,
            &format!("value-{i:02}"),
            ParameterType::SecureString,
        )
        .await;
        env.push((format!("SECRET_{i:02}_PARAM"), name));
        vars.push(format!("SECRET_{i:02}"));
    }
    // One read from the plain variable, one unset.
    env.push(("LOCAL_ONLY".into(), "from-env".into()));
    vars.extend(["LOCAL_ONLY".into(), "NOT_SET".into()]);
    let vars: Vec<&str> = vars.iter().map(String::as_str).collect();

    let secrets = resolve(&vars, lookup(env), || async { client.clone() })
        .await
        .unwrap();

    for i in 0..12 {
        assert_eq!(
            secrets.get(&format!("SECRET_{i:02}")),
            Some(format!("value-{i:02}").as_str())
        );
    }
    assert_eq!(secrets.get("LOCAL_ONLY"), Some("from-env"));
    assert_eq!(secrets.get("NOT_SET"), None);
}

#[tokio::test]
async fn a_parameter_that_does_not_exist_fails_naming_it() {
    let client = ssm().await;
    let p = prefix();
    let present = format!("{p}/present");
    put(
        &client,
        &present,
        "present-value",
        ParameterType::SecureString,
    )
    .await;
    let absent = format!("{p}/absent");

    let e = resolve(
        &["PRESENT", "ABSENT"],
        lookup(vec![
            ("PRESENT_PARAM".into(), present),
            ("ABSENT_PARAM".into(), absent.clone()),
        ]),
        || async { client.clone() },
    )
    .await
    .unwrap_err();

    assert!(
        matches!(&e, SecretError::NotFound { var, name } if var == "ABSENT" && *name == absent),
        "{e:?}"
    );
    let msg = e.to_string();
    assert!(
        msg.contains(&absent) && msg.contains("ABSENT_PARAM"),
        "{msg}"
    );
    assert!(!msg.contains("present-value"), "{msg}");
}

#[tokio::test]
async fn a_plain_string_parameter_is_refused_as_a_secret() {
    let client = ssm().await;
    let name = format!("{}/plaintext", prefix());
    put(&client, &name, "plaintext-value", ParameterType::String).await;

    let e = resolve(
        &["LINK_KEYS"],
        lookup(vec![("LINK_KEYS_PARAM".into(), name.clone())]),
        || async { client.clone() },
    )
    .await
    .unwrap_err();

    assert!(
        matches!(&e, SecretError::NotSecure { kind, .. } if kind == "String"),
        "{e:?}"
    );
    let msg = e.to_string();
    assert!(
        msg.contains(&name) && !msg.contains("plaintext-value"),
        "{msg}"
    );
}

#[tokio::test]
async fn an_unreachable_ssm_fails_start_up_within_the_timeouts() {
    // Nothing listens on this port any more: connecting is refused at once.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(format!("http://127.0.0.1:{port}"))
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "it"))
        .load()
        .await;
    let started = std::time::Instant::now();

    let e = resolve(
        &["LINK_KEYS"],
        lookup(vec![(
            "LINK_KEYS_PARAM".into(),
            "/aftercart/link-keys".into(),
        )]),
        || async { ssm_client_from(&shared) },
    )
    .await
    .unwrap_err();

    assert!(matches!(e, SecretError::Ssm { .. }), "{e:?}");
    assert!(e.to_string().contains("/aftercart/link-keys"), "{e}");
    assert!(started.elapsed() < std::time::Duration::from_secs(6));
}
