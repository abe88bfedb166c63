"""moto's standalone server, with fixes for what made a long local run slow or wrong.

Transactions: moto backs up every table a TransactWriteItems call names with `copy.deepcopy` of the whole
table and, when the transaction is cancelled, puts the backup table in place of the live one.
That costs O(table size) per transaction (seconds each for a chaos run's 100 000 items), and it
throws away every write other requests made to that table while the transaction ran.

This wrapper serialises transactions, snapshots only the items a transaction names, lets moto's
own backup be the live table itself (so its rollback changes nothing), and on cancellation puts
back just those items.

Query: moto answers a Query on the base table by sorting every item of the table and keeping
those with the asked-for partition key, so each Query costs O(table) (tens of milliseconds once
a chaos run has written 100 000 items). This wrapper hands Query only the partition's items
(with `begins_with` on the sort key, only those with the prefix), which are exactly the ones
it would have kept. Queries on an index are left as they are.

SQS: ReceiveMessage checked each message's retention by building all the queue's attributes,
which counts every message in the queue (O(queue) per message received); it now reads the one
attribute it needs. A message sent to a standard queue woke every long-polling receiver
(`notify_all`), and each scanned the queue: with the 50 pollers of the template's event source
mapping (`make fairness`) that herd was most of moto's time. It now wakes one receiver per
message, which is enough: a woken receiver takes up to ten.

Single-item writes: moto's UpdateItem, PutItem and DeleteItem read the item, check the
condition and write without a lock, and the server runs a thread per request, so two
conditional writes to one item could both pass (the in-flight cap's `size(leases) < :cap` let
a fourth lease in under a cap of three). DynamoDB checks and writes an item atomically; these
now run one at a time, under the transactions' lock. (Not covered by check_moto_fixes.py: a
check with a dozen threads did not reproduce the race, which `fairness.rs` met under load.)

Logging: werkzeug's line per request serialised the server's threads on the log handler's
lock; only warnings and errors are logged.

Everything else is moto as released. scripts/check_moto_fixes.py checks the fixes.
"""

import copy
import logging
import sys
import threading
from contextvars import ContextVar

from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.core.utils import unix_time
from moto.server import main
from moto.sqs.models import Queue, SQSBackend

_original_transact = DynamoDBBackend.transact_write_items
_original_deepcopy = getattr(Table, "__deepcopy__", None)
_IN_TRANSACTION: ContextVar[bool] = ContextVar("_IN_TRANSACTION", default=False)
_original_query = Table.query
_original_all_items = Table.all_items
# The partition key of the base-table Query running in this context, if any.
_QUERY_PARTITION: ContextVar = ContextVar("_QUERY_PARTITION", default=None)
# Reentrant: a transaction holds it while moto's own transaction code writes items.
_LOCK = threading.RLock()


def _key_of(table: Table, op: dict):
    key = op.get("Key") or op.get("Item") or {}
    hash_value = key.get(table.hash_key_attr)
    range_value = key.get(table.range_key_attr) if table.range_key_attr else None
    return (
        DynamoType(hash_value) if hash_value is not None else None,
        DynamoType(range_value) if range_value is not None else None,
    )


def _get(table: Table, hash_value, range_value):
    if table.range_key_attr:
        return table.items.get(hash_value, {}).get(range_value)
    return table.items.get(hash_value)


def _put_back(table: Table, hash_value, range_value, saved):
    if table.range_key_attr:
        if saved is None:
            table.items.get(hash_value, {}).pop(range_value, None)
        else:
            table.items[hash_value][range_value] = saved
    elif saved is None:
        table.items.pop(hash_value, None)
    else:
        table.items[hash_value] = saved


def transact_write_items(self, transact_items):
    with _LOCK:
        saved = []
        for item in transact_items:
            for op in item.values():
                table = self.tables.get(op.get("TableName"))
                if table is not None:
                    hash_value, range_value = _key_of(table, op)
                    saved.append((table, hash_value, range_value, copy.deepcopy(_get(table, hash_value, range_value))))
        token = _IN_TRANSACTION.set(True)
        try:
            return _original_transact(self, transact_items)
        except Exception:
            for table, hash_value, range_value, item in saved:
                _put_back(table, hash_value, range_value, item)
            raise
        finally:
            _IN_TRANSACTION.reset(token)


def _table_deepcopy(self, memo):
    if _IN_TRANSACTION.get():
        # moto's backup for rollback: the live table, so its rollback is a no-op (see above).
        return self
    clone = copy.copy(self)
    clone.items = copy.deepcopy(self.items, memo)
    return clone


def query(self, hash_key, *args, **kwargs):
    # Positional order as moto's backend calls it: ..., projection_expressions, index_name, ...
    index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
    if index_name is not None or hash_key is None or not self.range_key_attr:
        return _original_query(self, hash_key, *args, **kwargs)
    range_comparison, range_objs = (args[0], args[1]) if len(args) > 1 else (None, None)
    prefix = None
    if str(range_comparison).upper() == "BEGINS_WITH" and range_objs and range_objs[0].type == "S":
        prefix = range_objs[0].value
    token = _QUERY_PARTITION.set((hash_key, prefix))
    try:
        return _original_query(self, hash_key, *args, **kwargs)
    finally:
        _QUERY_PARTITION.reset(token)


def all_items(self):
    asked = _QUERY_PARTITION.get()
    if asked is None:
        return _original_all_items(self)
    partition, prefix = asked
    items = self.items.get(partition, {}).values()
    if prefix is not None:
        items = [i for i in items if i.range_key.type == "S" and i.range_key.value.startswith(prefix)]
    # The same order moto's all_items gives, over what the Query can match.
    return sorted(items, key=lambda x: (x.hash_key, x.range_key))


def is_message_valid_based_on_retention_period(self, queue_name, message):
    retention_period = int(self.get_queue(queue_name).message_retention_period)
    return retention_period + message.sent_timestamp / 1000 > unix_time()


_original_add_message = Queue.add_message


def add_message(self, message):
    if self.fifo_queue or self.lambda_event_source_mappings:
        return _original_add_message(self, message)
    with self._messages_lock:
        self._messages.append(message)
        self._messages_lock.notify()


def _one_at_a_time(write):
    def serialised(self, *args, **kwargs):
        with _LOCK:
            return write(self, *args, **kwargs)

    return serialised


DynamoDBBackend.transact_write_items = transact_write_items
DynamoDBBackend.update_item = _one_at_a_time(DynamoDBBackend.update_item)
DynamoDBBackend.put_item = _one_at_a_time(DynamoDBBackend.put_item)
DynamoDBBackend.delete_item = _one_at_a_time(DynamoDBBackend.delete_item)
Table.__deepcopy__ = _table_deepcopy
Table.query = query
Table.all_items = all_items
SQSBackend.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period
Queue.add_message = add_message
logging.getLogger("werkzeug").setLevel(logging.WARNING)

if __name__ == "__main__":
    sys.argv[0] = "moto_server"
    sys.exit(main())
