"""moto's standalone server, with one fix to DynamoDB transactions.

moto backs up every table a TransactWriteItems call names with `copy.deepcopy` of the whole
table and, when the transaction is cancelled, puts the backup table in place of the live one.
That costs O(table size) per transaction (seconds each for a chaos run's 100 000 items), and it
throws away every write other requests made to that table while the transaction ran.

This wrapper serialises transactions, snapshots only the items a transaction names, lets moto's
own backup be the live table itself (so its rollback changes nothing), and on cancellation puts
back just those items. Everything else is moto as released.
"""

import copy
import sys
import threading
from contextvars import ContextVar

from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.server import main

_original_transact = DynamoDBBackend.transact_write_items
_original_deepcopy = getattr(Table, "__deepcopy__", None)
_IN_TRANSACTION: ContextVar[bool] = ContextVar("_IN_TRANSACTION", default=False)
_LOCK = threading.Lock()


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


DynamoDBBackend.transact_write_items = transact_write_items
Table.__deepcopy__ = _table_deepcopy

if __name__ == "__main__":
    sys.argv[0] = "moto_server"
    sys.exit(main())
