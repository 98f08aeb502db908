use super::*;

const GOOD: &str = r#"
[webhook]
max_body_bytes = 2097152

[[shop]]
postal_address = "1 Test Street, Springfield"
domain = "acme.myshopify.com"
name = "Acme"
sender_email = "hello@acme.example"

[[shop]]
postal_address = "1 Test Street, Springfield"
domain = "beta.myshopify.com"
webhook_secrets_env = "BETA_SECRETS"
sender_email = "hello@beta.example"
"#;

/// A minimal valid shop table (playbooks on by default, so it needs a sender).
const SHOP_A: &str = "[[shop]]\npostal_address = \"1 Test Street, Springfield\"\ndomain = \"a.myshopify.com\"\nsender_email = \"hello@a.example\"\n";

#[test]
fn parses_a_valid_file_with_defaults() {
    let c = Config::parse(GOOD, "test").unwrap();
    assert_eq!(c.webhook.max_body_bytes, 2 * 1024 * 1024);
    assert_eq!(c.webhook.store_budget_ms, 2500);
    assert_eq!(c.shops.len(), 2);
    assert_eq!(
        c.shop("acme.myshopify.com").unwrap().name.as_deref(),
        Some("Acme")
    );
}

#[test]
fn unknown_field_is_named() {
    let e = Config::parse(
        "[[shop]]\npostal_address = \"1 Test Street, Springfield\"\ndomian = \"a.myshopify.com\"\n",
        "t",
    )
    .unwrap_err();
    assert!(e.to_string().contains("domian"), "{e}");
}

#[test]
fn bad_domain_names_field_and_fix() {
    let e = Config::parse("[[shop]]\npostal_address = \"1 Test Street, Springfield\"\ndomain = \"https://Acme.myshopify.com\"\n", "t").unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("shop[0].domain") && msg.contains("Fix:"),
        "{msg}"
    );
}

#[test]
fn duplicate_shop_is_rejected() {
    let e = Config::parse(
        "[[shop]]\npostal_address = \"1 Test Street, Springfield\"\ndomain=\"a.b.com\"\nsender_email=\"s@b.com\"\n[[shop]]\npostal_address = \"1 Test Street, Springfield\"\ndomain=\"a.b.com\"\n",
        "t",
    )
    .unwrap_err();
    assert!(e.to_string().contains("twice"), "{e}");
}

#[test]
fn no_shop_is_rejected() {
    let e = Config::parse("", "t").unwrap_err();
    assert!(e.to_string().contains("[[shop]]"), "{e}");
}

#[test]
fn secrets_are_split_for_rotation_and_never_printed() {
    let c = Config::parse(GOOD, "test").unwrap();
    let s = WebhookSecrets::load(&c, |var| match var {
        "AFTERCART_WEBHOOK_SECRETS" => Some("new-one, old-one".into()),
        "BETA_SECRETS" => Some("beta".into()),
        _ => None,
    })
    .unwrap();
    assert_eq!(s.for_shop("acme.myshopify.com").unwrap().len(), 2);
    assert_eq!(s.for_shop("beta.myshopify.com").unwrap().len(), 1);
    let shown = format!("{s:?}");
    assert!(
        !shown.contains("new-one") && !shown.contains("beta\""),
        "{shown}"
    );
}

#[test]
fn product_urls_are_checked_at_load() {
    let e = Config::parse(
        "[[shop]]\npostal_address = \"1 Test Street, Springfield\"\ndomain = \"a.myshopify.com\"\n[[shop.product]]\nproduct_id = 1\ncare_url = \"www.example.com/care me\"\n",
        "t",
    )
    .unwrap_err();
    assert!(e.to_string().contains("shop[0].product[0].care_url"), "{e}");
}

#[test]
fn bad_time_zone_and_quiet_hours_name_the_field() {
    let e = Config::parse(
        "[[shop]]\npostal_address = \"1 Test Street, Springfield\"\ndomain = \"a.myshopify.com\"\ntime_zone = \"Mars/Olympus\"\n",
        "t",
    )
    .unwrap_err();
    assert!(e.to_string().contains("shop[0].time_zone"), "{e}");
    let e = Config::parse(
        "[[shop]]\npostal_address = \"1 Test Street, Springfield\"\ndomain = \"a.myshopify.com\"\nquiet_hours = { start = \"9pm\", end = \"08:00\" }\n",
        "t",
    )
    .unwrap_err();
    assert!(e.to_string().contains("shop[0].quiet_hours"), "{e}");
}

