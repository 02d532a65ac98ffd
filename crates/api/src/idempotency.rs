//! `Idempotency-Key` (API.md): a `POST` that repeats an earlier one of the
//! same member with the same key gets the earlier response again, and does
//! nothing twice. Only successful responses are kept (for 24 hours): a
//! refused request changed nothing, so repeating it is safe and answers
//! what stands now. The same key on a different request is refused; the
//! same JSON with its keys in another order or other spacing is the same
//! request.

use crate::extract::Caller;
use crate::{ApiError, AppState, MAX_BODY_BYTES};
use axum::body::{Body, to_bytes};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use greenlight_core::ports::KeptResponse;
use greenlight_core::time::Timestamp;
use sha2::{Digest, Sha256};

pub const HEADER: &str = "idempotency-key";
/// Set on a replayed response.
pub const REPLAYED: &str = "idempotency-replayed";
const KEEP_HOURS: i64 = 24;

fn invalid(message: &str) -> Response {
    ApiError::invalid("Idempotency-Key", message).into_response()
}

/// What makes two requests the same: method, path and body, the body as
/// JSON means it (keys in any order, any spacing, `{}` for an empty body);
/// a body that is not JSON, byte for byte.
fn fingerprint(parts: &axum::http::request::Parts, body: &[u8]) -> String {
    let text: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    match serde_json::from_slice::<serde_json::Value>(text) {
        Ok(json) => {
            let canonical = greenlight_core::proposal::digest(&json);
            let mut hasher = Sha256::new();
            hasher.update(b"json ");
            hasher.update(parts.method.as_str());
            hasher.update(b" ");
            hasher.update(parts.uri.path().as_bytes());
            hasher.update(b"\n");
            hasher.update(canonical.as_bytes());
            hex::encode(hasher.finalize())
        }
        Err(_) => raw_fingerprint(parts, body),
    }
}

/// The body byte for byte (and how earlier versions fingerprinted every request).
fn raw_fingerprint(parts: &axum::http::request::Parts, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(parts.method.as_str());
    hasher.update(b" ");
    hasher.update(parts.uri.path().as_bytes());
    hasher.update(b"\n");
    hasher.update(body);
    hex::encode(hasher.finalize())
}

pub async fn layer(State(app): State<AppState>, req: Request, next: Next) -> Response {
    if req.method() != Method::POST || req.uri().path() == "/api/session" {
        return next.run(req).await;
    }
    let Some(raw) = req.headers().get(HEADER) else {
        return next.run(req).await;
    };
    let key = match raw.to_str() {
        Ok(k) if !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| (0x21..=0x7e).contains(&b)) => {
            k.to_string()
        }
        _ => return invalid("must be 1 to 255 visible ASCII characters"),
    };
    let (mut parts, body) = req.into_parts();
    let member = match Caller::from_request_parts(&mut parts, &app).await {
        Ok(Caller(m)) => m,
        Err(e) => return e.into_response(),
    };
    let bytes = match to_bytes(body, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            return ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("the body is over the limit of {MAX_BODY_BYTES} bytes"),
            )
            .into_response();
        }
    };
    let fingerprint = fingerprint(&parts, &bytes);
    let raw = raw_fingerprint(&parts, &bytes);
    let store = app.store();
    let now = app.now();

    match store
        .kept_response(&member.workspace_id, &member.id, &key, now)
        .await
    {
        Ok(Some(kept)) if kept.fingerprint == fingerprint => return replay(&kept),
        // Kept by an earlier version, which fingerprinted the bytes as sent.
        Ok(Some(kept)) if kept.fingerprint == raw => return replay(&kept),
        Ok(Some(_)) => {
            return invalid("was used for a different request; send a new key for a new request");
        }
        Ok(None) => {}
        Err(e) => return ApiError::from(greenlight_core::Error::from(e)).into_response(),
    }

    let resp = next.run(Request::from_parts(parts, Body::from(bytes))).await;
    if !resp.status().is_success() {
        return resp;
    }
    let (resp_parts, resp_body) = resp.into_parts();
    let resp_bytes = match to_bytes(resp_body, usize::MAX).await {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "could not read a response to keep it");
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the response could not be read; repeat the request with the same key",
            )
            .into_response();
        }
    };
    let kept = KeptResponse {
        workspace_id: member.workspace_id.clone(),
        member_id: member.id.clone(),
        key,
        fingerprint,
        status: resp_parts.status.as_u16(),
        body: String::from_utf8_lossy(&resp_bytes).into_owned(),
        location: resp_parts
            .headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        created_at: now,
        expires_at: Timestamp::from_datetime(now.datetime() + chrono::Duration::hours(KEEP_HOURS)),
    };
    match store.keep_response(&kept, now).await {
        // A concurrent twin finished first: answer what it answered.
        Ok(standing) if standing != kept && [&kept.fingerprint, &raw].contains(&&standing.fingerprint) => {
            replay(&standing)
        }
        Ok(_) => Response::from_parts(resp_parts, Body::from(resp_bytes)),
        Err(e) => {
            // The request took effect; only its replay could not be kept.
            tracing::warn!(error = %e, "could not keep a response for Idempotency-Key replay");
            Response::from_parts(resp_parts, Body::from(resp_bytes))
        }
    }
}

fn replay(kept: &KeptResponse) -> Response {
    let status = StatusCode::from_u16(kept.status).unwrap_or(StatusCode::OK);
    let mut resp = (status, kept.body.clone()).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(REPLAYED, HeaderValue::from_static("true"));
    if let Some(l) = kept
        .location
        .as_deref()
        .and_then(|l| HeaderValue::from_str(l).ok())
    {
        h.insert(header::LOCATION, l);
    }
    resp
}
