use super::*;
use std::collections::HashMap;

const SAMPLE: &str = include_str!("../../../../infra/aftercart.toml");

fn sample_config() -> Config {
    Config::parse(SAMPLE, "infra/aftercart.toml").expect("the sample config is valid")
}

fn now() -> DateTime<Utc> {
    "2026-12-30T15:00:00Z".parse().unwrap()
}

/// A scratch directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!(
            "aftercart-cli-{tag}-{}-{:x}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, content).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |var| map.get(var).cloned()
}

const SECRETS: &[(&str, &str)] = &[("AFTERCART_WEBHOOK_SECRETS", "local-dev-secret")];

/// A one-shop config file whose shop table gets `shop_extra`.
fn config_file(dir: &TempDir, shop_extra: &str) -> PathBuf {
    dir.write(
        "aftercart.toml",
        &format!(
            "[[shop]]\npostal_address = \"1 Test Street, Springfield\"\ndomain = \"acme.myshopify.com\"\nsender_email = \"hello@acme.example\"\n{shop_extra}"
        ),
    )
}

// ---------------------------------------------------------------------------------------
// preview

#[test]
fn preview_renders_every_playbook_to_html_for_the_sample_order() {
    let config = sample_config();
    let mut subjects = Vec::new();
    for playbook in Playbook::ALL {
        let p = preview(&config, playbook, None, None, now())
            .unwrap_or_else(|e| panic!("{}: {e:#}", playbook.as_str()));
        assert_eq!(p.playbook, playbook);
        let name = playbook.as_str();
        assert!(
            p.html.starts_with("<!DOCTYPE html>") && p.html.trim_end().ends_with("</html>"),
            "{name}: {}",
            p.html
        );
        assert!(
            p.html.contains("Hi Bob,") && p.html.contains("Aftercart Demo"),
            "{name}: the sample customer and the shop's brand"
        );
        assert!(!p.subject.is_empty() && !p.text.is_empty(), "{name}");
        let message = mail_parser::MessageParser::default()
            .parse(&p.eml)
            .unwrap_or_else(|| panic!("{name}: the .eml parses"));
        assert_eq!(message.subject(), Some(p.subject.as_str()), "{name}");
        assert_eq!(
            message.body_html(0).as_deref().map(str::trim_end),
            Some(p.html.trim_end()),
            "{name}: the .eml carries the same HTML"
        );
        assert_eq!(
            message
                .to()
                .and_then(|a| a.first())
                .and_then(|a| a.address()),
            Some("bob.norman@hostmail.com"),
            "{name}"
        );
        subjects.push(p.subject);
    }
    // Each playbook has its own template, not a shared fallback.
    let mut distinct = subjects.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), Playbook::ALL.len(), "{subjects:?}");
}

#[test]
fn preview_carries_each_playbooks_own_links() {
    let config = sample_config();
    let html = |p| preview(&config, p, None, None, now()).unwrap().html;
    assert_eq!(
        html(Playbook::Satisfaction).matches("/rate?t=").count(),
        5,
        "five rating links"
    );
    assert!(html(Playbook::Replenishment).contains("/reorder?t="));
    assert!(html(Playbook::ThankYou).contains("https://aftercart-demo.example/care/ipod"));
}

#[test]
fn preview_writes_html_text_and_eml() {
    let dir = TempDir::new("preview");
    let p = preview(&sample_config(), Playbook::Returns, None, None, now()).unwrap();
    let paths = p.write_to(&dir.0.join("outbox")).unwrap();
    let names: Vec<_> = paths
        .iter()
        .map(|p| p.file_name().unwrap().to_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        names,
        [
            "preview-returns.html",
            "preview-returns.txt",
            "preview-returns.eml"
        ]
    );
    assert_eq!(std::fs::read_to_string(&paths[0]).unwrap(), p.html);
}

