//! The table primitives the item modules build on: conditional writes, transactions, batch
//! deletes and the paginated Query, each answering DynamoDB's failures in one place.

use std::time::Duration;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::query::QueryOutput;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::builders::UpdateBuilder;
use aws_sdk_dynamodb::types::{Delete, DeleteRequest, Put, TransactWriteItem, WriteRequest};

use super::attrs::{Item, s};
use super::{Store, StoreError};

/// BatchWriteItem's limit on requests per call.
const BATCH_WRITE_LIMIT: usize = 25;
const BATCH_WRITE_ROUNDS: u32 = 8;

/// A conditional write's answer: `Some` with its output if it was made, `None` if its
/// condition did not hold; any other failure as a [`StoreError`] for `op`.
pub(super) fn conditional<O, E>(result: Result<O, E>, op: &'static str) -> Result<Option<O>, StoreError>
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
{
    match result {
        Ok(out) => Ok(Some(out)),
        Err(err) if err.code() == Some("ConditionalCheckFailedException") => Ok(None),
        Err(err) => Err(StoreError::aws(op)(err)),
    }
}

pub(super) fn build_error(err: impl std::error::Error) -> StoreError {
    StoreError::Corrupt(err.to_string())
}

/// How a transaction ended: committed, or cancelled because these items (by position) failed
/// their condition. Any other cancellation (a conflicting transaction) is an error to retry.
pub(super) enum Transaction {
    Committed,
    ConditionFailed(Vec<bool>),
}

fn cancelled_conditions<R>(err: &SdkError<TransactWriteItemsError, R>) -> Option<Vec<bool>> {
    match err.as_service_error()? {
        TransactWriteItemsError::TransactionCanceledException(e) => {
            let failed: Vec<bool> =
                e.cancellation_reasons().iter().map(|r| r.code() == Some("ConditionalCheckFailed")).collect();
            failed.iter().any(|f| *f).then_some(failed)
        }
        _ => None,
    }
}

/// An update as one item of a transaction.
pub(super) fn transact_update(update: UpdateBuilder) -> Result<TransactWriteItem, StoreError> {
    update.build().map(|u| TransactWriteItem::builder().update(u).build()).map_err(build_error)
}

impl Store {
    pub(super) async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<Transaction, StoreError> {
        match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
            Ok(_) => Ok(Transaction::Committed),
            Err(err) => match cancelled_conditions(&err) {
                Some(failed) => Ok(Transaction::ConditionFailed(failed)),
                None => Err(StoreError::aws("TransactWriteItems")(err)),
            },
        }
    }

    pub(super) fn put(&self, item: Item, condition: Option<&str>) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression(condition.map(str::to_owned))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    pub(super) fn delete(
        &self,
        pk: String,
        sk: String,
        condition: Option<&str>,
    ) -> Result<TransactWriteItem, StoreError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .set_condition_expression(condition.map(str::to_owned))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    /// Deletes the items named by these `(pk, sk)` keys in one transaction.
    pub(super) async fn delete_together(&self, keys: [(String, String); 2]) -> Result<Transaction, StoreError> {
        let items = keys.into_iter().map(|(pk, sk)| self.delete(pk, sk, None)).collect::<Result<Vec<_>, _>>()?;
        self.transact(items).await
    }

    /// Deletes items by `(pk, sk)`, in batches of 25.
    pub(super) async fn batch_delete(&self, keys: Vec<(String, String)>) -> Result<(), StoreError> {
        let requests: Vec<WriteRequest> = keys
            .into_iter()
            .map(|(pk, sk)| {
                DeleteRequest::builder()
                    .key("pk", s(pk))
                    .key("sk", s(sk))
                    .build()
                    .map(|delete| WriteRequest::builder().delete_request(delete).build())
            })
            .collect::<Result<_, _>>()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        for chunk in requests.chunks(BATCH_WRITE_LIMIT) {
            self.batch_write(chunk.to_vec()).await?;
        }
        Ok(())
    }

    /// One BatchWriteItem of at most 25 requests, retrying what DynamoDB leaves unprocessed.
    async fn batch_write(&self, mut pending: Vec<WriteRequest>) -> Result<(), StoreError> {
        for round in 0..BATCH_WRITE_ROUNDS {
            if round > 0 {
                tokio::time::sleep(Duration::from_millis(25 << round)).await;
            }
            let out = self
                .client
                .batch_write_item()
                .request_items(&self.table, pending)
                .send()
                .await
                .map_err(StoreError::aws("BatchWriteItem"))?;
            pending = out.unprocessed_items.and_then(|mut m| m.remove(&self.table)).unwrap_or_default();
            if pending.is_empty() {
                return Ok(());
            }
        }
        Err(StoreError::Unavailable {
            op: "BatchWriteItem",
            message: format!("{} items still unprocessed", pending.len()),
        })
    }

    /// Every item under `pk` whose sort key starts with `prefix`, following pagination.
    /// (An empty `prefix` reads the whole partition.)
    pub(super) async fn query_prefix(&self, pk: String, prefix: &str) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        self.query_pages(pk, prefix, |query| query, |out| items.extend(out.items.unwrap_or_default())).await?;
        Ok(items)
    }

    /// The one paginated Query: every page of a consistent read of the items under `pk` whose
    /// sort key starts with `prefix` (all of them if it is empty), each handed to `page`.
    /// `shape` adds to the request (a projection, `Select::Count`).
    pub(super) async fn query_pages(
        &self,
        pk: String,
        prefix: &str,
        shape: impl Fn(QueryFluentBuilder) -> QueryFluentBuilder,
        mut page: impl FnMut(QueryOutput),
    ) -> Result<(), StoreError> {
        let mut start = None;
        loop {
            let query = self.client.query().table_name(&self.table).expression_attribute_values(":pk", s(pk.clone()));
            let query = if prefix.is_empty() {
                query.key_condition_expression("pk = :pk")
            } else {
                query
                    .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                    .expression_attribute_values(":prefix", s(prefix))
            };
            let mut out = shape(query)
                .set_exclusive_start_key(start)
                .consistent_read(true)
                .send()
                .await
                .map_err(StoreError::aws("Query"))?;
            start = out.last_evaluated_key.take().filter(|key| !key.is_empty());
            page(out);
            if start.is_none() {
                return Ok(());
            }
        }
    }
}
