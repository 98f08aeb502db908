#!/usr/bin/env bash
# Start, stop or check the local moto server. State lives in .run/ (pid and log).
#   tools/moto.sh start|stop|status   (MOTO_PORT, default 5005)
set -euo pipefail
cd "$(dirname "$0")/.."
port="${MOTO_PORT:-5005}"
run=.run
pidfile="$run/moto-$port.pid"
url="http://127.0.0.1:$port"

# Healthy = answers a DynamoDB ListTables (cheap, unlike /moto-api/data.json, which
# dumps every table).
up() {
  .venv/bin/python - "$url" 2>/dev/null <<'PY'
import sys, urllib.request
req = urllib.request.Request(sys.argv[1] + "/", data=b'{"Limit": 1}', headers={
    "X-Amz-Target": "DynamoDB_20120810.ListTables",
    "Content-Type": "application/x-amz-json-1.0",
    "Authorization": "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0",
})
urllib.request.urlopen(req, timeout=2)
PY
}

case "${1:-}" in
start)
  mkdir -p "$run"
  if up; then echo "moto already running at $url"; exit 0; fi
  nohup .venv/bin/python tools/moto_server.py --port "$port" >"$run/moto-$port.log" 2>&1 &
  echo $! >"$pidfile"
  for _ in $(seq 1 100); do
    if up; then echo "moto running at $url (pid $(cat "$pidfile"), log $run/moto-$port.log)"; exit 0; fi
    sleep 0.1
  done
  echo "moto did not start; see $run/moto-$port.log" >&2
  tail -20 "$run/moto-$port.log" >&2 || true
  exit 1
  ;;
stop)
  if [ -f "$pidfile" ]; then
    kill "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
    echo "moto stopped"
  fi
  ;;
status)
  if up; then echo "moto running at $url"; else echo "moto not running"; exit 1; fi
  ;;
*)
  echo "usage: $0 start|stop|status" >&2; exit 2
  ;;
esac
