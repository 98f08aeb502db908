#!/usr/bin/env bash
# Writes the seed corpora fuzz/corpus/<target>/ from the repo's fixtures, so the seeds
# follow the fixtures as they change. libFuzzer adds what it finds beside them; the
# directory is not committed (fuzz/regressions/ holds the inputs that once crashed).
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=fuzz/corpus
mkdir -p "$corpus"/{webhook,mail_events,link_tokens,config}

# A byte as a file's content, for the targets' selector bytes.
byte() { printf "\\x$(printf %02x "$1")"; }
b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }

# webhook: the first byte picks Topic::ALL[byte % 13]; every fixture under every topic
# (the right pairs parse, the others reach the shape checks).
n=0
for i in $(seq 0 12); do
  for f in shared/fixtures/shopify/*.json shared/fixtures/topics/*.json; do
    { byte "$i"; cat "$f"; } > "$corpus/webhook/seed-$i-$(basename "$f" .json)"
    n=$((n + 1))
  done
done
# An order's life in one input (deliveries separated by 0xFF 0xFE): paid, fulfilled,
# delivered, refunded; and two paid orders of one customer.
sep() { printf '\xff\xfe'; }
{ byte 1; cat shared/fixtures/shopify/order.json; sep
  byte 4; cat shared/fixtures/shopify/fulfillment.json; sep
  byte 6; cat shared/fixtures/topics/fulfillment_delivered.json; sep
  byte 7; cat shared/fixtures/shopify/refund.json; } > "$corpus/webhook/seed-lifecycle"
{ byte 1; cat shared/fixtures/shopify/order.json; sep
  byte 1; sed 's/450789469/450789470/; s/"2008-01-10T11:00:00-05:00"/"2008-02-10T11:00:00-05:00"/' \
    shared/fixtures/shopify/order.json; } > "$corpus/webhook/seed-two-orders"
n=$((n + 2))

# mail_events: the SES fixtures, SNS and EventBridge envelopes.
for f in shared/fixtures/ses/*.json; do
  cp "$f" "$corpus/mail_events/seed-$(basename "$f" .json)"
done

# link_tokens: mode byte, then the input (see fuzz_targets/link_tokens.rs).
claims() {
  printf '{"shop":"aftercart-demo.myshopify.com","customer_key":"207119551","followup":"%s","purpose":"%s","expires_at":%s%s}' "$@"
}
i=0
for p in "rate satisfaction#450789469 ,\"score\":4" "unsubscribe thank_you#450789469 " \
         "reorder replenishment#450789469#632910392 " "reason returns#450789469 ,\"score\":3"; do
  set -- $p
  json=$(claims "$2" "$1" 1900000000 "${3:-}")
  { byte 1; printf '%s' "$json"; } > "$corpus/link_tokens/seed-claims-$1"
  { byte 2; printf 'v2.%s' "$(printf '%s' "$json" | b64url)"; } > "$corpus/link_tokens/seed-signed-$1"
  { byte 0; printf 'v2.%s.%s' "$(printf '%s' "$json" | b64url)" \
      "$(head -c 32 /dev/zero | b64url)"; } > "$corpus/link_tokens/seed-token-$1"
  i=$((i + 1))
done
{ byte 3; printf '2:%s, 1:%s' "$(printf 'a%.0s' $(seq 40))" "$(printf 'b%.0s' $(seq 40))"; } \
  > "$corpus/link_tokens/seed-keys"
{ byte 4; printf 'aftercart-demo.myshopify.com\n207119551\nsatisfaction#450789469'; } \
  > "$corpus/link_tokens/seed-roundtrip"

# config: the sample merchant config.
cp infra/aftercart.toml "$corpus/config/seed-aftercart.toml"

for t in webhook mail_events link_tokens config; do
  printf '  corpus %-12s %4d files\n' "$t" "$(ls "$corpus/$t" | wc -l)"
done
