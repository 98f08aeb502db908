#!/usr/bin/env bash
# Smoke test of the developer path, as a store would exercise it: moto + `cargo lambda
# watch` serving the real webhook binary, which hands deliveries to the ingest queue on
# moto, and `aftercart poll-queue` recording them as the ingest function does. A signed
# sample is sent over HTTP twice: the first must be queued and recorded, the replay
# queued and store nothing new; a forged one must be 401, and the signed order resent as
# customers/redact must be 400 (refused before the queue).
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
# moto's queue URLs: its default account and the names `setup-local` creates.
export AFTERCART_QUEUE_URL="$AWS_ENDPOINT_URL/123456789012/aftercart-ingest.fifo"
export AFTERCART_DLQ_URL="$AWS_ENDPOINT_URL/123456789012/aftercart-ingest-dlq.fifo"
url="http://127.0.0.1:$watch_port/lambda-url/webhook/"

watch_pid=""
poller_pid=""
cleanup() {
  status=$?
  if [ "$status" != 0 ]; then
    # What the parts said, so a failure (or a timeout) in CI can be read from its log.
    echo "smoke failed (exit $status); the last lines of each part's log:"
    for f in "$log" .run/smoke-poller.log ".run/moto-$moto_port.log"; do
      [ -f "$f" ] && { echo "--- $f"; tail -15 "$f"; }
    done
  fi
  [ -n "$watch_pid" ] && kill -- -"$watch_pid" 2>/dev/null || true
  [ -n "$poller_pid" ] && kill "$poller_pid" 2>/dev/null || true
  MOTO_PORT=$moto_port tools/moto.sh stop >/dev/null
}
trap cleanup EXIT
# A signal (the Makefile's `timeout`, Ctrl-C) ends the script through the EXIT trap.
trap 'exit 124' TERM INT
# No step may wait for ever: each command the script runs is bounded (seconds).
step_limit="${SMOKE_STEP_SECONDS:-120}"
bounded() { timeout --kill-after=5 "$step_limit" "$@"; }

MOTO_PORT=$moto_port tools/moto.sh start
# `moto.sh start` reuses a moto already answering on the port, e.g. one an earlier run
# left behind, with that run's table, receipts and emails: the first delivery would be a
# duplicate and the outbox would hold old mail. Start from an empty moto (this port is
# the smoke test's own; never point SMOKE_MOTO_PORT at the `make dev` moto).
curl -sS --max-time 30 -f -X POST "$AWS_ENDPOINT_URL/moto-api/reset" >/dev/null || { echo "FAIL: cannot reset moto at $AWS_ENDPOINT_URL"; exit 1; }
cargo build --quiet -p aftercart-cli -p webhook -p links
# `cargo lambda watch` starts each function with `cargo run --bin <name>`, which unifies
# features for that package alone: build those too, here, so no request waits for a
# compile (on a clean 2-core machine that is minutes).
cargo build --quiet --bin webhook
cargo build --quiet --bin links
cli="${CARGO_TARGET_DIR:-target}/debug/aftercart"
setup=$(AFTERCART_SES_IDENTITY=shop@aftercart-demo.example bounded $cli setup-local)
echo "$setup"
echo "$setup" | grep -qF "ingest queue: $AFTERCART_QUEUE_URL" || { echo "FAIL: the local queue is not at $AFTERCART_QUEUE_URL"; exit 1; }
# The ingest function's SQS trigger, as `make dev` runs it.
$cli poll-queue 2>.run/smoke-poller.log &
poller_pid=$!

env_args=()
for v in AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_REGION AWS_ENDPOINT_URL AFTERCART_TABLE AFTERCART_CONFIG AFTERCART_WEBHOOK_SECRETS AFTERCART_LINK_KEYS AFTERCART_QUEUE_URL; do
  env_args+=(--env-var "$v=${!v}")
done
set -m
PATH="$PWD/.venv/bin:$PATH" .venv/bin/cargo-lambda lambda watch --quiet --invoke-address 127.0.0.1 \
  --invoke-port "$watch_port" --timeout 60 "${env_args[@]}" >"$log" 2>&1 &
watch_pid=$!
set +m

# Wait for the runtime server, then send; the first request also waits for the build.
for _ in $(seq 1 300); do
  if grep -q "starting Runtime server" "$log"; then break; fi
  sleep 0.2
done

first=$(bounded $cli sample --topic orders/paid --url "$url" --webhook-id smoke-1 2>&1) || { echo "$first"; cat "$log"; exit 1; }
echo "$first" | grep -E '^=>|^table'
echo "$first" | grep -q '=> 200 OK {"status":"queued"}' || { echo "FAIL: first delivery not queued"; exit 1; }
echo "$first" | grep -q '"sk": "ORDER"' || { echo "FAIL: first delivery not recorded from the queue"; cat .run/smoke-poller.log; exit 1; }

again=$(bounded $cli sample --topic orders/paid --url "$url" --webhook-id smoke-2 2>&1) || { echo "$again"; exit 1; }
echo "$again" | grep -E '^=>|^table'
echo "$again" | grep -q '"status":"queued"' || { echo "FAIL: replay not queued"; exit 1; }
echo "$again" | grep -q '0 added or changed' || { echo "FAIL: replay changed the table"; exit 1; }

