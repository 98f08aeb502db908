"""Runs moto's server (DynamoDB + SES v2 on one port) for local development and tests.

Why not plain `moto_server`: it serves each request on its own thread with no lock, and
moto's TransactWriteItems snapshots whole tables and restores the snapshot when a
transaction is cancelled. Two transactions racing on one table can then undo each
other's committed writes -- something real DynamoDB, which isolates transactions,
never does. Serialising requests gives the integration tests DynamoDB's isolation, so a
concurrency test fails only for a real bug in Aftercart, not because of the emulator.

Usage: python tools/moto_server.py [--host 127.0.0.1] [--port 5005]
"""

import argparse
import threading

from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)


def serialised(app):
    lock = threading.Lock()

    def wrapped(environ, start_response):
        with lock:
            # Materialise the response inside the lock so no moto code runs outside it.
            body = list(app(environ, start_response))
        return body

    return wrapped


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5005)
    args = parser.parse_args()
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(
        args.host,
        args.port,
        serialised(app),
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()
