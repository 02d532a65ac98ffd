//! The dashboard: one HTML page for every dashboard path, and its scripts,
//! styles and icon, embedded in the binary (nothing is loaded from the
//! internet). The page is a client of the JSON API like any script.

use crate::{ApiError, AppState};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// What pages may load and run: only this server's own files; no inline
/// script or style, no framing, no plugins.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
     form-action 'self'; object-src 'none'";

/// The paths the dashboard's router answers with its page.
const PAGES: &[&str] = &[
    "/",
    "/signin",
    "/approvals",
    "/runs",
    "/runs/{run_id}",
    "/review/{step_id}",
    "/brief",
    "/catalog",
    "/audit",
    "/outbox",
    "/approver",
];

pub fn routes() -> Router<AppState> {
    let mut router = Router::new().route("/assets/{name}", get(asset));
    for path in PAGES {
        router = router.route(path, get(page));
    }
    router
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

/// A file of the dashboard, from the directory when one is configured.
async fn load(app: &AppState, name: &str) -> Option<Vec<u8>> {
    let plain = !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !plain {
        return None;
    }
    match &app.opts.dashboard_dir {
        Some(dir) => tokio::fs::read(dir.join(name)).await.ok(),
        None => ASSETS.iter().find(|(n, _)| *n == name).map(|(_, b)| b.to_vec()),
    }
}

fn respond(name: &str, bytes: Vec<u8>) -> Response {
    let mut resp = bytes.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(name)));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    // Small files, and a new binary must never meet an old script.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

/// The dashboard's page, if its files are there.
pub async fn page_response(app: &AppState) -> Option<Response> {
    load(app, "index.html")
        .await
        .map(|bytes| respond("index.html", bytes))
}

async fn page(State(app): State<AppState>) -> Result<Response, ApiError> {
    page_response(&app).await.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "the dashboard's index.html is missing from its directory",
        )
    })
}

async fn asset(State(app): State<AppState>, Path(name): Path<String>) -> Result<Response, ApiError> {
    let bytes = load(&app, &name)
        .await
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such dashboard file"))?;
    Ok(respond(&name, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_file_has_a_known_type_and_the_page_is_there() {
        assert!(ASSETS.iter().any(|(n, _)| *n == "index.html"));
        for (name, bytes) in ASSETS {
            assert_ne!(content_type(name), "application/octet-stream", "{name}");
            assert!(!bytes.is_empty(), "{name} is empty");
        }
    }

    #[test]
    fn the_page_loads_nothing_from_elsewhere_and_runs_no_inline_script() {
        for (name, bytes) in ASSETS {
            // Naming the SVG namespace loads nothing.
            let text = String::from_utf8_lossy(bytes).replace("http://www.w3.org/2000/svg", "");
            for banned in [
                "http://",
                "https://",
                "innerHTML",
                "outerHTML",
                "insertAdjacentHTML",
                "eval(",
            ] {
                assert!(!text.contains(banned), "{name} contains {banned}");
            }
        }
    }
}
