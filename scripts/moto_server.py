"""moto's standalone server, with one performance fix for DynamoDB transactions.

moto backs up every table a TransactWriteItems call names with `copy.deepcopy` of the whole
table, so that it can roll back. That makes each transaction cost O(table size): a chaos run's
table of 100 000 items spends seconds per transaction. This wrapper makes the backup copy the
table's item index (cheap: references) and deep-copy only the items the transaction touches,
which is all a rollback can need. Everything else is moto as released.
"""

import copy
import sys
from collections import defaultdict
from contextvars import ContextVar

from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.server import main

# Table name -> set of (hash, range) keys (as DynamoType) the running transaction touches.
_TOUCHED: ContextVar[dict | None] = ContextVar("_TOUCHED", default=None)
_original_transact = DynamoDBBackend.transact_write_items


def _key_of(table: Table, op: dict):
    key = op.get("Key") or op.get("Item") or {}
    hash_value = key.get(table.hash_key_attr)
    range_value = key.get(table.range_key_attr) if table.range_key_attr else None
    return (
        DynamoType(hash_value) if hash_value is not None else None,
        DynamoType(range_value) if range_value is not None else None,
    )


def transact_write_items(self, transact_items):
    touched: dict = {}
    for item in transact_items:
        for op in item.values():
            table = self.tables.get(op.get("TableName"))
            if table is not None:
                touched.setdefault(table.name, set()).add(_key_of(table, op))
    token = _TOUCHED.set(touched)
    try:
        return _original_transact(self, transact_items)
    finally:
        _TOUCHED.reset(token)


def _table_deepcopy(self, memo):
    touched = (_TOUCHED.get() or {}).get(self.name)
    clone = copy.copy(self)
    if touched is None:
        clone.items = copy.deepcopy(self.items, memo)
        return clone
    items = defaultdict(dict)
    for hash_value, entry in self.items.items():
        items[hash_value] = dict(entry) if self.range_key_attr else entry
    for hash_value, range_value in touched:
        if self.range_key_attr:
            if hash_value in items and range_value in items[hash_value]:
                items[hash_value][range_value] = copy.deepcopy(items[hash_value][range_value])
        elif hash_value in items:
            items[hash_value] = copy.deepcopy(items[hash_value])
    clone.items = items
    return clone


DynamoDBBackend.transact_write_items = transact_write_items
Table.__deepcopy__ = _table_deepcopy

if __name__ == "__main__":
    sys.argv[0] = "moto_server"
    sys.exit(main())