#[test]
fn replenishment_needs_lead_days_below_consumption_days() {
    let e = Config::parse(
        "[[shop]]\npostal_address = \"1 Test Street, Springfield\"\ndomain = \"a.myshopify.com\"\n[[shop.product]]\nsku = \"X\"\nconsumption_days = 5\nlead_days = 5\n",
        "t",
    )
    .unwrap_err();
    assert!(e.to_string().contains("product[0].lead_days"), "{e}");
}

#[test]
fn consumption_days_and_delays_beyond_the_planning_window_are_refused() {
    // A follow-up due more than 10 years out is never planned: say so at load.
    let base = "[[shop]]\npostal_address = \"1 Test Street, Springfield\"\ndomain = \"a.myshopify.com\"\nsender_email = \"s@a.example\"\n";
    for (extra, field) in [
        (
            "[[shop.product]]\nsku = \"X\"\nconsumption_days = 3654\n",
            "shop[0].product[0].consumption_days",
        ),
        (
            "[shop.playbooks.thank_you]\ndelay_hours = 87673\n",
            "shop[0].playbooks.thank_you.delay_hours",
        ),
        (
            "[shop.playbooks.satisfaction]\ndays_after_delivery = 4000000000\n",
            "shop[0].playbooks.satisfaction.days_after_delivery",
        ),
        (
            "[shop.playbooks.recovery]\ndelay_hours = 4294967295\n",
            "shop[0].playbooks.recovery.delay_hours",
        ),
    ] {
        let e = Config::parse(&format!("{base}{extra}"), "t").unwrap_err();
        assert!(e.to_string().contains(field), "{field}: {e}");
    }
    Config::parse(
        &format!("{base}[[shop.product]]\nsku = \"X\"\nconsumption_days = 3653\n[shop.playbooks.thank_you]\ndelay_hours = 87672\n"),
        "t",
    )
    .unwrap();
}

#[test]
fn the_sample_config_in_infra_is_valid() {
    Config::parse(
        include_str!("../../../infra/aftercart.toml"),
        "infra/aftercart.toml",
    )
    .unwrap();
}

fn with_loyalty(discount: &str) -> Result<Config, ConfigError> {
    Config::parse(
        &format!("{SHOP_A}[shop.playbooks.loyalty]\ndiscount = {discount}\n"),
        "t",
    )
}

#[test]
fn admin_settings_default_to_a_pinned_version_and_no_override() {
    let c = Config::parse(GOOD, "test").unwrap();
    assert_eq!(c.admin.api_version, "2025-10");
    assert_eq!(c.admin.timeout_ms, 10_000);
    assert_eq!(c.admin.endpoint, None);
    assert_eq!(c.shops[0].admin_token_env, None);
    assert_eq!(c.shops[0].playbooks.loyalty.discount, None);
}

#[test]
fn a_loyalty_discount_rule_parses_with_defaults() {
    let c = with_loyalty(
        "{ percentage = 15, combines_with = { order = true, product = false, shipping = true } }",
    )
    .unwrap();
    let d = c.shops[0].playbooks.loyalty.discount.clone().unwrap();
    assert_eq!(d.percentage, Some(rust_decimal::Decimal::from(15)));
    assert_eq!((d.days_valid, d.prefix.as_str()), (30, "THANKS"));
    assert!(d.combines_with.order && !d.combines_with.product && d.combines_with.shipping);
    let d = with_loyalty("{ amount = \"10.00\", applies_on_each_item = true, prefix = \"VIP\" }")
        .unwrap()
        .shops[0]
        .playbooks
        .loyalty
        .discount
        .clone()
        .unwrap();
    assert_eq!(d.amount, Some("10.00".parse().unwrap()));
    assert_eq!(d.combines_with, CombinesWith::default());
}

