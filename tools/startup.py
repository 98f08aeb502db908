#!/usr/bin/env python3
"""Start-up time of Lambda binaries: from spawning the process to its first Runtime API poll.

Each binary runs RUNS times (after one warm-up run) against a local stub of the Lambda
Runtime API. The time measured is from just before the process is spawned to its first
`GET /2018-06-01/runtime/invocation/next`: the init work a cold start pays before the
function can take its first event (config, secrets, SDK clients). A binary that fails at
start-up reports to `/runtime/init/error`, or exits; either is shown with its message,
and the exit code is then 1.

The environment is the production one (the variables Lambda and the SAM template set),
with secrets from env vars and a fake table; nothing is called over the network unless
--env adds, e.g., AFTERCART_WEBHOOK_SECRETS_PARAM and AWS_ENDPOINT_URL (SSM on moto).

With --zips DIR, the size of DIR/<binary>/bootstrap.zip (from `make build`) is shown, with
the architecture of the bootstrap inside and whether aftercart.toml is beside it.

Figures only, no pass/fail on time: this machine is shared, and a Lambda at 128-256 MB has
a fraction of a core. Goals: zip <= 5 MB, start-up <= 20 ms.

Usage: tools/startup.py [--runs 20] [--config infra/aftercart.toml] [--zips target/lambda]
                        [--env KEY=VALUE ...] BINARY...
"""

import argparse
import http.server
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

NEXT = "/2018-06-01/runtime/invocation/next"
INIT_ERROR = "/2018-06-01/runtime/init/error"
ZIP_GOAL_BYTES = 5_000_000
STARTUP_GOAL_MS = 20.0
ELF_MACHINES = {0x3E: "x86_64", 0xB7: "arm64"}


class Run:
    """One start of one binary: when it polled, or why it could not."""

    def __init__(self):
        self.polled_at = None
        self.init_error = None
        self.done = threading.Event()


