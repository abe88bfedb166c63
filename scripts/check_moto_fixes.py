"""Checks scripts/moto_server.py's fixes against the running moto. Transactions: a cancelled
transaction leaves nothing behind (a Put before a failed condition, an Update before a failed
Put), a committed one keeps both writes, and other items are untouched. Query: a partition's
items only, in key order both ways, with begins_with, Limit and ExclusiveStartKey paging, and
a partition that does not exist. SQS: long-polling receivers still get messages sent while they
wait (one wake-up per message), each message once; and a standard queue keeps the
MessageGroupId Hookline sets (the tenant, for fair queues). `make test` runs it.
"""

import os, boto3
c = boto3.client("dynamodb", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1")
table = "txcheck"
c.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
  AttributeDefinitions=[{"AttributeName":"pk","AttributeType":"S"},{"AttributeName":"sk","AttributeType":"S"}],
  KeySchema=[{"AttributeName":"pk","KeyType":"HASH"},{"AttributeName":"sk","KeyType":"RANGE"}])
c.put_item(TableName=table, Item={"pk":{"S":"p"},"sk":{"S":"DLV"},"attempts":{"N":"1"}})
c.put_item(TableName=table, Item={"pk":{"S":"p"},"sk":{"S":"other"},"v":{"N":"1"}})
# Put new attempt + update delivery with a failing condition: must cancel, leaving no attempt.
try:
    c.transact_write_items(TransactItems=[
      {"Put":{"TableName":table,"Item":{"pk":{"S":"p"},"sk":{"S":"ATT1"}},"ConditionExpression":"attribute_not_exists(pk)"}},
      {"Update":{"TableName":table,"Key":{"pk":{"S":"p"},"sk":{"S":"DLV"}},"UpdateExpression":"SET attempts = :n",
                 "ConditionExpression":"attempts = :prev","ExpressionAttributeValues":{":n":{"N":"2"},":prev":{"N":"5"}}}}])
    print("FAIL: not cancelled")
except c.exceptions.TransactionCanceledException:
    pass
assert "Item" not in c.get_item(TableName=table, Key={"pk":{"S":"p"},"sk":{"S":"ATT1"}}), "rolled-back put persisted"
# Update succeeds, then the Put fails: the update must be undone.
c.put_item(TableName=table, Item={"pk":{"S":"p"},"sk":{"S":"ATT2"}})
try:
    c.transact_write_items(TransactItems=[
      {"Update":{"TableName":table,"Key":{"pk":{"S":"p"},"sk":{"S":"DLV"}},"UpdateExpression":"SET attempts = :n",
                 "ConditionExpression":"attempts = :prev","ExpressionAttributeValues":{":n":{"N":"2"},":prev":{"N":"1"}}}},
      {"Put":{"TableName":table,"Item":{"pk":{"S":"p"},"sk":{"S":"ATT2"}},"ConditionExpression":"attribute_not_exists(pk)"}}])
    print("FAIL: not cancelled 2")
except c.exceptions.TransactionCanceledException:
    pass
got = c.get_item(TableName=table, Key={"pk":{"S":"p"},"sk":{"S":"DLV"}})["Item"]["attempts"]["N"]
assert got == "1", f"update not rolled back: {got}"
# A successful transaction persists both.
c.transact_write_items(TransactItems=[
  {"Put":{"TableName":table,"Item":{"pk":{"S":"p"},"sk":{"S":"ATT3"}},"ConditionExpression":"attribute_not_exists(pk)"}},
  {"Update":{"TableName":table,"Key":{"pk":{"S":"p"},"sk":{"S":"DLV"}},"UpdateExpression":"SET attempts = :n",
             "ConditionExpression":"attempts = :prev","ExpressionAttributeValues":{":n":{"N":"2"},":prev":{"N":"1"}}}}])
assert c.get_item(TableName=table, Key={"pk":{"S":"p"},"sk":{"S":"DLV"}})["Item"]["attempts"]["N"] == "2"
assert "Item" in c.get_item(TableName=table, Key={"pk":{"S":"p"},"sk":{"S":"ATT3"}})
assert "Item" in c.get_item(TableName=table, Key={"pk":{"S":"p"},"sk":{"S":"other"}})
print("transactions OK")

# Query reads one partition: neighbours on either side (by hash and by sort order) stay out.
for pk in ["o", "q", "qq", "p"]:
    for sk in ["ATT#2", "ATT#10", "DLV#1", "ATT#1", "EVT"]:
        c.put_item(TableName=table, Item={"pk": {"S": pk + "x"}, "sk": {"S": sk}})
def query(**kw):
    return c.query(TableName=table, KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
                   ExpressionAttributeValues={":pk": {"S": "px"}, ":p": {"S": "ATT#"}}, **kw)
sks = lambda out: [i["sk"]["S"] for i in out["Items"]]
assert sks(query()) == ["ATT#1", "ATT#10", "ATT#2"], sks(query())
assert sks(query(ScanIndexForward=False)) == ["ATT#2", "ATT#10", "ATT#1"]
page = query(Limit=2)
assert sks(page) == ["ATT#1", "ATT#10"] and page["LastEvaluatedKey"]["sk"]["S"] == "ATT#10", page
assert sks(query(Limit=2, ExclusiveStartKey=page["LastEvaluatedKey"])) == ["ATT#2"]
whole = c.query(TableName=table, KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": "px"}})
assert sks(whole) == ["ATT#1", "ATT#10", "ATT#2", "DLV#1", "EVT"] and whole["Count"] == 5, whole
none = c.query(TableName=table, KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": "zz"}})
assert none["Items"] == [] and none["Count"] == 0
print("query OK")


# Long polls woken one per message: every message sent while five receivers wait is received, once.
import threading
sqs = boto3.client("sqs", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1")
q = sqs.create_queue(QueueName="wakecheck")["QueueUrl"]
got, lock = [], threading.Lock()
def receiver():
    out = sqs.receive_message(QueueUrl=q, MaxNumberOfMessages=10, WaitTimeSeconds=5, MessageSystemAttributeNames=["All"])
    with lock:
        got.extend(out.get("Messages", []))
threads = [threading.Thread(target=receiver) for _ in range(5)]
for t in threads:
    t.start()
import time
time.sleep(0.5)
for n in range(3):
    sqs.send_message(QueueUrl=q, MessageBody=f"m{n}", MessageGroupId="ten_a")
for t in threads:
    t.join()
bodies = sorted(m["Body"] for m in got)
assert bodies == ["m0", "m1", "m2"], bodies
assert all(m["Attributes"].get("MessageGroupId") == "ten_a" for m in got), got
print("sqs OK")
