//! The HTTP API of API.md and the dashboard that uses it: one axum `Router`,
//! served by `greenlight dev` locally and by the API Lambda through
//! `lambda_http` on AWS.
//!
//! Every error is JSON in the contract's shape, including the ones the
//! framework would otherwise answer by itself (bad JSON, wrong types, bodies
//! over 1 MiB, unknown routes, methods not allowed).

mod dashboard;
mod error;
mod extract;
mod idempotency;
mod session;
mod stream;

pub use error::ApiError;
pub use session::DevMember;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use extract::{Caller, JsonBody, PathParam, QueryParams};
use greenlight_core::Greenlight;
use greenlight_core::ids::RunId;
use greenlight_core::model::{PageRequest, RunStatus, Verdict};
use greenlight_core::ports::QueueFilter;
use greenlight_core::service::{DecideRequest, StartRun};
use serde::Deserialize;
use serde_json::{Value, json};
use std::ops::Deref;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::broadcast;

/// Bodies larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What a deployment adds to the API beyond the application itself.
#[derive(Clone, Default)]
pub struct Options {
    /// Where runs' changes are announced (see `Deps::on_change`); `None`
    /// turns `GET /api/stream` off, and the dashboard polls instead.
    pub live: Option<broadcast::Sender<RunId>>,
    /// The sample members offered as one-click sign-ins (dev mode only).
    pub dev_members: Vec<DevMember>,
    /// Serve the dashboard's files from this directory instead of the copies
    /// embedded in the binary (for work on the dashboard itself).
    pub dashboard_dir: Option<PathBuf>,
}

/// The state every handler sees: the application and the options.
pub struct ApiState {
    app: Arc<Greenlight>,
    opts: Options,
}

impl Deref for ApiState {
    type Target = Greenlight;

    fn deref(&self) -> &Greenlight {
        &self.app
    }
}

pub type AppState = Arc<ApiState>;

/// The whole API and dashboard, without a live stream or dev sign-ins.
pub fn router(app: Arc<Greenlight>) -> Router {
    router_with(app, Options::default())
}

/// The whole API and dashboard.
pub fn router_with(app: Arc<Greenlight>, opts: Options) -> Router {
    let state = Arc::new(ApiState { app, opts });
    Router::new()
        .route("/healthz", get(healthz))
        .route("/api/me", get(me))
        .route("/api/session", post(session::open).delete(session::close))
        .route("/api/dev/members", get(session::dev_members))
        .route("/api/stream", get(stream::stream))
        .route("/api/dashboard/approvals", get(list_approvals))
        .route("/api/dashboard/approvals/{step_id}", get(card))
        .route("/api/dashboard/approvals/{step_id}/approve", post(approve))
        .route("/api/dashboard/approvals/{step_id}/reject", post(reject))
        .route("/api/runs", get(list_runs).post(start_run))
        .route("/api/runs/{run_id}", get(run))
        .route("/api/runs/{run_id}/events", get(events))
        .route("/api/runs/{run_id}/report", get(report))
        .route("/api/runs/{run_id}/assets/{name}", get(asset))
        .route("/api/workflows", get(workflows))
        .route("/api/catalog/products", get(products))
        .route("/api/agents", get(agents))
        .route("/api/outbox", get(outbox))
        .route("/api/audit", get(audit))
        .merge(dashboard::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            idempotency::layer,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            error::panic_response,
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint; see API.md")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method",
    )
}

async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

async fn me(State(app): State<AppState>, Caller(member): Caller) -> Result<Json<Value>, ApiError> {
    Ok(Json(session::member_view(&app, &member).await?))
}

fn page(q: &QueryParams) -> Result<PageRequest, ApiError> {
    let limit = match q.get("limit") {
        None => 50,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=200).contains(&n) => n,
            _ => return Err(ApiError::invalid("limit", "must be a whole number from 1 to 200")),
        },
    };
    let cursor = q.get("cursor").map(str::to_string).filter(|c| !c.is_empty());
    if cursor.as_ref().is_some_and(|c| c.len() > 1024) {
        return Err(ApiError::invalid("cursor", "is not a cursor this list issued"));
    }
    Ok(PageRequest { limit, cursor })
}

fn listed<T: serde::Serialize>(key: &str, p: greenlight_core::model::Page<T>) -> Json<Value> {
    Json(json!({ key: p.items, "next_cursor": p.next_cursor }))
}

async fn list_approvals(
    State(app): State<AppState>,
    Caller(member): Caller,
    q: QueryParams,
) -> Result<Json<Value>, ApiError> {
    q.only(&["limit", "cursor", "workflow", "gate"])?;
    let filter = QueueFilter {
        workflow: q.get("workflow").map(str::to_string),
        step_key: q.get("gate").map(str::to_string),
    };
    let p = app.queue(&member, &filter, &page(&q)?).await?;
    Ok(listed("approvals", p))
}

