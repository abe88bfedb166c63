//! Hookline's shared library: the domain, the DynamoDB store, the SQS queue, signing and the
//! delivery engine. It knows nothing of Lambda: the functions adapt their events to it.

#![forbid(unsafe_code)]

pub mod aws;
pub mod config;
pub mod crypto;
pub mod delivery;
pub mod domain;
pub mod edge;
pub mod fanout;
pub mod guard;
pub mod ids;
pub mod metrics;
pub mod openapi;
pub mod operational;
pub mod portal;
pub mod queue;
pub mod render;
pub mod signed;
pub mod signing;
pub mod store;
pub mod telemetry;
pub mod warm;
#[cfg(feature = "web")]
pub mod web;
