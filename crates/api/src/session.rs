//! Browser sessions (API.md, "Browser sessions"): a token is exchanged for
//! an `HttpOnly; SameSite=Strict` cookie, so `EventSource` and `<img>` work
//! without a token in a URL. Requests that change state with the cookie must
//! carry a matching `Origin` (see `extract::Caller`).

use crate::extract::{JsonBody, same_origin};
use crate::{ApiError, AppState};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use greenlight_core::model::Member;
use greenlight_core::service::SESSION_HOURS;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The session cookie's name.
pub const COOKIE: &str = "greenlight_session";

/// A sample member offered as a one-click sign-in in dev mode.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DevMember {
    pub workspace_id: String,
    pub workspace_name: String,
    pub member_id: String,
    pub name: String,
    pub roles: Vec<String>,
    pub token: String,
}

/// Who the caller is, as `/api/me` and `POST /api/session` answer.
pub async fn member_view(app: &AppState, member: &Member) -> Result<Value, ApiError> {
    let workspace = app
        .store()
        .get_workspace(&member.workspace_id)
        .await
        .map_err(greenlight_core::Error::from)?;
    Ok(json!({
        "workspace_id": member.workspace_id,
        "workspace_name": workspace.map(|w| w.name),
        "member_id": member.id,
        "name": member.name,
        "roles": member.roles,
    }))
}

/// Body of a sign-in.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenBody {
    /// An API token.
    #[schema(value_type = String)]
    token: Option<String>,
}

/// The value of the session cookie, if the request carries one.
pub fn cookie_value(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim())
}

/// `Secure` when the browser reached us over HTTPS (directly or through a proxy).
fn secure(headers: &HeaderMap) -> bool {
    let forwarded = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.eq_ignore_ascii_case("https"));
    let origin = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|o| o.starts_with("https://"));
    forwarded || origin
}

fn set_cookie(value: &str, max_age: i64, secure: bool) -> Option<HeaderValue> {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .ok()
}

/// `POST /api/session` `{"token": "…"}`: sets the session cookie.
#[utoipa::path(post, path = "/api/session", security(), tag = "session",
    request_body = OpenBody,
    responses(
        (status = 200, description = "Signed in: the session cookie is set", body = crate::openapi::Me,
            headers(("Set-Cookie" = String, description = "greenlight_session=…; HttpOnly; SameSite=Strict"))),
        (status = 400, description = "Invalid request: the message names the field", body = crate::openapi::ErrorBody),
        (status = 401, description = "The token is not valid here", body = crate::openapi::ErrorBody),
        (status = 403, description = "Sign-in from another site (Origin)", body = crate::openapi::ErrorBody),
        (status = 413, description = "The body is over 1 MiB", body = crate::openapi::ErrorBody),
        (status = 503, description = "A dependency is unavailable; retry", body = crate::openapi::ErrorBody)))]
pub async fn open(
    State(app): State<AppState>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<OpenBody>,
) -> Result<Response, ApiError> {
    // A browser always sends Origin with a POST: refuse a cross-site sign-in.
    if headers.contains_key(header::ORIGIN) && !same_origin(&headers) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "sign-in from another site is refused: the Origin header does not match this server",
        ));
    }
    let token = body
        .token
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::invalid("token", "is required: paste an API token"))?;
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| {
        tracing::error!(error = %e, "no randomness for a session secret");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the server could not open a session; try again",
        )
    })?;
    let session = app.open_session(&token, secret).await.map_err(|e| match e {
        greenlight_core::Error::Unauthorized => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "that token is not valid here: check it was copied whole",
        ),
        other => other.into(),
    })?;
    let mut view = member_view(&app, &session.member).await?;
    view["expires_at"] = json!(session.expires_at);
    let mut resp = Json(view).into_response();
    if let Some(cookie) = set_cookie(&session.value, SESSION_HOURS * 3600, secure(&headers)) {
        resp.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// `DELETE /api/session`: ends the session and clears the cookie. Answers
/// 204 whether or not there was a live session (signing out twice is fine).
#[utoipa::path(delete, path = "/api/session", security(), tag = "session",
    responses(
        (status = 204, description = "Signed out: the session ended and the cookie is cleared"),
        (status = 403, description = "A session cookie without this server's Origin", body = crate::openapi::ErrorBody),
        (status = 503, description = "A dependency is unavailable; retry", body = crate::openapi::ErrorBody)))]
pub async fn close(State(app): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    if let Some(value) = cookie_value(&headers) {
        if !same_origin(&headers) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "a request with the session cookie that changes state must carry this server's Origin",
            ));
        }
        app.close_session(value).await?;
    }
    let mut resp = StatusCode::NO_CONTENT.into_response();
    if let Some(cookie) = set_cookie("", 0, secure(&headers)) {
        resp.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    Ok(resp)
}

/// `GET /api/dev/members`: the sample members with their dev tokens, for
/// the sign-in page's one-click choices. Only in dev mode.
#[utoipa::path(get, path = "/api/dev/members", security(), tag = "session",
    responses(
        (status = 200, description = "The sample members and their dev tokens", body = crate::openapi::DevMembers),
        (status = 404, description = "Not in dev mode", body = crate::openapi::ErrorBody)))]
pub async fn dev_members(State(app): State<AppState>) -> Result<Json<Value>, ApiError> {
    if !app.dev_mode() || app.opts.dev_members.is_empty() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "there are no dev sign-ins outside dev mode",
        ));
    }
    Ok(Json(json!({ "members": app.opts.dev_members })))
}
