//! Hookline on one machine: the resources `template.yaml` declares, created in a local
//! AWS-compatible server (moto), the HTTP routes of both HTTP functions on one server, and a
//! poller that feeds the deliver handler the way Lambda's SQS event source mapping does.
//!
//! `make dev` runs it (`hookline-dev`); the end-to-end tests use the same pieces.

pub mod chaos;
pub mod clients;
pub mod fairness;
pub mod poller;
pub mod provision;
pub mod runtime_api;
pub mod template;
