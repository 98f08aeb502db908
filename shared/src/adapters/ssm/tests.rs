use super::*;

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |k| map.get(k).cloned()
}

fn param(name: &str, value: &str, kind: ParameterType) -> Parameter {
    Parameter::builder()
        .name(name)
        .value(value)
        .r#type(kind)
        .arn(format!(
            "arn:aws:ssm:us-east-1:123456789012:parameter{name}"
        ))
        .build()
}

fn fetched(params: &[Parameter]) -> Fetched {
    let names: Vec<String> = params
        .iter()
        .map(|p| p.name().unwrap_or_default().to_owned())
        .collect();
    Fetched::from_response(&names, params)
}

#[test]
fn param_var_appends_the_suffix() {
    assert_eq!(
        param_var("AFTERCART_LINK_KEYS"),
        "AFTERCART_LINK_KEYS_PARAM"
    );
}

#[test]
fn a_param_variable_wins_over_the_plain_variable() {
    let p = plan(
        &["A", "B", "C"],
        env(&[("A_PARAM", "/x/a"), ("A", "ignored"), ("B", "b-value")]),
    );
    assert_eq!(p.source("A"), Some(&Source::Parameter("/x/a".into())));
    assert_eq!(p.source("B"), Some(&Source::Env));
    assert_eq!(p.source("C"), Some(&Source::Unset));
    assert_eq!(p.source("D"), None);
}

#[test]
fn empty_variables_count_as_unset() {
    let p = plan(
        &["A", "B"],
        env(&[("A_PARAM", "  "), ("A", ""), ("B", " ")]),
    );
    assert_eq!(p.source("A"), Some(&Source::Unset));
    assert_eq!(p.source("B"), Some(&Source::Unset));
}

#[test]
fn parameter_names_are_distinct_and_sorted() {
    let p = plan(
        &["A", "B", "C", "A"],
        env(&[("A_PARAM", "/z"), ("B_PARAM", "/a"), ("C_PARAM", "/z")]),
    );
    assert_eq!(p.parameter_names(), vec!["/a".to_owned(), "/z".to_owned()]);
}

#[test]
fn assemble_takes_env_values_and_secure_parameters() {
    let p = plan(
        &["A", "B", "C", "D"],
        env(&[("A_PARAM", "/x/a"), ("B", "b-value"), ("D_PARAM", "/x/a")]),
    );
    let s = p
        .assemble(fetched(&[param(
            "/x/a",
            "a-value",
            ParameterType::SecureString,
        )]))
        .unwrap();
    assert_eq!(s.get("A"), Some("a-value"));
    assert_eq!(s.get("B"), Some("b-value"));
    assert_eq!(s.get("C"), None);
    assert_eq!(s.value("D").as_deref(), Some("a-value"));
}

#[test]
fn a_missing_parameter_is_an_error_naming_variable_and_parameter() {
    let p = plan(&["LINKS"], env(&[("LINKS_PARAM", "/x/links")]));
    let e = p.assemble(Fetched::default()).unwrap_err();
    assert!(
        matches!(&e, SecretError::NotFound { var, name } if var == "LINKS" && name == "/x/links")
    );
    let msg = e.to_string();
    assert!(msg.contains("LINKS_PARAM"), "{msg}");
    assert!(msg.contains("/x/links"), "{msg}");
    assert!(msg.contains("put-parameter --type SecureString"), "{msg}");
}

#[test]
fn a_plaintext_parameter_is_refused_without_showing_its_value() {
    let p = plan(&["LINKS"], env(&[("LINKS_PARAM", "/x/links")]));
    let e = p
        .assemble(fetched(&[param(
            "/x/links",
            "the-plaintext-secret",
            ParameterType::String,
        )]))
        .unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, SecretError::NotSecure { ref kind, .. } if kind == "String"));
    assert!(
        msg.contains("/x/links") && msg.contains("not a SecureString"),
        "{msg}"
    );
    assert!(!msg.contains("the-plaintext-secret"), "{msg}");
}

#[test]
fn parameters_asked_for_by_arn_or_selector_are_matched() {
    let by_arn = "arn:aws:ssm:us-east-1:123456789012:parameter/x/a".to_owned();
    let by_version = "/x/b:3".to_owned();
    let b = Parameter::builder()
        .name("/x/b")
        .value("b-value")
        .r#type(ParameterType::SecureString)
        .selector(":3")
        .build();
    let f = Fetched::from_response(
        &[by_arn.clone(), by_version.clone(), "/x/absent".into()],
        &[param("/x/a", "a-value", ParameterType::SecureString), b],
    );
    assert_eq!(f.0[&by_arn].value.expose_secret(), "a-value");
    assert_eq!(f.0[&by_version].value.expose_secret(), "b-value");
    assert!(!f.0.contains_key("/x/absent"));
}

#[test]
fn debug_output_never_shows_values() {
    let p = plan(
        &["A", "B"],
        env(&[("A", "env-secret"), ("B_PARAM", "/x/b")]),
    );
    let f = fetched(&[param("/x/b", "ssm-secret", ParameterType::SecureString)]);
    let shown = format!("{p:?} {f:?}");
    let s = p.assemble(f).unwrap();
    let shown = format!("{shown} {s:?}");
    assert!(!shown.contains("env-secret"), "{shown}");
    assert!(!shown.contains("ssm-secret"), "{shown}");
    assert!(shown.contains("\"A\"") && shown.contains("/x/b"), "{shown}");
}

#[tokio::test]
async fn without_param_variables_no_ssm_client_is_built() {
    let s = resolve(&["A", "B"], env(&[("A", "a-value")]), || async {
        panic!("no parameter was named, so SSM must not be called")
    })
    .await
    .unwrap();
    assert_eq!(s.get("A"), Some("a-value"));
    assert_eq!(s.get("B"), None);
}
