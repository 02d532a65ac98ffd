//! One error type for the API: the contract's JSON shape and status codes,
//! mapped in one place.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use greenlight_core::Error;
use serde_json::{Value, json};

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// Fields beside `error` (the standing decision of a 409, …).
    extra: Vec<(&'static str, Value)>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            extra: Vec::new(),
        }
    }

    pub fn invalid(field: &str, message: &str) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("{field}: {message}"),
        )
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        let status = match &e {
            Error::Unauthorized => StatusCode::UNAUTHORIZED,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Invalid { .. } => StatusCode::BAD_REQUEST,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::AlreadyDecided { .. }
            | Error::NotPending(_)
            | Error::StaleProposal
            | Error::SpendCapExceeded { .. }
            | Error::NoReport(_) => StatusCode::CONFLICT,
            Error::InvalidRecipe(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        if status == StatusCode::SERVICE_UNAVAILABLE {
            tracing::error!(error = %e, "request failed on a dependency");
        }
        let extra = match &e {
            Error::AlreadyDecided { status, decision } => {
                vec![("decision", json!(decision)), ("status", json!(status))]
            }
            Error::SpendCapExceeded { proposed, remaining } => vec![(
                "spend",
                json!({"proposed_spend_usd": proposed.usd(), "spend_cap_remaining_usd": remaining.usd()}),
            )],
            _ => Vec::new(),
        };
        let message = match &e {
            Error::NotFound(what) => format!("{what} not found in your workspace"),
            other => other.to_string(),
        };
        ApiError {
            status,
            code: e.code(),
            message,
            extra,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({"error": {"code": self.code, "message": self.message}});
        // The standing decision sits beside the error, as API.md shows it.
        for (key, value) in self.extra {
            body[key] = value;
        }
        (self.status, Json(body)).into_response()
    }
}

/// A panic in a handler is a bug: answer in the contract's shape, log it.
pub fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "something went wrong on our side; nothing was changed by this request",
    )
    .into_response()
}
