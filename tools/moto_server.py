"""Runs moto's server (DynamoDB + SES v2 on one port) for local development and tests.

Why not plain `moto_server`: it serves each request on its own thread with no lock, and
moto's TransactWriteItems snapshots whole tables and restores the snapshot when a
transaction is cancelled. Two transactions racing on one table can then undo each
other's committed writes -- something real DynamoDB, which isolates transactions,
never does. Serialising requests gives the integration tests DynamoDB's isolation, so a
concurrency test fails only for a real bug in Aftercart, not because of the emulator.

The snapshot is also why moto slows down as a table grows: it deep-copies the whole
table once per item of every transaction, so a 3-item transaction on a table of 30,000
items copied 90,000 items (seconds per delivery in the ingest load bench, which then
never finished). With requests serialised, a journal of the items the transaction
touches is an exact rollback, so `cheap_transaction_rollback` replaces the snapshot
with one.

moto's ReceiveMessage is quadratic too: for every message it hands out it reads the
queue's retention period through GetQueueAttributes, which first computes every
attribute, including three counts over all messages. `cheap_retention_check` reads the
period directly; a receive from a queue of 5,000 messages took over 5 s before. And each
SendMessage computes every attribute twice; every count asks the clock once per message
through `datetime.utcnow()`, so `fast_sqs_clock` gives moto's SQS models `time.time()`
(the same instant, a tenth of the cost). Last, a Query on the table's own key sorts every
item of the table and then keeps one partition; `partition_queries` hands it only that
partition, sorted as moto sorts.

Usage: python tools/moto_server.py [--host 127.0.0.1] [--port 5005]
"""

import argparse
import copy
import functools
import threading
import time

import moto.dynamodb.models as dynamo_models
import moto.sqs.models as sqs_models
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table

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


class _TablesAreNotCopied:
    """`copy` as moto's DynamoDB backend sees it: every copy as before except a whole
    `Table`, which is returned as it is (the journal below restores what changed)."""

    def __getattr__(self, name):
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value, memo=None):
        if isinstance(value, Table):
            return value
        return copy.deepcopy(value, memo)


def _touched(backend, transact_items):
    """(table, hash, range) of each item a transaction names, where its table exists."""
    keys = []
    for entry in transact_items:
        try:
            _, op = next(iter(entry.items()))
            table = backend.tables[op["TableName"]]
            key = op["Item"] if "Item" in op else op["Key"]
            hash_key = DynamoType(key[table.hash_key_attr])
            range_key = (
                DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
            )
        except (KeyError, StopIteration, AttributeError, TypeError):
            continue  # moto itself answers a malformed item with its own error
        keys.append((table, hash_key, range_key))
    return keys


def _restore(table, hash_key, range_key, before):
    if range_key is None:
        if before is None:
            table.items.pop(hash_key, None)
        else:
            table.items[hash_key] = before
        return
    partition = table.items[hash_key]
    if before is None:
        partition.pop(range_key, None)
        if not partition:
            table.items.pop(hash_key, None)
    else:
        partition[range_key] = before


def cheap_transaction_rollback():
    """TransactWriteItems rolls back the items it touched instead of whole tables."""
    dynamo_models.copy = _TablesAreNotCopied()
    original = dynamo_models.DynamoDBBackend.transact_write_items

    @functools.wraps(original)
    def transact_write_items(self, transact_items):
        journal = [
            (table, h, r, copy.deepcopy(table.get_item(h, r)))
            for table, h, r in _touched(self, transact_items)
        ]
        try:
            return original(self, transact_items)
        except Exception:
            for table, h, r, before in reversed(journal):
                _restore(table, h, r, before)
            raise

    dynamo_models.DynamoDBBackend.transact_write_items = transact_write_items


def cheap_retention_check():
    """ReceiveMessage checks each message's retention without computing every queue
    attribute (same rule as moto's: kept while sent + retention period is ahead)."""

    def is_message_valid_based_on_retention_period(self, queue_name, message):
        period = int(self.get_queue(queue_name).message_retention_period)
        return period + message.sent_timestamp / 1000 > time.time()

    sqs_models.SQSBackend.is_message_valid_based_on_retention_period = (
        is_message_valid_based_on_retention_period
    )


def fast_sqs_clock():
    """moto's SQS models read the clock through `time.time()`."""
    sqs_models.unix_time = time.time
    sqs_models.unix_time_millis = lambda: time.time() * 1000


def partition_queries():
    """A Query without an index reads only its partition (same items, same order)."""
    original_query = Table.query
    original_all_items = Table.all_items

    @functools.wraps(original_query)
    def query(self, hash_key, *args, **kwargs):
        index_name = kwargs["index_name"] if "index_name" in kwargs else (
            args[6] if len(args) > 6 else None
        )
        self._only_partition = hash_key if index_name is None else None
        try:
            return original_query(self, hash_key, *args, **kwargs)
        finally:
            self._only_partition = None

    @functools.wraps(original_all_items)
    def all_items(self):
        hash_key = getattr(self, "_only_partition", None)
        if hash_key is None:
            return original_all_items(self)
        partition = self.items.get(hash_key)  # .get: items is a defaultdict
        if not partition:
            return []
        if not self.range_key_attr:
            return [partition]
        return sorted(partition.values(), key=lambda item: item.range_key)

    Table.query = query
    Table.all_items = all_items


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5005)
    args = parser.parse_args()
    cheap_transaction_rollback()
    cheap_retention_check()
    fast_sqs_clock()
    partition_queries()
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