forged=$(AFTERCART_WEBHOOK_SECRETS=not-the-secret bounded $cli sample --topic orders/paid --url "$url" 2>&1 || true)
echo "$forged" | grep -E '^=>|^table'
echo "$forged" | grep -q '=> 401' || { echo "FAIL: forged delivery not refused"; exit 1; }
echo "$forged" | grep -q '0 added or changed' || { echo "FAIL: forged delivery changed the table"; exit 1; }

# A captured signed order resent as a customer erasure (the topic header is not signed):
# refused, and only the day's refusal count is written.
replayed=$(bounded $cli sample --topic customers/redact --file shared/fixtures/shopify/order.json --url "$url" --webhook-id smoke-replay 2>&1 || true)
echo "$replayed" | grep -E '^=>|^table'
echo "$replayed" | grep -q '=> 400' || { echo "FAIL: an order body under customers/redact was not refused"; exit 1; }
echo "$replayed" | grep -q 'not a valid customers/redact payload' || { echo "FAIL: the refusal does not say why"; exit 1; }
echo "$replayed" | grep -q '; 1 added or changed' || { echo "FAIL: the refusal was not counted (or more was written)"; exit 1; }

# The follow-up leg: the recorded order's thank-you goes out when due (15:00Z is 10:00
# in the demo shop's New York time, outside quiet hours), and lands in moto's outbox.
sent=$(bounded $cli dispatch --at 2026-12-30T15:00:00Z 2>&1) || { echo "$sent"; exit 1; }
echo "$sent"
echo "$sent" | grep -q '"sent":1' || { echo "FAIL: the due thank-you was not sent"; exit 1; }
outdir=.run/smoke-outbox
rm -rf "$outdir"
box=$(bounded $cli outbox --dir "$outdir" 2>&1) || { echo "$box"; exit 1; }
echo "$box" | head -1
grep -q "Thank you for your order <strong>#1001</strong>" "$outdir"/001-*.html || { echo "FAIL: the outbox lacks the thank-you"; exit 1; }
grep -q "^List-Unsubscribe-Post: List-Unsubscribe=One-Click" "$outdir"/001-*.eml || { echo "FAIL: no one-click unsubscribe header"; exit 1; }
again=$(bounded $cli dispatch --at 2026-12-30T15:05:00Z 2>&1) || { echo "$again"; exit 1; }
echo "$again" | grep -q '"sent":0' || { echo "FAIL: a second run sent again"; exit 1; }

# The customer leg: the email's unsubscribe link, opened through the links function as
# a browser does (GET: a page) and as Gmail does (RFC 8058 one-click POST), suppresses
# the address in the table before answering. Links point at :9000 (`make dev`); this
# run's watch listens on its own port.
unsub=$(bounded .venv/bin/python - "$outdir"/001-*.eml <<'PY'
import email, sys
from email import policy
m = email.message_from_binary_file(open(sys.argv[1], "rb"), policy=policy.default)
print(str(m["List-Unsubscribe"]).strip().strip("<>"))
PY
)
unsub="${unsub/127.0.0.1:9000/127.0.0.1:$watch_port}"
page=$(curl -sS --max-time 30 -w '\n%{http_code}' "$unsub")
[ "$(echo "$page" | tail -1)" = 200 ] && echo "$page" | grep -q 'action="unsubscribe?t=' || { echo "FAIL: unsubscribe page"; echo "$page" | tail -5; exit 1; }
echo "=> GET unsubscribe link: 200 confirmation page"
code=$(curl -sS --max-time 30 -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/x-www-form-urlencoded' --data 'List-Unsubscribe=One-Click' "$unsub")
[ "$code" = 200 ] || { echo "FAIL: one-click unsubscribe answered $code"; exit 1; }
reason=$(bounded .venv/bin/python - <<'PY'
import boto3, hashlib, os
addr = "bob.norman@hostmail.com"
h = hashlib.sha256(addr.strip().lower().encode()).hexdigest()[:32]
t = boto3.client("dynamodb", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name=os.environ["AWS_REGION"])
item = t.get_item(TableName=os.environ["AFTERCART_TABLE"], ConsistentRead=True,
                  Key={"pk": {"S": f"SUPPRESS#aftercart-demo.myshopify.com#{h}"}, "sk": {"S": "SUPPRESSION"}}).get("Item")
print(item["reason"]["S"] if item else "none")
PY
)
[ "$reason" = unsubscribed ] || { echo "FAIL: one-click POST left suppression: $reason"; exit 1; }
echo "=> POST one-click unsubscribe: 200, address suppressed (reason $reason)"
code=$(curl -sS --max-time 30 -o /dev/null -w '%{http_code}' "${unsub/t=v/t=x}")
[ "$code" = 400 ] || [ "$code" = 403 ] || { echo "FAIL: altered token answered $code"; exit 1; }
echo "=> altered token: $code"

echo "smoke: 10 passed, 0 failed"
