#!/usr/bin/env bash
# Every email preview (every playbook in every language, `aftercart preview-all`) in
# headless Chromium (Debian's `chromium`, driven by playwright-core from
# tools/browser/package-lock.json) at 390 and 800 px, with the sample config's
# brand plus a logo and a product picture: screenshots kept in target/browser/mail/ for a
# person to look at, and the checks of tools/mail_check.py (overflow, alt text, absolute
# and signed links, the same links in both parts, the .eml's headers and line ends).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${CARGO_TARGET_DIR:-target}/browser/mail"
rm -rf "${out:?}"
mkdir -p "$out"

# The sample config with a logo and a product picture (served locally by the checker).
config="$out/aftercart.toml"
sed -e 's|^# logo_url = .*|logo_url = "https://cdn.aftercart.test/logo.png"|' \
    -e 's|^# image_url = .*|image_url = "https://cdn.aftercart.test/products/ipod.png"|' \
    infra/aftercart.toml >"$config"
grep -q '^logo_url = "https://cdn.aftercart.test' "$config" && grep -q '^image_url = "https://cdn.aftercart.test' "$config" \
  || { echo "FAIL: infra/aftercart.toml no longer has the commented logo_url / image_url lines"; exit 1; }

cargo build --quiet -p aftercart-cli
cli="${CARGO_TARGET_DIR:-target}/debug/aftercart"
export AFTERCART_LINK_KEYS=1:browser-link-signing-key-0123456789abcdef
AFTERCART_CONFIG="$config" "$cli" preview-all --dir "$out" >/dev/null
.venv/bin/python tools/mail_check.py prepare "$out"

node tools/browser/mail.js "$out"
.venv/bin/python tools/mail_check.py verify "$out"
echo "browser: email previews at 390 and 800 px; screenshots in $out"
