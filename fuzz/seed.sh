#!/usr/bin/env bash
# Writes the seed corpora fuzz/corpus/<target>/ from the repo's fixtures, so the seeds
# follow the fixtures as they change. libFuzzer adds what it finds beside them; the
# directory is not committed (fuzz/regressions/ holds the inputs that once crashed).
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=fuzz/corpus
mkdir -p "$corpus"/{webhook,mail_events,link_tokens,link_requests,config,orders_csv,ingest}

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

# link_requests: two selector bytes, then the request (see fuzz_targets/link_requests.rs):
# the links the emails carry (as `make dev`'s base URL makes them), each as customers and
# mail providers open them, with `{t}` for a token signed for the selected purpose.
req() { # NAME WHAT CLAIMS TEXT
  { byte "$2"; byte "$3"; printf '%s' "$4"; } > "$corpus/link_requests/seed-$1"
}
form='Content-Type: application/x-www-form-urlencoded'
links=/lambda-url/links
nl=$'\n'
# Purposes (first byte, bits 0-2): 0 rate, 1 reason, 2 unsubscribe, 3 reorder, 4 report,
# 5 none. Second byte: follow-up (0 satisfaction, 1 returns, 2 replenishment), score << 4.
for s in 1 3 5; do
  req "rate-$s" 0 $((s << 4)) "GET $links/rate?t={t}"
done
req rate-comment 0 $((2 << 4)) "POST $links/rate?t={t}$nl$form$nl${nl}comment=The+grinder+jammed%2C+sadly"
req rate-comment-json 0 $((4 << 4)) "POST /rate?t={t}${nl}Content-Type: application/json$nl$nl{\"comment\":\"ok\"}"
req rate-expired 0 $(((4 << 4) | 8)) "GET $links/rate?t={t}${nl}Accept-Language: fr-FR,fr;q=0.9$nl"
req rate-french $((0x40)) $((5 << 4)) "GET /rate?t={t}"
req reason-3 1 $(((3 << 4) | 1)) "GET $links/reason?t={t}"
req reason-comment $((0x08 | 1)) $(((7 << 4) | 1)) "POST $links/reason?t={t}$nl$form$nl${nl}comment=Too+small"
req unsubscribe-page 2 0 "GET $links/unsubscribe?t={t}"
req unsubscribe-one-click 2 0 "POST $links/unsubscribe?t={t}$nl$form$nl${nl}List-Unsubscribe=One-Click"
req resubscribe-own $((0x10 | 2)) 0 "POST $links/resubscribe?t={t}"
req resubscribe-bounced $((0x20 | 2)) 0 "POST $links/resubscribe?t={t}"
req reorder 3 2 "GET $links/reorder?t={t}"
req reorder-whole-order 3 0 "GET $links/reorder?t={t}"
req report 4 0 "GET $links/report?t={t}"
req report-lookup 4 0 "GET $links/report?t={t}&days=90&to=2026-11-30&order=%231001"
req report-csv 4 0 "GET /report?t={t}&days=7&format=csv"
req report-json 4 0 "GET /report?t={t}&days=365&format=json"
req wrong-purpose 3 $((4 << 4)) "GET $links/rate?t={t}"
req other-shop $((0x80)) $((4 << 4)) "GET $links/rate?t={t}"
req unknown-followup 0 $(((4 << 4) | 3)) "GET $links/rate?t={t}"
req no-token 5 0 "GET $links/rate"
req method 5 0 "DELETE $links/unsubscribe?t={t}"
req not-found 5 0 "GET /admin?t={t}"
# Real links as the app's key signs them (HMAC-SHA256 by openssl, key of the target).
if command -v openssl >/dev/null; then
  key=fuzz-link-key-0123456789abcdef0123456789
  signed_token() {
    local signed="v1.$(printf '%s' "$1" | b64url)"
    printf '%s.%s' "$signed" "$(printf '%s' "$signed" | openssl dgst -sha256 -hmac "$key" -binary | b64url)"
  }
  rate=$(claims "satisfaction#450789469#0" rate 1900000000 ',"score":4')
  req real-rate 5 0 "GET $links/rate?t=$(signed_token "$rate")"
  unsub=$(claims "satisfaction#450789469#0" unsubscribe 1900000000 "")
  req real-unsubscribe 5 0 "POST $links/unsubscribe?t=$(signed_token "$unsub")$nl$form$nl${nl}List-Unsubscribe=One-Click"
  report='{"shop":"aftercart-demo.myshopify.com","customer_key":"","followup":"report","purpose":"report","expires_at":1900000000}'
  req real-report 5 0 "GET $links/report?t=$(signed_token "$report")&days=30"
fi

# config: the sample merchant config.
cp infra/aftercart.toml "$corpus/config/seed-aftercart.toml"

# orders_csv: the sample exports of `aftercart import-orders`' tests, and variants of the
# real-shaped one: LF endings, no BOM, a bad quantity on a later row, the header alone.
for f in tools/cli/tests/fixtures/*.csv; do
  cp "$f" "$corpus/orders_csv/seed-$(basename "$f" .csv)"
done
export_csv=tools/cli/tests/fixtures/shopify_orders_export.csv
tr -d '\r' < "$export_csv" > "$corpus/orders_csv/seed-lf"
tail -c +4 "$export_csv" > "$corpus/orders_csv/seed-no-bom"
sed 's/,1,"Hand grinder/,one,"Hand grinder/' "$export_csv" > "$corpus/orders_csv/seed-bad-row"
head -n 1 "$export_csv" > "$corpus/orders_csv/seed-header-only"

for t in webhook mail_events link_tokens link_requests config orders_csv; do
  printf '  corpus %-12s %4d files\n' "$t" "$(ls "$corpus/$t" | wc -l)"
done

# ingest: byte 0 + Shopify's EventBridge event of each sample (as `make sample
# VIA=eventbridge` sends it); byte 1 + a queue message carrying the sample order.
for f in shared/fixtures/shopify/order.json shared/fixtures/shopify/fulfillment.json shared/fixtures/shopify/refund.json; do
  python3 - "$f" > "$corpus/ingest/seed-eb-$(basename "$f" .json)" <<'PY'
import json, sys
body = json.load(open(sys.argv[1]))
topic = {"order.json": "orders/paid", "fulfillment.json": "fulfillments/create", "refund.json": "refunds/create"}[sys.argv[1].rsplit("/", 1)[1]]
event = {"version": "0", "id": "eb-1", "detail-type": "shopifyWebhook",
         "source": "aws.partner/shopify.com/1/aftercart", "detail": {
           "metadata": {"X-Shopify-Topic": topic, "X-Shopify-Shop-Domain": "aftercart-demo.myshopify.com",
                        "x-shopify-webhook-id": "w-1", "X-Shopify-Event-Id": "e-1",
                        "X-Shopify-Triggered-At": "2026-11-22T08:00:00Z"},
           "payload": body}}
sys.stdout.buffer.write(b"\x00" + json.dumps(event).encode())
PY
done
python3 - > "$corpus/ingest/seed-envelope" <<'PY'
import base64, gzip, json, sys
body = open("shared/fixtures/shopify/order.json", "rb").read()
env = {"v": 1, "via": "https", "shop": "aftercart-demo.myshopify.com", "topic": "orders/paid",
       "webhook_id": "w-1", "redelivery": False, "body": base64.b64encode(gzip.compress(body)).decode()}
sys.stdout.buffer.write(b"\x01" + json.dumps(env).encode())
PY
echo "ingest: $(ls "$corpus/ingest" | wc -l) seeds"
