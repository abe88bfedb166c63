//! `GET /dashboard`: the operators' and customers' web page, served by this function from
//! files embedded in the binary (no second deployment, no CDN, nothing fetched at run time).
//!
//! The page signs in with an API key (or a portal session token) kept in `sessionStorage` and
//! sent as `Authorization: Bearer`, so there are no cookies and no CSRF surface. Everything it
//! shows that others wrote (payloads, response bodies, names, metadata) is set as text by
//! `app.js`; the Content-Security-Policy below is the second line of defence: only this
//! origin's script and style, no inline code, no other origin reachable.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use hookline_shared::config::FrameAncestors;
use hookline_shared::web::AppState;

const INDEX_HTML: &str = include_str!("../dashboard/index.html");
const APP_JS: &str = include_str!("../dashboard/app.js");
const APP_CSS: &str = include_str!("../dashboard/app.css");

/// The policy every dashboard response carries. `connect-src 'self'` keeps the page talking to
/// this API only; `form-action 'none'` because forms are submitted by script, never natively.
pub fn content_security_policy(frame_ancestors: &FrameAncestors) -> String {
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
         frame-ancestors {}; base-uri 'none'; form-action 'none'",
        frame_ancestors.as_str()
    )
}

fn security_headers(frame_ancestors: &FrameAncestors) -> HeaderMap {
    let mut headers = HeaderMap::new();
    // The policy is built from a checked `FrameAncestors`, so it is always a valid header value.
    if let Ok(csp) = HeaderValue::from_str(&content_security_policy(frame_ancestors)) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    if let Some(xfo) = frame_ancestors.x_frame_options() {
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static(xfo));
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(HeaderName::from_static("cross-origin-opener-policy"), HeaderValue::from_static("same-origin"));
    // The files change with each deployment and have no hashed names: always revalidate.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers
}

fn asset(state: &AppState, content_type: &'static str, body: &'static str) -> Response {
    let mut headers = security_headers(&state.config.dashboard_frame_ancestors);
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    (headers, body).into_response()
}

#[utoipa::path(get, path = "/dashboard", operation_id = "dashboard", tag = "dashboard", security(()),
    summary = "The dashboard (signs in with an API key or a portal session)",
    responses((status = 200, description = "The page", content_type = "text/html", body = String)))]
pub async fn index(State(state): State<AppState>) -> Response {
    asset(&state, "text/html; charset=utf-8", INDEX_HTML)
}

#[utoipa::path(get, path = "/dashboard/app.js", operation_id = "dashboard_script", tag = "dashboard", security(()),
    summary = "The dashboard's script",
    responses((status = 200, description = "The script", content_type = "text/javascript", body = String)))]
pub async fn script(State(state): State<AppState>) -> Response {
    asset(&state, "text/javascript; charset=utf-8", APP_JS)
}

#[utoipa::path(get, path = "/dashboard/app.css", operation_id = "dashboard_stylesheet", tag = "dashboard", security(()),
    summary = "The dashboard's stylesheet",
    responses((status = 200, description = "The stylesheet", content_type = "text/css", body = String)))]
pub async fn stylesheet(State(state): State<AppState>) -> Response {
    asset(&state, "text/css; charset=utf-8", APP_CSS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_allows_only_this_origin_and_the_configured_framers() {
        let csp = content_security_policy(&FrameAncestors::default());
        assert!(csp.contains("script-src 'self';"));
        assert!(csp.contains("frame-ancestors 'none';"));
        assert!(!csp.contains("unsafe"));
        assert!(!csp.contains("http"));
        let framers = FrameAncestors::parse("https://portal.example.com").unwrap_or_default();
        assert!(content_security_policy(&framers).contains("frame-ancestors https://portal.example.com;"));
        let headers = security_headers(&framers);
        assert!(headers.get(header::X_FRAME_OPTIONS).is_none());
        assert_eq!(security_headers(&FrameAncestors::default())[header::X_FRAME_OPTIONS], "DENY");
    }

    /// The policy forbids inline code; this keeps the page from relying on it (it would just
    /// not run) and keeps HTML-parsing sinks out of the script.
    #[test]
    fn the_page_has_no_inline_code_and_the_script_no_html_sinks() {
        let html = INDEX_HTML.to_ascii_lowercase();
        assert_eq!(html.matches("<script").count(), html.matches("<script src=").count());
        assert!(!html.contains("style="));
        assert!(!html.contains("<style"));
        let handlers = html.split(" on").skip(1).filter(|rest| {
            let name: String = rest.chars().take_while(char::is_ascii_alphabetic).collect();
            !name.is_empty() && rest[name.len()..].starts_with('=')
        });
        assert_eq!(handlers.count(), 0, "no inline event handlers");
        assert!(!html.contains("http://") && !html.contains("https://"), "nothing from another origin");
        for sink in ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"] {
            assert!(!APP_JS.contains(sink), "app.js uses {sink}");
        }
        // The SVG namespace is a name, not a location.
        let script = APP_JS.replace("'http://www.w3.org/2000/svg'", "");
        assert!(!script.contains("http://") && !script.contains("https://"), "app.js reaches only this origin");
    }
}