#[test]
fn an_unknown_playbook_is_refused_listing_every_playbook() {
    let e = parse_playbook("thankyou").unwrap_err().to_string();
    for playbook in Playbook::ALL {
        assert!(e.contains(playbook.as_str()), "{e}");
    }
    assert_eq!(parse_playbook("recovery").unwrap(), Playbook::Recovery);
}

// ---------------------------------------------------------------------------------------
// Addresses and the links base: what load accepts, the message builder accepts

#[test]
fn every_address_the_config_accepts_builds_a_message_and_the_rest_would_fail_at_send() {
    let valid = [
        "shop@aftercart-demo.example",
        "first.last+vip@mail.shop.co.uk",
    ];
    // Each of these passed the load-time check before it used the builder's parser.
    let invalid = [
        "héllo@aftercart-demo.example",
        "Shop <shop@aftercart-demo.example>",
        "shop@@aftercart-demo.example",
        "shop@aftercart-demo.example,other@example.com",
        "shop.aftercart-demo.example",
    ];
    for field in ["sender_email", "support_email"] {
        for address in valid.iter().chain(&invalid) {
            let toml = SAMPLE.replacen(
                &format!("\n{field} = \""),
                &format!("\n{field} = \"{address}\"\n# was \""),
                1,
            );
            assert_ne!(toml, SAMPLE, "{field} is in the sample");
            let built = |config: &Config| {
                Playbook::ALL
                    .iter()
                    .all(|p| preview(config, *p, None, None, now()).is_ok())
            };
            match Config::parse(&toml, "t") {
                Ok(config) => {
                    assert!(
                        valid.contains(address),
                        "{field} = {address:?} was accepted"
                    );
                    assert!(
                        built(&config),
                        "{field} = {address:?} accepted but does not build"
                    );
                }
                Err(e) => {
                    assert!(invalid.contains(address), "{field} = {address:?}: {e}");
                    assert!(e.to_string().contains(&format!("shop[0].{field}")), "{e}");
                    // Had it been accepted, sending would have failed.
                    let mut config = sample_config();
                    let value = Some((*address).to_owned());
                    match field {
                        "sender_email" => config.shops[0].sender_email = value,
                        _ => config.shops[0].support_email = value,
                    }
                    assert!(!built(&config), "{field} = {address:?} refused but builds");
                }
            }
        }
    }
}

