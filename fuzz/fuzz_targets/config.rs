//! Arbitrary text through `Config::parse` (TOML, then every validation), and what the
//! functions derive from a config that passed: each shop's time zone, quiet hours,
//! enabled playbooks and product rules.

#![no_main]

use aftercart::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut config = match Config::parse(text, "fuzz.toml") {
        Ok(c) => c,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let _ = config.apply_env(|_| Some("true".to_owned()));
    for shop in &config.shops {
        assert!(config.shop(&shop.domain).is_some());
        let _ = (
            shop.tz(),
            shop.quiet_hours.times(),
            shop.playbooks.enabled(),
        );
        let _ = (shop.brand(), shop.merchant_contact());
        for p in &shop.products {
            let _ = shop.product(p.product_id, p.sku.as_deref());
        }
    }
});