#[test]
fn bad_discount_rules_name_the_field_and_the_fix() {
    for (rule, field) in [
        ("{ days_valid = 30 }", "discount.percentage"),
        ("{ percentage = 10, amount = 5 }", "discount.amount"),
        ("{ percentage = 0.15 }", "discount.percentage"),
        ("{ percentage = 150 }", "discount.percentage"),
        ("{ amount = -1 }", "discount.amount"),
        (
            "{ percentage = 10, applies_on_each_item = true }",
            "applies_on_each_item",
        ),
        ("{ percentage = 10, days_valid = 0 }", "discount.days_valid"),
        (
            "{ percentage = 10, prefix = \"thanks-10\" }",
            "discount.prefix",
        ),
        (
            "{ percentage = 10, combines_with = { orders = true } }",
            "orders",
        ),
    ] {
        match with_loyalty(rule) {
            Ok(_) => panic!("{rule} was accepted"),
            Err(e) => {
                let msg = e.to_string();
                assert!(msg.contains(field), "{rule}: {msg}");
                if field.starts_with("discount.") || field == "applies_on_each_item" {
                    assert!(
                        msg.contains("shop[0].playbooks.loyalty.discount") && msg.contains("Fix:"),
                        "{rule}: {msg}"
                    );
                }
            }
        }
    }
}