#[test]
fn every_links_base_the_config_accepts_builds_the_unsubscribe_header() {
    let valid = [
        "https://links.example.com",
        "https://abc.execute-api.eu-west-1.amazonaws.com/links/",
        "http://127.0.0.1:9000/lambda-url/links",
        "http://localhost:9000/lambda-url/links",
        "http://[::1]:9000/links",
    ];
    let invalid = [
        "http://links.example.com",
        "http://127.0.0.1.example.com/links",
        "https://links.example.com/liens-désabonnement",
    ];
    for base in valid.iter().chain(&invalid) {
        let toml = SAMPLE.replacen(
            "base_url = \"http://127.0.0.1:9000/lambda-url/links\"",
            &format!("base_url = \"{base}\""),
            1,
        );
        match Config::parse(&toml, "t") {
            Ok(config) => {
                assert!(valid.contains(base), "{base} was accepted");
                preview(&config, Playbook::Loyalty, None, None, now())
                    .unwrap_or_else(|e| panic!("{base} accepted but: {e:#}"));
            }
            Err(e) => {
                assert!(invalid.contains(base), "{base}: {e}");
                assert!(e.to_string().contains("links.base_url"), "{e}");
                let mut config = sample_config();
                config.links.base_url = (*base).to_owned();
                assert!(
                    preview(&config, Playbook::Loyalty, None, None, now()).is_err(),
                    "{base} refused but builds"
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// check-config

#[test]
fn check_config_passes_the_sample_config_and_notes_missing_secrets() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/aftercart.toml");
    let check = check_config(&path, env(SECRETS)).unwrap();
    assert_eq!(check.shops, 1);
    assert!(check.notes.is_empty(), "{:?}", check.notes);

    let check = check_config(&path, env(&[])).unwrap();
    assert!(
        check
            .notes
            .iter()
            .any(|n| n.contains("AFTERCART_WEBHOOK_SECRETS")),
        "{:?}",
        check.notes
    );
}

#[test]
fn check_config_loads_the_template_overrides_and_names_a_broken_file() {
    let dir = TempDir::new("broken");
    let templates = TempDir::new("templates");
    let path = config_file(
        &dir,
        &format!("templates_dir = {:?}\n", templates.0.display().to_string()),
    );
    templates.write("thank_you.subject", "Thanks for {{ order_name }}");
    check_config(&path, env(SECRETS)).expect("a good override loads");

    // An unclosed block: the file does not compile.
    templates.write(
        "thank_you.html",
        "{% extends \"layout.html\" %}{% block content %}<p>Hi</p>",
    );
    let e = format!("{:#}", check_config(&path, env(SECRETS)).unwrap_err());
    assert!(e.contains("thank_you.html"), "{e}");
    assert!(e.contains(&path.display().to_string()), "{e}");

    // It compiles, but a filter that does not exist fails its trial render.
    templates.write("thank_you.html", "<p>{{ first_name | shout }}</p>");
    let e = format!("{:#}", check_config(&path, env(SECRETS)).unwrap_err());
    assert!(e.contains("thank_you.html"), "{e}");
}

#[test]
fn check_config_refuses_a_missing_templates_dir() {
    let dir = TempDir::new("nodir");
    let missing = dir.0.join("no-such-templates");
    let path = config_file(
        &dir,
        &format!("templates_dir = {:?}\n", missing.display().to_string()),
    );
    let e = format!("{:#}", check_config(&path, env(SECRETS)).unwrap_err());
    assert!(e.contains("no-such-templates"), "{e}");
}

#[test]
fn check_config_refuses_a_shop_that_cannot_send() {
    let dir = TempDir::new("nosender");
    let path = dir.write(
        "aftercart.toml",
        "[[shop]]\npostal_address = \"1 Test Street, Springfield\"\ndomain = \"acme.myshopify.com\"\n",
    );
    let e = format!("{:#}", check_config(&path, env(SECRETS)).unwrap_err());
    assert!(
        e.contains("shop[0].sender_email") && e.contains("Fix: add sender_email"),
        "{e}"
    );
}

#[test]
fn check_config_notes_dev_mode_from_the_environment() {
    let dir = TempDir::new("devmode");
    let path = config_file(&dir, "");
    let check = check_config(&path, env(SECRETS)).unwrap();
    assert!(check.notes.is_empty(), "{:?}", check.notes);
    let on = [SECRETS[0], ("AFTERCART_DEV_MODE", "true")];
    let check = check_config(&path, env(&on)).unwrap();
    assert!(
        check.notes.iter().any(|n| n.contains("dev_mode is on")),
        "{:?}",
        check.notes
    );
}

#[test]
fn confirm_redact_takes_only_a_shop_domain() {
    assert_eq!(
        parse_shop_domain(" Acme.MyShopify.com ").unwrap(),
        "acme.myshopify.com"
    );
    for bad in [
        "",
        "acme",
        "acme.myshopify.com#PRIVACY",
        "acme.myshopify.com/x",
        "a b.myshopify.com",
    ] {
        let e = parse_shop_domain(bad).unwrap_err().to_string();
        assert!(e.contains("acme.myshopify.com"), "{bad}: {e}");
    }
}

#[tokio::test]
async fn reputation_refuses_a_bad_or_unknown_shop_before_reading_the_table() {
    // A client that is never called: both refusals come before any request.
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .build(),
    );
    let store = aftercart::adapters::dynamo::DynamoStore::new(
        client,
        "t",
        std::time::Duration::from_secs(1),
    );
    let config = sample_config();
    let e = reputation(&store, &config, "acme", false, now())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a shop domain"), "{e}");
    let e = reputation(&store, &config, "other.myshopify.com", true, now())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a shop of the config file"), "{e}");
}
