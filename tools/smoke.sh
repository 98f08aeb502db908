#!/usr/bin/env bash
# Smoke test of the developer path, as a store would exercise it: moto + `cargo lambda
# watch` serving the real webhook binary, a signed sample sent over HTTP twice. The
# first must be recorded, the replay must store nothing new, a forged one must be 401.
# Uses its own ports so it can run beside `make dev`.
set -euo pipefail
cd "$(dirname "$0")/.."
moto_port="${SMOKE_MOTO_PORT:-5007}"
watch_port="${SMOKE_WATCH_PORT:-9107}"
log=.run/smoke-watch.log
mkdir -p .run

export AWS_ACCESS_KEY_ID=smoke AWS_SECRET_ACCESS_KEY=smoke AWS_REGION=us-east-1
export AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port"
export AFTERCART_TABLE=aftercart-smoke
export AFTERCART_CONFIG="$PWD/infra/aftercart.toml"
export AFTERCART_WEBHOOK_SECRETS=smoke-secret
export AFTERCART_LINK_KEYS=1:smoke-link-signing-key-0123456789abcdef
url="http://127.0.0.1:$watch_port/lambda-url/webhook/"

watch_pid=""
cleanup() {
  [ -n "$watch_pid" ] && kill -- -"$watch_pid" 2>/dev/null || true
  MOTO_PORT=$moto_port tools/moto.sh stop >/dev/null
}
trap cleanup EXIT

MOTO_PORT=$moto_port tools/moto.sh start
cargo build --quiet -p aftercart --bin aftercart -p webhook
cli=target/debug/aftercart
AFTERCART_SES_IDENTITY=shop@aftercart-demo.example $cli setup-local

env_args=()
for v in AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_REGION AWS_ENDPOINT_URL AFTERCART_TABLE AFTERCART_CONFIG AFTERCART_WEBHOOK_SECRETS AFTERCART_LINK_KEYS; do
  env_args+=(--env-var "$v=${!v}")
done
set -m
PATH="$PWD/.venv/bin:$PATH" .venv/bin/cargo-lambda lambda watch --quiet --invoke-address 127.0.0.1 \
  --invoke-port "$watch_port" "${env_args[@]}" >"$log" 2>&1 &
watch_pid=$!
set +m

# Wait for the runtime server, then send; the first request also waits for the build.
for _ in $(seq 1 300); do
  if grep -q "starting Runtime server" "$log"; then break; fi
  sleep 0.2
done

first=$($cli sample --topic orders/paid --url "$url" --webhook-id smoke-1 2>&1) || { echo "$first"; cat "$log"; exit 1; }
echo "$first" | grep -E '^=>|^table'
echo "$first" | grep -q '=> 200 OK {"status":"recorded"}' || { echo "FAIL: first delivery not recorded"; exit 1; }

again=$($cli sample --topic orders/paid --url "$url" --webhook-id smoke-2 2>&1) || { echo "$again"; exit 1; }
echo "$again" | grep -E '^=>|^table'
echo "$again" | grep -q '"status":"duplicate_event"' || { echo "FAIL: replay not deduplicated"; exit 1; }
echo "$again" | grep -q '0 added or changed' || { echo "FAIL: replay changed the table"; exit 1; }

forged=$(AFTERCART_WEBHOOK_SECRETS=not-the-secret $cli sample --topic orders/paid --url "$url" 2>&1 || true)
echo "$forged" | grep -E '^=>|^table'
echo "$forged" | grep -q '=> 401' || { echo "FAIL: forged delivery not refused"; exit 1; }
echo "$forged" | grep -q '0 added or changed' || { echo "FAIL: forged delivery changed the table"; exit 1; }

# The follow-up leg: the recorded order's thank-you goes out when due (15:00Z is 10:00
# in the demo shop's New York time, outside quiet hours), and lands in moto's outbox.
sent=$($cli dispatch --at 2026-12-30T15:00:00Z 2>&1) || { echo "$sent"; exit 1; }
echo "$sent"
echo "$sent" | grep -q '"sent":1' || { echo "FAIL: the due thank-you was not sent"; exit 1; }
outdir=.run/smoke-outbox
rm -rf "$outdir"
box=$($cli outbox --dir "$outdir" 2>&1) || { echo "$box"; exit 1; }
echo "$box" | head -1
grep -q "Thank you for your order <strong>#1001</strong>" "$outdir"/001-*.html || { echo "FAIL: the outbox lacks the thank-you"; exit 1; }
grep -q "^List-Unsubscribe-Post: List-Unsubscribe=One-Click" "$outdir"/001-*.eml || { echo "FAIL: no one-click unsubscribe header"; exit 1; }
again=$($cli dispatch --at 2026-12-30T15:05:00Z 2>&1) || { echo "$again"; exit 1; }
echo "$again" | grep -q '"sent":0' || { echo "FAIL: a second run sent again"; exit 1; }

echo "smoke: 6 passed, 0 failed"