#[test]
fn admin_endpoint_override_refuses_clear_text_off_the_machine() {
    let parse = |endpoint: &str| {
        Config::parse(
            &format!("[admin]\nendpoint = \"{endpoint}\"\n{SHOP_A}"),
            "t",
        )
    };
    for ok in [
        "http://127.0.0.1:5112",
        "http://localhost:8080/",
        "http://[::1]:9000",
        "https://admin-proxy.example.com",
    ] {
        parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    for bad in [
        "http://admin-proxy.example.com",
        "http://10.0.0.5:80",
        "ftp://127.0.0.1",
        "https://127.0.0.1/admin/api",
        "https://user:pw@example.com",
        "not a url",
    ] {
        let e = parse(bad).unwrap_err().to_string();
        assert!(
            e.contains("admin.endpoint") && e.contains("Fix:"),
            "{bad}: {e}"
        );
    }
}

#[test]
fn admin_version_and_token_variable_are_checked() {
    for (toml, field) in [
        ("[admin]\napi_version = \"2025-11\"\n", "admin.api_version"),
        ("[admin]\napi_version = \"latest\"\n", "admin.api_version"),
        ("[admin]\ntimeout_ms = 60000\n", "admin.timeout_ms"),
        ("[admin]\nmax_attempts = 0\n", "admin.max_attempts"),
    ] {
        let e = Config::parse(&format!("{toml}{SHOP_A}"), "t").unwrap_err();
        assert!(e.to_string().contains(field), "{e}");
    }
    Config::parse(
        &format!("[admin]\napi_version = \"2024-07\"\n{SHOP_A}"),
        "t",
    )
    .unwrap();
    let e = Config::parse(&format!("{SHOP_A}admin_token_env = \"acme-token\"\n"), "t").unwrap_err();
    assert!(e.to_string().contains("shop[0].admin_token_env"), "{e}");
}

#[test]
fn retention_defaults_to_two_years_and_reaches_every_shop() {
    let c = Config::parse(GOOD, "test").unwrap();
    assert_eq!(c.privacy.retention_days, 730);
    let c = Config::parse(&format!("[privacy]\nretention_days = 400\n{GOOD}"), "t").unwrap();
    assert!(c.shops.iter().all(|s| s.retention_days == 400));
}

#[test]
fn retention_out_of_range_names_the_field() {
    for days in [0, 29, 36_501] {
        let e =
            Config::parse(&format!("[privacy]\nretention_days = {days}\n{GOOD}"), "t").unwrap_err();
        assert!(e.to_string().contains("privacy.retention_days"), "{e}");
    }
}

#[test]
fn privacy_email_must_be_an_address() {
    let e = Config::parse(
        "[[shop]]\npostal_address = \"1 Test Street, Springfield\"\ndomain = \"a.myshopify.com\"\nprivacy_email = \"legal team\"\n",
        "t",
    )
    .unwrap_err();
    assert!(e.to_string().contains("shop[0].privacy_email"), "{e}");
}

#[test]
fn a_shop_with_playbooks_on_but_no_sender_is_refused_naming_the_field_and_the_fix() {
    // Every playbook is on by default: before this check such a file loaded, and
    // every follow-up failed when dispatch came to send it.
    let e = Config::parse(
        "[[shop]]\npostal_address = \"1 Test Street, Springfield\"\ndomain = \"a.myshopify.com\"\n",
        "t",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("shop[0].sender_email: is missing")
            && e.contains("thank_you, satisfaction, replenishment, loyalty, returns, recovery")
            && e.contains("Fix: add sender_email = "),
        "{e}"
    );
    // Named per shop, and only the playbooks that are on.
    let off = |names: &[&str]| {
        names
            .iter()
            .map(|n| format!("[shop.playbooks.{n}]\nenabled = false\n"))
            .collect::<String>()
    };
    let all_but_returns = off(&[
        "thank_you",
        "satisfaction",
        "replenishment",
        "loyalty",
        "recovery",
    ]);
    let e = Config::parse(
        &format!("{SHOP_A}[[shop]]\npostal_address = \"1 Test Street, Springfield\"\ndomain = \"b.myshopify.com\"\n{all_but_returns}"),
        "t",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("shop[1].sender_email") && e.contains("playbooks returns are enabled"),
        "{e}"
    );
    // A shop that only records (every playbook off) needs no sender.
    let c = Config::parse(
        &format!(
            "[[shop]]\npostal_address = \"1 Test Street, Springfield\"\ndomain = \"b.myshopify.com\"\n{all_but_returns}{}",
            off(&["returns"])
        ),
        "t",
    )
    .unwrap();
    assert!(c.shops[0].playbooks.enabled().is_empty());
}

#[test]
fn addresses_the_email_builder_refuses_are_refused_at_load() {
    // Each passed the earlier check (an @ and a dot), then failed every send.
    for field in [
        "sender_email",
        "support_email",
        "alert_email",
        "privacy_email",
    ] {
        for bad in [
            "héllo@a.example",
            "Shop <hello@a.example>",
            "hello@@a.example",
            "hello@a.example,b@a.example",
        ] {
            let sender = if field == "sender_email" {
                String::new()
            } else {
                "sender_email = \"hello@a.example\"\n".to_owned()
            };
            let toml =
                format!("[[shop]]\npostal_address = \"1 Test Street, Springfield\"\ndomain = \"a.myshopify.com\"\n{sender}{field} = \"{bad}\"\n");
            match Config::parse(&toml, "t") {
                Ok(_) => panic!("{field} = {bad:?} accepted"),
                Err(e) => assert!(e.to_string().contains(&format!("shop[0].{field}: ")), "{e}"),
            }
        }
    }
}

#[test]
fn urls_longer_than_the_email_builder_takes_are_refused() {
    let long = format!("https://a.example/{}", "r".repeat(2000));
    let e = Config::parse(&format!("{SHOP_A}review_url = \"{long}\"\n"), "t").unwrap_err();
    assert!(e.to_string().contains("shop[0].review_url"), "{e}");
    let long_base = format!("https://links.example.com/{}", "l".repeat(480));
    let e = Config::parse(
        &format!("[links]\nbase_url = \"{long_base}\"\n{SHOP_A}"),
        "t",
    )
    .unwrap_err();
    assert!(e.to_string().contains("links.base_url"), "{e}");
}

#[test]
fn a_configuration_set_ses_would_refuse_is_refused_at_load() {
    let parse = |set: &str| {
        Config::parse(
            &format!("[email]\nconfiguration_set = \"{set}\"\n{SHOP_A}"),
            "t",
        )
    };
    for ok in ["aftercart", "aftercart-events_prod-2"] {
        parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    for bad in ["", "aftercart events", "aftercart.events", &"x".repeat(65)] {
        let e = parse(bad).unwrap_err().to_string();
        assert!(
            e.contains("email.configuration_set") && e.contains("Fix:"),
            "{bad:?}: {e}"
        );
    }
}

#[test]
fn the_environment_can_turn_dev_mode_on_for_a_local_run_only() {
    let mut c = Config::parse(SHOP_A, "t").unwrap();
    assert!(!c.email.dev_mode, "off by default");
    c.apply_env(|_| None).unwrap();
    assert!(!c.email.dev_mode, "untouched without the variable");
    c.apply_env(|v| (v == DEV_MODE_ENV).then(|| "true".into()))
        .unwrap();
    assert!(c.email.dev_mode);
    c.apply_env(|v| (v == DEV_MODE_ENV).then(|| "0".into()))
        .unwrap();
    assert!(
        !c.email.dev_mode,
        "and off again, over a file that has it on"
    );
    let e = c
        .apply_env(|v| (v == DEV_MODE_ENV).then(|| "maybe".into()))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("AFTERCART_DEV_MODE") && e.contains("Fix:"),
        "{e}"
    );
}

#[test]
fn the_sample_config_is_safe_to_deploy() {
    // `make deploy` ships infra/aftercart.toml unless told otherwise.
    let c = Config::parse(
        include_str!("../../../infra/aftercart.toml"),
        "infra/aftercart.toml",
    )
    .unwrap();
    assert!(
        !c.email.dev_mode,
        "the sample must not send for test orders"
    );
    assert!(c.shops.iter().all(|s| s.sender_email.is_some()));
}

#[test]
fn missing_secret_variable_is_named() {
    let c = Config::parse(GOOD, "test").unwrap();
    let e = WebhookSecrets::load(&c, |_| None).unwrap_err();
    assert!(e.to_string().contains("AFTERCART_WEBHOOK_SECRETS"), "{e}");
}

#[test]
fn the_satisfaction_reminder_is_on_after_five_days_by_default_and_bounded() {
    let base = "[[shop]]\npostal_address = \"1 Test Street, Springfield\"\ndomain = \"a.myshopify.com\"\nsender_email = \"s@a.example\"\n";
    let c = Config::parse(base, "t").unwrap();
    let sat = &c.shops[0].playbooks.satisfaction;
    assert_eq!(sat.reminder_days, 5);
    assert!(c.shops[0]
        .playbooks
        .enabled()
        .contains(&"satisfaction_reminder"));
    let with = |days: &str| {
        Config::parse(
            &format!("{base}[shop.playbooks.satisfaction]\nreminder_days = {days}\n"),
            "t",
        )
    };
    let off = with("0").unwrap();
    assert!(!off.shops[0].playbooks.satisfaction.reminder_on());
    assert!(!off.shops[0]
        .playbooks
        .enabled()
        .contains(&"satisfaction_reminder"));
    assert!(with("30").is_ok());
    let e = with("31").unwrap_err().to_string();
    assert!(
        e.contains("shop[0].playbooks.satisfaction.reminder_days")
            && e.contains("0 for no reminder"),
        "{e}"
    );
}

// ---------------------------------------------------------------------------------------
// Brand, postal address and per-playbook email options

/// The field and problem of the error `toml` (after SHOP_A's keys) is refused with.
fn brand_error(toml: &str) -> (String, String) {
    match Config::parse(&format!("{SHOP_A}{toml}"), "t") {
        Err(ConfigError::Invalid { field, problem, .. }) => (field, problem),
        other => panic!("{toml}: expected Invalid, got {other:?}"),
    }
}

#[test]
fn brand_colours_images_and_texts_are_checked_naming_the_field() {
    let cases = [
        (
            "[shop.brand]\ncolor = \"blue\"\n",
            "shop[0].brand.color",
            "hex colour",
        ),
        (
            "[shop.brand]\naccent = \"#12345\"\n",
            "shop[0].brand.accent",
            "hex colour",
        ),
        (
            "[shop.brand]\nlogo_url = \"http://cdn.example/logo.png\"\n",
            "shop[0].brand.logo_url",
            "https://",
        ),
        (
            "[[shop.product]]\nsku = \"A\"\nimage_url = \"//cdn.example/a.png\"\n",
            "shop[0].product[0].image_url",
            "https://",
        ),
        (
            "[shop.brand]\nsign_off = \"  \"\n",
            "shop[0].brand.sign_off",
            "one line",
        ),
        (
            "[shop.emails.thank_you]\npreheader = \"two\\nlines\"\n",
            "shop[0].emails.thank_you.preheader",
            "one line",
        ),
    ];
    for (toml, field, problem) in cases {
        let (f, p) = brand_error(toml);
        assert_eq!(f, field, "{toml}");
        assert!(p.contains(problem), "{toml}: {p}");
    }
    let ok = Config::parse(
        &format!(
            "{SHOP_A}[shop.brand]\ncolor = \"#0F5132\"\naccent = \"#fa0\"\nlogo_url = \"https://cdn.example/l.png\"\nsign_off = \"Sam\"\n\
             [shop.emails.returns]\ncross_sell = true\npreheader = \"We hear you\"\n"
        ),
        "t",
    )
    .unwrap();
    let shop = &ok.shops[0];
    assert_eq!(shop.brand.sign_off.as_deref(), Some("Sam"));
    assert!(shop.cross_sell(crate::model::Playbook::Returns));
    assert!(!shop.cross_sell(crate::model::Playbook::Recovery));
    assert_eq!(
        shop.preheader(crate::model::Playbook::Returns),
        Some("We hear you")
    );
    assert_eq!(shop.preheader(crate::model::Playbook::ThankYou), None);
}

#[test]
fn an_unknown_playbook_or_option_under_emails_is_refused() {
    for toml in [
        "[shop.emails.thankyou]\ncross_sell = true\n",
        "[shop.emails.thank_you]\ncrossell = true\n",
        "[shop.brand]\ncolour = \"#000\"\n",
    ] {
        let e = Config::parse(&format!("{SHOP_A}{toml}"), "t").unwrap_err();
        assert!(matches!(e, ConfigError::Syntax { .. }), "{toml}: {e:?}");
    }
}

#[test]
fn marketing_email_needs_the_postal_address_and_transactional_alone_does_not() {
    let shop = "[[shop]]\ndomain = \"a.myshopify.com\"\nsender_email = \"hello@a.example\"\n";
    match Config::parse(shop, "t") {
        Err(ConfigError::Invalid { field, problem, .. }) => {
            assert_eq!(field, "shop[0].postal_address");
            assert!(
                problem.contains("replenishment and loyalty") && problem.contains("CAN-SPAM"),
                "{problem}"
            );
        }
        other => panic!("expected the missing address, got {other:?}"),
    }
    let only_loyalty_off = format!("{shop}[shop.playbooks.loyalty]\nenabled = false\n");
    match Config::parse(&only_loyalty_off, "t") {
        Err(ConfigError::Invalid { problem, .. }) => {
            assert!(problem.contains("replenishment email"), "{problem}")
        }
        other => panic!("expected the missing address, got {other:?}"),
    }
    let transactional = format!(
        "{shop}[shop.playbooks.loyalty]\nenabled = false\n[shop.playbooks.replenishment]\nenabled = false\n"
    );
    assert!(Config::parse(&transactional, "t").is_ok());
}

#[test]
fn holdout_percent_defaults_to_zero_and_is_bounded_naming_the_field() {
    let c = Config::parse(SHOP_A, "test").unwrap();
    assert!(c.shops[0].playbooks.with_holdout().is_empty());
    let ten = format!("{SHOP_A}[shop.playbooks.replenishment]\nholdout_percent = 10\n");
    let c = Config::parse(&ten, "test").unwrap();
    let pb = &c.shops[0].playbooks;
    assert_eq!(
        pb.holdout_percent(crate::model::Playbook::Replenishment),
        10
    );
    assert_eq!(
        pb.with_holdout(),
        vec![crate::model::Playbook::Replenishment]
    );
    // Every playbook's section takes it; the reminder has none of its own.
    for name in [
        "thank_you",
        "satisfaction",
        "loyalty",
        "returns",
        "recovery",
    ] {
        let toml = format!("{SHOP_A}[shop.playbooks.{name}]\nholdout_percent = 50\n");
        assert!(Config::parse(&toml, "test").is_ok(), "{name}");
        let toml = format!("{SHOP_A}[shop.playbooks.{name}]\nholdout_percent = 51\n");
        let e = Config::parse(&toml, "test").unwrap_err().to_string();
        assert!(
            e.contains(&format!("shop[0].playbooks.{name}.holdout_percent"))
                && e.contains("0–50")
                && e.contains("Fix:"),
            "{e}"
        );
    }
    let toml = format!("{SHOP_A}[shop.playbooks.loyalty]\nholdout_percent = -1\n");
    let e = Config::parse(&toml, "test").unwrap_err().to_string();
    assert!(e.contains("holdout_percent"), "{e}");
}
