//! The delivery engine: one SQS message in, one HTTP attempt out, the attempt recorded.
//!
//! Each step is its own small piece: [`request::build`] makes the signed request (pure),
//! [`http::Sender`] sends it through the address guard, [`verdict::judge`] decides what the
//! result means under the endpoint's policy (pure), and [`engine::Deliverer`] ties them to the
//! store.

pub mod cache;
pub mod decide;
pub mod engine;
pub mod fast;
pub mod health;
pub mod http;
pub mod lanes;
pub mod request;
pub mod verdict;

pub use decide::Handover;
pub use engine::{Deliverer, DeliveryError, Outcome, PolicySettings};
pub use http::{HttpResult, Sender};
pub use lanes::Lane;
pub use request::OutgoingRequest;
pub use verdict::Verdict;