class RuntimeApiStub(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.run = None


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        now = time.perf_counter()
        run = self.server.run
        if self.path == NEXT and run is not None:
            if run.polled_at is None:
                run.polled_at = now
            run.done.set()
            # No event: the process is stopped now that it has been timed.
            self.close_connection = True
            return
        self.send_error(404)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        run = self.server.run
        if self.path == INIT_ERROR and run is not None:
            try:
                err = json.loads(body)
                run.init_error = f"{err.get('errorType', '?')}: {err.get('errorMessage', '')}"
            except ValueError:
                run.init_error = body.decode("utf-8", "replace")[:500]
            run.done.set()
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_error(404)

    def log_message(self, *args):
        pass


def production_env(binary: Path, port: int, config: Path, extra: dict) -> dict:
    name = binary.name
    env = {
        # What Lambda sets for a provided.al2023 function.
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
        "AWS_LAMBDA_FUNCTION_NAME": f"aftercart-{name}",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256" if name in ("webhook", "dispatch") else "128",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aftercart/startup/{name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/01/01/[$LATEST]startup",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "startup",
        "AWS_SECRET_ACCESS_KEY": "startup",
        "AWS_SESSION_TOKEN": "startup",
        "_HANDLER": "bootstrap",
        "LAMBDA_TASK_ROOT": str(binary.parent),
        # What the SAM template sets, with secrets as env vars (no SSM call).
        "AFTERCART_TABLE": "aftercart-startup",
        "AFTERCART_CONFIG": str(config),
        "AFTERCART_WEBHOOK_SECRETS": "startup-webhook-secret",
        "AFTERCART_LINK_KEYS": "1:startup-link-signing-key-0123456789abcdef",
        "AFTERCART_ADMIN_TOKEN": "startup-admin-token",
        "RUST_LOG": "info",
    }
    env.update(extra)
    return env


def start_once(server: RuntimeApiStub, binary: Path, env: dict, timeout: float):
    """Spawns the binary and waits for its first poll. Returns (ms or None, error or None)."""
    run = Run()
    server.run = run
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        proc = subprocess.Popen([str(binary)], env=env, stdout=out, stderr=subprocess.STDOUT)
        deadline = started + timeout
        while not run.done.is_set():
            if proc.poll() is not None:
                break
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                break
            run.done.wait(min(remaining, 0.005))
        # A process that exits usually posted its init error just before.
        run.done.wait(0.2 if run.polled_at is None else 0)
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        server.run = None
        if run.polled_at is not None:
            return (run.polled_at - started) * 1000.0, None
        if run.init_error:
            return None, f"init error: {run.init_error}"
        out.seek(0)
        tail = out.read()[-800:].decode("utf-8", "replace").strip()
        if proc.returncode is not None and proc.returncode != -9:
            return None, f"exited with {proc.returncode} before polling: {tail}"
        return None, f"no poll within {timeout:.0f} s: {tail}"


def zip_facts(zips: Path, name: str):
    path = zips / name / "bootstrap.zip"
    if not path.is_file():
        return None
    with zipfile.ZipFile(path) as z:
        names = set(z.namelist())
        arch = "?"
        if "bootstrap" in names:
            with z.open("bootstrap") as f:
                header = f.read(20)
            if header[:4] == b"\x7fELF":
                arch = ELF_MACHINES.get(int.from_bytes(header[18:20], "little"), "?")
    return {
        "bytes": path.stat().st_size,
        "arch": arch,
        "config": "aftercart.toml" in names,
    }


def mib(n: int) -> str:
    return f"{n / (1024 * 1024):.2f} MiB"


def percentile(values, q):
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))
    return ordered[k]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("binaries", nargs="+", type=Path, metavar="BINARY")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for a poll")
    parser.add_argument("--config", type=Path, default=Path("infra/aftercart.toml"))
    parser.add_argument("--zips", type=Path, help="where `make build` put <binary>/bootstrap.zip")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    extra = {}
    for item in args.env:
        key, sep, value = item.partition("=")
        if not sep or not key:
            parser.error(f"--env {item!r}: expected KEY=VALUE")
        extra[key] = value
    config = args.config.resolve()
    if not config.is_file():
        parser.error(f"--config {args.config}: no such file")

    server = RuntimeApiStub()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]

    rows, failed = [], False
    for binary in args.binaries:
        binary = binary.resolve()
        name = binary.name
        if not binary.is_file():
            rows.append((name, None, None, None, f"no such binary: {binary}"))
            failed = True
            continue
        env = production_env(binary, port, config, extra)
        times, error = [], None
        for i in range(args.runs + 1):  # the first run warms the page cache
            ms, error = start_once(server, binary, env, args.timeout)
            if error:
                break
            if i > 0:
                times.append(ms)
        failed |= error is not None
        zf = zip_facts(args.zips, name) if args.zips else None
        rows.append((name, binary.stat().st_size, zf, times, error))
    server.shutdown()

    print(f"start-up to the first Runtime API poll, {args.runs} runs each (after one warm-up);"
          f" goals: zip <= {ZIP_GOAL_BYTES:,} B (5 MB), start-up <= {STARTUP_GOAL_MS:.0f} ms")
    header = (f"{'function':<12} {'zip (arch, config)':<28} {'binary':>10}"
              f" {'min ms':>8} {'median':>8} {'p90':>8} {'max':>8}  goals")
    print(header)
    print("-" * len(header))
    for name, size, zf, times, error in rows:
        if zf:
            ok = "ok" if zf["bytes"] <= ZIP_GOAL_BYTES else "OVER"
            zip_col = f"{mib(zf['bytes'])} ({zf['arch']}, {'yes' if zf['config'] else 'no'})"
        else:
            ok, zip_col = "-", "(not built)"
        size_col = mib(size) if size else "-"
        if error:
            print(f"{name:<12} {zip_col:<28} {size_col:>10}  FAILED: {error}")
            continue
        med = statistics.median(times)
        goal = "ok" if med <= STARTUP_GOAL_MS else "OVER"
        print(f"{name:<12} {zip_col:<28} {size_col:>10} {min(times):>8.1f} {med:>8.1f}"
              f" {percentile(times, 0.9):>8.1f} {max(times):>8.1f}  zip {ok}, start-up {goal}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
