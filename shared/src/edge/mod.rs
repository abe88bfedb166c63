//! The shapes every route shares at the API's edge: error codes, the query-string extractor,
//! and pages with their cursors. (`web.rs` holds the state, authentication, bodies, paths and
//! `ApiError`.)

mod error_code;
// Pages and queries answer with `ApiError`: only the HTTP functions (the `web` feature) have them.
#[cfg(feature = "web")]
pub mod page;
mod patch;
#[cfg(feature = "web")]
pub mod query;

pub use error_code::ErrorCode;
#[cfg(feature = "web")]
pub use page::{Cursor, Limit, List, Lister, Page, PageQuery};
pub use patch::Patch;
#[cfg(feature = "web")]
pub use query::Query;
