//! Extractors whose rejections answer in the contract's JSON shape.

use crate::{ApiError, AppState};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{HeaderMap, StatusCode, header, request::Parts};
use greenlight_core::model::Member;
use serde::de::DeserializeOwned;
use std::collections::HashMap;

/// The authenticated member: `Authorization: Bearer <token>`, or the
/// session cookie of a signed-in browser. A request authenticated by the
/// cookie that changes state must carry this server's `Origin`.
pub struct Caller(pub Member);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let unauthorized = || {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "send `Authorization: Bearer <token>` with a valid API token, or sign in",
            )
        };
        let token = match parts.headers.get(header::AUTHORIZATION) {
            Some(value) => {
                let value = value.to_str().map_err(|_| unauthorized())?;
                match value.split_once(' ') {
                    Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
                    _ => return Err(unauthorized()),
                }
            }
            None => {
                let cookie = crate::session::cookie_value(&parts.headers).ok_or_else(unauthorized)?;
                if !parts.method.is_safe() && !same_origin(&parts.headers) {
                    return Err(ApiError::new(
                        StatusCode::FORBIDDEN,
                        "forbidden",
                        "a request with the session cookie that changes state must carry this server's Origin",
                    ));
                }
                cookie
            }
        };
        app.authenticate(token).await.map(Caller).map_err(|e| match e {
            greenlight_core::Error::Unauthorized => unauthorized(),
            other => other.into(),
        })
    }
}

/// Whether the request's `Origin` names the host it was sent to.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    match (origin, host) {
        (Some(origin), Some(host)) => origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"))
            .is_some_and(|authority| authority.eq_ignore_ascii_case(host)),
        _ => false,
    }
}

/// A JSON body of any content type (scripts often omit it); an empty body is `{}`.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e: BytesRejection| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "too_large",
                        format!("the body is over the limit of {} bytes", crate::MAX_BODY_BYTES),
                    )
                } else {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "invalid_request",
                        format!("the body could not be read: {e}"),
                    )
                }
            })?;
        let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        // serde_json bounds nesting (128 levels): deep nesting is a 400, not a stack overflow.
        let value: serde_json::Value = serde_json::from_slice(text).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                format!("the body is not valid JSON: {e}"),
            )
        })?;
        if !value.is_object() {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "the body must be a JSON object",
            ));
        }
        // The error names the field it is about (`comment`, `rerun_of`).
        serde_path_to_error::deserialize(value)
            .map(JsonBody)
            .map_err(|e| {
                let field = match e.path().to_string() {
                    p if p == "." => "body".to_string(),
                    p => p,
                };
                ApiError::invalid(&field, &e.into_inner().to_string())
            })
    }
}

/// One path parameter, as a string; the services parse it (a malformed id is 404).
pub struct PathParam(pub String);

impl FromRequestParts<AppState> for PathParam {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map(|p| PathParam(p.0))
            .map_err(|_| ApiError::new(StatusCode::NOT_FOUND, "not_found", "not found in your workspace"))
    }
}

/// Query parameters; unknown ones are refused by name.
pub struct QueryParams(HashMap<String, String>);

impl QueryParams {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// A parameter the endpoint cannot do without; `what` says what it is.
    pub fn require(&self, key: &str, what: &str) -> Result<&str, ApiError> {
        self.get(key)
            .ok_or_else(|| ApiError::invalid(&format!("?{key}"), &format!("is required: {what}")))
    }

    pub fn only(&self, allowed: &[&str]) -> Result<(), ApiError> {
        match self.0.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(k) => Err(ApiError::invalid(
                &format!("?{}", k.chars().take(40).collect::<String>()),
                &format!(
                    "is not a parameter of this endpoint (it takes: {})",
                    allowed.join(", ")
                ),
            )),
            None => Ok(()),
        }
    }
}

impl FromRequestParts<AppState> for QueryParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        axum::extract::Query::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map(|q| QueryParams(q.0))
            .map_err(|e| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    format!("the query string is malformed: {e}"),
                )
            })
    }
}
