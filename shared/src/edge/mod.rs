//! The shapes every route shares at the API's edge: error codes, the query-string extractor,
//! and pages with their cursors. (`web.rs` holds the state, authentication, bodies, paths and
//! `ApiError`.)

mod error_code;
pub mod page;
mod patch;
pub mod query;

pub use error_code::ErrorCode;
pub use page::{Cursor, Limit, List, Lister, Page, PageQuery};
pub use patch::Patch;
pub use query::Query;
