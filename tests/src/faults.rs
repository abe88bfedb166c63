//! Partial batch failures, as SQS and DynamoDB produce them under load, injected with an SDK
//! interceptor: the request still goes to the local AWS server, only without the entries
//! chosen to fail, and the answer names exactly those entries as failed (SQS
//! `SendMessageBatch`: `Failed`) or unprocessed (DynamoDB `BatchWriteItem`: `UnprocessedItems`).
//! So an entry reported as failed really was not taken, and only a retry puts it there: a test
//! that nothing is lost fails if the retry does not happen.
//!
//! Attach it with `hookline_local::clients::local_clients_with_interceptor` and
//! `Hookline::start_with_clients`; it does nothing until armed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::operation::batch_write_item::{BatchWriteItemInput, BatchWriteItemOutput};
use aws_sdk_dynamodb::types::WriteRequest;
use aws_sdk_sqs::operation::send_message_batch::{SendMessageBatchInput, SendMessageBatchOutput};
use aws_sdk_sqs::types::{BatchResultErrorEntry, SendMessageBatchRequestEntry};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextMut, FinalizerInterceptorContextMut,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};

#[derive(Debug, Default)]
struct Plan {
    /// SendMessageBatch entries still to refuse, one call at a time.
    sqs_entries: usize,
    /// The most entries refused in one call (`usize::MAX`: as many as allowed).
    sqs_per_call: usize,
    /// BatchWriteItem requests still to leave unprocessed.
    dynamodb_items: usize,
    /// What was refused so far.
    sqs_refused: usize,
    dynamodb_left: usize,
}

#[derive(Clone, Debug, Default)]
pub struct PartialFailures {
    plan: Arc<Mutex<Plan>>,
}

/// What one call had taken out of its request, for the answer.
#[derive(Debug, Clone)]
enum Withheld {
    Sqs(Vec<SendMessageBatchRequestEntry>),
    DynamoDb(HashMap<String, Vec<WriteRequest>>),
}

impl Storable for Withheld {
    type Storer = StoreReplace<Self>;
}

impl PartialFailures {
    /// Refuses the next `count` SendMessageBatch entries, at most `per_call` in one call. A call
    /// whose every entry is refused goes out empty, which SQS refuses as a whole.
    pub fn refuse_sqs_entries(&self, count: usize, per_call: usize) {
        let mut plan = self.plan.lock().unwrap();
        plan.sqs_entries = count;
        plan.sqs_per_call = per_call;
    }

    /// Leaves the next `count` BatchWriteItem requests unprocessed (a call keeps one).
    pub fn leave_dynamodb_items(&self, count: usize) {
        self.plan.lock().unwrap().dynamodb_items = count;
    }

    /// SendMessageBatch entries refused so far.
    pub fn sqs_refused(&self) -> usize {
        self.plan.lock().unwrap().sqs_refused
    }

    /// BatchWriteItem requests left unprocessed so far.
    pub fn dynamodb_left(&self) -> usize {
        self.plan.lock().unwrap().dynamodb_left
    }

    fn withhold_sqs(&self, input: &mut SendMessageBatchInput) -> Option<Withheld> {
        let mut plan = self.plan.lock().unwrap();
        let entries = input.entries.as_mut()?;
        let count = plan.sqs_entries.min(plan.sqs_per_call).min(entries.len());
        if count == 0 {
            return None;
        }
        plan.sqs_entries -= count;
        plan.sqs_refused += count;
        Some(Withheld::Sqs(entries.split_off(entries.len() - count)))
    }

    fn withhold_dynamodb(&self, input: &mut BatchWriteItemInput) -> Option<Withheld> {
        let mut plan = self.plan.lock().unwrap();
        let mut withheld = HashMap::new();
        for (table, requests) in input.request_items.iter_mut().flatten() {
            let count = plan.dynamodb_items.min(requests.len().saturating_sub(1));
            if count > 0 {
                plan.dynamodb_items -= count;
                plan.dynamodb_left += count;
                withheld.insert(table.clone(), requests.split_off(requests.len() - count));
            }
        }
        (!withheld.is_empty()).then_some(Withheld::DynamoDb(withheld))
    }
}

impl Intercept for PartialFailures {
    fn name(&self) -> &'static str {
        "HooklineTestPartialFailures"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let input = context.input_mut();
        let withheld = if let Some(input) = input.downcast_mut::<SendMessageBatchInput>() {
            self.withhold_sqs(input)
        } else if let Some(input) = input.downcast_mut::<BatchWriteItemInput>() {
            self.withhold_dynamodb(input)
        } else {
            None
        };
        if let Some(withheld) = withheld {
            cfg.interceptor_state().store_put(withheld);
        }
        Ok(())
    }

    fn modify_before_completion(
        &self,
        context: &mut FinalizerInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(withheld) = cfg.load::<Withheld>().cloned() else { return Ok(()) };
        let Some(Ok(output)) = context.output_or_error_mut() else { return Ok(()) };
        match withheld {
            Withheld::Sqs(entries) => {
                let output = output.downcast_mut::<SendMessageBatchOutput>().ok_or("not a SendMessageBatch output")?;
                for entry in entries {
                    output.failed.push(
                        BatchResultErrorEntry::builder()
                            .id(entry.id)
                            .sender_fault(false)
                            .code("InternalError")
                            .message("injected by the test's interceptor")
                            .build()?,
                    );
                }
            }
            Withheld::DynamoDb(items) => {
                let output = output.downcast_mut::<BatchWriteItemOutput>().ok_or("not a BatchWriteItem output")?;
                let unprocessed = output.unprocessed_items.get_or_insert_with(HashMap::new);
                for (table, requests) in items {
                    unprocessed.entry(table).or_default().extend(requests);
                }
            }
        }
        Ok(())
    }
}