async fn card(
    State(app): State<AppState>,
    Caller(member): Caller,
    PathParam(step_id): PathParam,
) -> Result<Response, ApiError> {
    Ok(Json(app.card(&member, &step_id).await?).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApproveBody {
    #[serde(default)]
    comment: Option<String>,
    #[serde(default)]
    proposal_digest: Option<String>,
    #[serde(default)]
    edited_proposal: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RejectBody {
    #[serde(default)]
    feedback: Option<String>,
    #[serde(default)]
    proposal_digest: Option<String>,
}

async fn approve(
    State(app): State<AppState>,
    Caller(member): Caller,
    PathParam(step_id): PathParam,
    JsonBody(body): JsonBody<ApproveBody>,
) -> Result<Response, ApiError> {
    if body.edited_proposal.is_some() {
        return Err(ApiError::invalid(
            "edited_proposal",
            "edited proposals are not accepted by this server yet; approve or reject the proposal as shown",
        ));
    }
    let req = DecideRequest {
        verdict: Verdict::Approved,
        comment: body.comment,
        feedback: None,
        proposal_digest: body.proposal_digest,
    };
    Ok(Json(app.decide(&member, &step_id, req).await?).into_response())
}

async fn reject(
    State(app): State<AppState>,
    Caller(member): Caller,
    PathParam(step_id): PathParam,
    JsonBody(body): JsonBody<RejectBody>,
) -> Result<Response, ApiError> {
    let req = DecideRequest {
        verdict: Verdict::Rejected,
        comment: None,
        feedback: body.feedback,
        proposal_digest: body.proposal_digest,
    };
    Ok(Json(app.decide(&member, &step_id, req).await?).into_response())
}

async fn start_run(
    State(app): State<AppState>,
    Caller(member): Caller,
    headers: axum::http::HeaderMap,
    JsonBody(body): JsonBody<StartRun>,
) -> Result<Response, ApiError> {
    // With an Idempotency-Key the run's id comes from it, so concurrent
    // repeats start one run (the middleware replays the response of later ones).
    let run_id = headers
        .get(idempotency::HEADER)
        .and_then(|k| k.to_str().ok())
        .map(|k| RunId::for_request(&member.workspace_id, &member.id, k));
    let view = app.start_run_with_id(&member, body, run_id).await?;
    let location = format!("/api/runs/{}", view.run_id);
    let mut resp = (StatusCode::CREATED, Json(view)).into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

async fn list_runs(
    State(app): State<AppState>,
    Caller(member): Caller,
    q: QueryParams,
) -> Result<Json<Value>, ApiError> {
    q.only(&["limit", "cursor", "status"])?;
    let status = match q.get("status") {
        None => None,
        Some(s) => Some(
            RunStatus::parse(s)
                .ok_or_else(|| ApiError::invalid("status", "must be running, succeeded or failed"))?,
        ),
    };
    let p = app.list_runs(&member, status, &page(&q)?).await?;
    Ok(listed("runs", p))
}

async fn run(
    State(app): State<AppState>,
    Caller(member): Caller,
    PathParam(run_id): PathParam,
) -> Result<Response, ApiError> {
    Ok(Json(app.run_view(&member, &run_id).await?).into_response())
}

async fn events(
    State(app): State<AppState>,
    Caller(member): Caller,
    PathParam(run_id): PathParam,
    q: QueryParams,
) -> Result<Json<Value>, ApiError> {
    q.only(&["after", "limit"])?;
    let after = match q.get("after") {
        None => 0,
        Some(s) => s
            .parse::<u64>()
            .map_err(|_| ApiError::invalid("after", "must be a sequence number (a whole number ≥ 0)"))?,
    };
    let limit = match q.get("limit") {
        None => 1000,
        Some(_) => page(&q)?.limit,
    };
    let events = app.events(&member, &run_id, after, limit).await?;
    Ok(Json(json!({ "events": events })))
}

async fn report(
    State(app): State<AppState>,
    Caller(member): Caller,
    PathParam(run_id): PathParam,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(app.report(&member, &run_id).await?))
}

async fn asset(
    State(app): State<AppState>,
    Caller(member): Caller,
    path: Result<axum::extract::Path<(String, String)>, axum::extract::rejection::PathRejection>,
) -> Result<Response, ApiError> {
    let axum::extract::Path((run_id, name)) = path.map_err(|_| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "asset not found in your workspace",
        )
    })?;
    let (content_type, bytes) = app.asset(&member, &run_id, &name).await?;
    let ct =
        HeaderValue::from_str(&content_type).unwrap_or(HeaderValue::from_static("application/octet-stream"));
    Ok((
        [
            (header::CONTENT_TYPE, ct),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        bytes,
    )
        .into_response())
}

async fn workflows(State(app): State<AppState>, Caller(_): Caller) -> Json<Value> {
    Json(json!({ "workflows": app.workflows() }))
}

async fn products(State(app): State<AppState>, Caller(member): Caller) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "products": app.products(&member).await? })))
}

async fn agents(Caller(_): Caller) -> Json<Value> {
    Json(json!({ "agents": greenlight_agents::catalog() }))
}

async fn outbox(
    State(app): State<AppState>,
    Caller(member): Caller,
    q: QueryParams,
) -> Result<Json<Value>, ApiError> {
    q.only(&["limit", "cursor"])?;
    Ok(listed("items", app.outbox(&member, &page(&q)?).await?))
}

async fn audit(
    State(app): State<AppState>,
    Caller(member): Caller,
    q: QueryParams,
) -> Result<Json<Value>, ApiError> {
    q.only(&["limit", "cursor"])?;
    Ok(listed("entries", app.audit(&member, &page(&q)?).await?))
}
