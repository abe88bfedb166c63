//! An SDK interceptor on the api's DynamoDB client: records every call (operation, item key,
//! whether a read was strongly consistent) and can rewrite one UpdateItem before it is sent,
//! to provoke a lost race or a vanished item deterministically against the real local server.
//! moto is strongly consistent, so a stale read cannot be seen from outside; this sees how
//! each read was asked for.

use std::fmt;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::{
    BeforeSerializationInterceptorContextMut, BeforeSerializationInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::operation::get_item::GetItemInput;
use aws_sdk_dynamodb::operation::put_item::PutItemInput;
use aws_sdk_dynamodb::operation::query::QueryInput;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput;
use aws_sdk_dynamodb::operation::update_item::UpdateItemInput;
use aws_sdk_dynamodb::types::AttributeValue;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// One DynamoDB call as the handler made it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    pub operation: &'static str,
    /// The item's sort key (GetItem, UpdateItem, PutItem), or the Query's `:pk` value.
    pub key: String,
    /// For reads: whether `ConsistentRead` was asked for.
    pub consistent: bool,
    /// For a Query of an index: the index's name.
    pub index: Option<String>,
}

impl Call {
    pub fn is_write(&self) -> bool {
        matches!(self.operation, "UpdateItem" | "PutItem" | "TransactWriteItems" | "DeleteItem")
    }
}

/// Rewrites an UpdateItem before it is sent (`None`: leave it).
pub type Tamper = Box<dyn Fn(&mut UpdateItemInput) + Send + Sync>;

#[derive(Clone, Default)]
pub struct DynamoCalls {
    calls: Arc<Mutex<Vec<Call>>>,
    tamper: Arc<Mutex<Option<Tamper>>>,
}

impl fmt::Debug for DynamoCalls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynamoCalls").finish_non_exhaustive()
    }
}

fn text(value: Option<&AttributeValue>) -> String {
    value.and_then(|v| v.as_s().ok()).cloned().unwrap_or_default()
}

impl DynamoCalls {
    /// The calls made since the last [`DynamoCalls::take`].
    pub fn take(&self) -> Vec<Call> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }

    /// Applies `tamper` to the next UpdateItem (once).
    pub fn tamper_next_update(&self, tamper: impl Fn(&mut UpdateItemInput) + Send + Sync + 'static) {
        *self.tamper.lock().unwrap() = Some(Box::new(tamper));
    }
}

impl Intercept for DynamoCalls {
    fn name(&self) -> &'static str {
        "DynamoCalls"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let input = context.input();
        let call = if let Some(get) = input.downcast_ref::<GetItemInput>() {
            let key = get.key.as_ref().map(|k| text(k.get("sk"))).unwrap_or_default();
            Call { operation: "GetItem", key, consistent: get.consistent_read == Some(true), index: None }
        } else if let Some(query) = input.downcast_ref::<QueryInput>() {
            let key = query.expression_attribute_values.as_ref().map(|v| text(v.get(":pk"))).unwrap_or_default();
            let index = query.index_name.clone();
            Call { operation: "Query", key, consistent: query.consistent_read == Some(true), index }
        } else if let Some(update) = input.downcast_ref::<UpdateItemInput>() {
            let key = update.key.as_ref().map(|k| text(k.get("sk"))).unwrap_or_default();
            Call { operation: "UpdateItem", key, consistent: false, index: None }
        } else if let Some(put) = input.downcast_ref::<PutItemInput>() {
            let key = put.item.as_ref().map(|k| text(k.get("sk"))).unwrap_or_default();
            Call { operation: "PutItem", key, consistent: false, index: None }
        } else if input.downcast_ref::<TransactWriteItemsInput>().is_some() {
            Call { operation: "TransactWriteItems", key: String::new(), consistent: false, index: None }
        } else {
            Call { operation: "other", key: String::new(), consistent: false, index: None }
        };
        self.calls.lock().unwrap().push(call);
        Ok(())
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(update) = context.input_mut().downcast_mut::<UpdateItemInput>()
            && let Some(tamper) = self.tamper.lock().unwrap().take()
        {
            tamper(update);
        }
        Ok(())
    }
}
