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
mod openapi;
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
#[allow(unused_imports)]
use greenlight_core::views::{Card, DecideResponse, RunView};
#[allow(unused_imports)] // named by the #[utoipa::path] attributes
use openapi::*;
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
        .route("/api/openapi.json", get(openapi_json))
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
        .route("/api/approver/stats", get(approver_stats))
        .route("/api/approver/history", get(approver_history))
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

/// No route: a browser asking for a page gets the dashboard (which says
/// "Page not found") with a 404; anything else a JSON 404.
async fn not_found(State(app): State<AppState>, req: axum::extract::Request) -> Response {
    let wants_page = !req.uri().path().starts_with("/api/")
        && req.method() == axum::http::Method::GET
        && req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/html"));
    if wants_page && let Some(mut page) = dashboard::page_response(&app).await {
        *page.status_mut() = StatusCode::NOT_FOUND;
        return page;
    }
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint; see API.md").into_response()
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method",
    )
}

#[utoipa::path(get, path = "/api/openapi.json", security(), tag = "meta",
    responses((status = 200, description = "This document", content_type = "application/json", body = Object)))]
async fn openapi_json() -> Json<Value> {
    Json(openapi::document())
}

#[utoipa::path(get, path = "/healthz", security(), tag = "meta",
    responses((status = 200, description = "The server is up", body = Health)))]
async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

#[utoipa::path(get, path = "/api/me", tag = "session",
    responses((status = 200, description = "The caller", body = Me), (status = 401, description = "No valid token or session", body = ErrorBody), (status = 503, description = "A dependency is unavailable; retry", body = ErrorBody)))]
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

#[utoipa::path(get, path = "/api/dashboard/approvals", tag = "approvals",
    params(("limit" = Option<u32>, Query, minimum = 1, maximum = 200, description = "Page size (default 50)"), ("cursor" = Option<String>, Query, description = "The previous page's next_cursor"), ("workflow" = Option<String>, Query, description = "Only this workflow's"), ("gate" = Option<String>, Query, description = "Only this gate's (step key)")),
    responses((status = 200, description = "Pending approvals of the workspace, newest first", body = ApprovalList), (status = 400, description = "Invalid request: the message names the field", body = ErrorBody), (status = 401, description = "No valid token or session", body = ErrorBody), (status = 503, description = "A dependency is unavailable; retry", body = ErrorBody)))]
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

#[utoipa::path(get, path = "/api/dashboard/approvals/{step_id}", tag = "approvals",
    params(("step_id" = String, Path, description = "The gate's step id")),
    responses((status = 200, description = "The Review card", body = Card), (status = 401, description = "No valid token or session", body = ErrorBody), (status = 404, description = "Not found in the caller's workspace", body = ErrorBody), (status = 409, description = "not_pending: the run has not reached this gate yet", body = ErrorBody), (status = 503, description = "A dependency is unavailable; retry", body = ErrorBody)))]
async fn card(
    State(app): State<AppState>,
    Caller(member): Caller,
    PathParam(step_id): PathParam,
) -> Result<Response, ApiError> {
    Ok(Json(app.card(&member, &step_id).await?).into_response())
}

/// Body of an approval.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ApproveBody {
    #[serde(default)]
    comment: Option<String>,
    #[serde(default)]
    proposal_digest: Option<String>,
    #[serde(default)]
    edited_proposal: Option<Value>,
}

/// Body of a rejection.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RejectBody {
    #[serde(default)]
    feedback: Option<String>,
    #[serde(default)]
    proposal_digest: Option<String>,
}

#[utoipa::path(post, path = "/api/dashboard/approvals/{step_id}/approve", tag = "approvals",
    params(("step_id" = String, Path, description = "The gate's step id"), ("Idempotency-Key" = Option<String>, Header, nullable = false, pattern = "^[!-~]{1,255}$", description = "Repeat a POST safely: the same member's same key gets the first successful response again for 24 hours")),
    request_body(content = ApproveBody, description = "`{}`, or a comment, the digest of the proposal shown, and an edit of the proposal (its shape checked against the proposal's; spend may only go down) that the action sends instead"),
    responses((status = 200, description = "Approved; the run resumes", body = DecideResponse), DecisionErrors))]
async fn approve(
    State(app): State<AppState>,
    Caller(member): Caller,
    PathParam(step_id): PathParam,
    JsonBody(body): JsonBody<ApproveBody>,
) -> Result<Response, ApiError> {
    let req = DecideRequest {
        verdict: Verdict::Approved,
        comment: body.comment,
        feedback: None,
        proposal_digest: body.proposal_digest,
        edited_proposal: body.edited_proposal,
    };
    Ok(Json(app.decide(&member, &step_id, req).await?).into_response())
}

#[utoipa::path(post, path = "/api/dashboard/approvals/{step_id}/reject", tag = "approvals",
    params(("step_id" = String, Path, description = "The gate's step id"), ("Idempotency-Key" = Option<String>, Header, nullable = false, pattern = "^[!-~]{1,255}$", description = "Repeat a POST safely: the same member's same key gets the first successful response again for 24 hours")),
    request_body(content = RejectBody, description = "The feedback (required, non-blank)"),
    responses((status = 200, description = "Rejected; a blocking gate fails the run", body = DecideResponse), DecisionErrors))]
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
        edited_proposal: None,
    };
    Ok(Json(app.decide(&member, &step_id, req).await?).into_response())
}

#[utoipa::path(post, path = "/api/runs", tag = "runs",
    params(("Idempotency-Key" = Option<String>, Header, nullable = false, pattern = "^[!-~]{1,255}$", description = "Repeat a POST safely: the same member's same key gets the first successful response again for 24 hours")),
    request_body(content = StartRun, description = "A workflow and its brief, or `rerun_of` and `notes`"),
    responses((status = 201, description = "Started", body = RunView,
            headers(("Location" = String, description = "The run's URL"))),
        (status = 400, description = "Invalid request: the message names the field", body = ErrorBody), (status = 401, description = "No valid token or session", body = ErrorBody), (status = 403, description = "A session cookie without this server's Origin", body = ErrorBody), (status = 404, description = "No such workflow, or no such run to re-run", body = ErrorBody),
        (status = 413, description = "The body is over 1 MiB", body = ErrorBody), (status = 422, description = "The workflow's recipe is invalid", body = ErrorBody), (status = 503, description = "A dependency is unavailable; retry", body = ErrorBody)))]
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

#[utoipa::path(get, path = "/api/runs", tag = "runs",
    params(("limit" = Option<u32>, Query, minimum = 1, maximum = 200, description = "Page size (default 50)"), ("cursor" = Option<String>, Query, description = "The previous page's next_cursor"), ("status" = Option<RunStatus>, Query, description = "Only runs with this status")),
    responses((status = 200, description = "Runs of the workspace, newest first", body = RunList), (status = 400, description = "Invalid request: the message names the field", body = ErrorBody), (status = 401, description = "No valid token or session", body = ErrorBody), (status = 503, description = "A dependency is unavailable; retry", body = ErrorBody)))]
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

#[utoipa::path(get, path = "/api/runs/{run_id}", tag = "runs",
    params(("run_id" = String, Path)),
    responses((status = 200, description = "The run with its steps", body = RunView), (status = 401, description = "No valid token or session", body = ErrorBody), (status = 404, description = "Not found in the caller's workspace", body = ErrorBody), (status = 503, description = "A dependency is unavailable; retry", body = ErrorBody)))]
async fn run(
    State(app): State<AppState>,
    Caller(member): Caller,
    PathParam(run_id): PathParam,
) -> Result<Response, ApiError> {
    Ok(Json(app.run_view(&member, &run_id).await?).into_response())
}

#[utoipa::path(get, path = "/api/runs/{run_id}/events", tag = "runs",
    params(("run_id" = String, Path), ("after" = Option<u64>, Query, minimum = 0, maximum = 18446744073709551615_u64, description = "Only events after this sequence number"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 200, description = "At most this many (default 1000)")),
    responses((status = 200, description = "The run's events in order", body = EventList), (status = 400, description = "Invalid request: the message names the field", body = ErrorBody), (status = 401, description = "No valid token or session", body = ErrorBody), (status = 404, description = "Not found in the caller's workspace", body = ErrorBody), (status = 503, description = "A dependency is unavailable; retry", body = ErrorBody)))]
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

#[utoipa::path(get, path = "/api/runs/{run_id}/report", tag = "runs",
    params(("run_id" = String, Path)),
    responses((status = 200, description = "The synthesis report", body = Report), (status = 401, description = "No valid token or session", body = ErrorBody), (status = 404, description = "Not found in the caller's workspace", body = ErrorBody),
        (status = 409, description = "no_report: the run has none (running, or failed)", body = ErrorBody), (status = 503, description = "A dependency is unavailable; retry", body = ErrorBody)))]
async fn report(
    State(app): State<AppState>,
    Caller(member): Caller,
    PathParam(run_id): PathParam,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(app.report(&member, &run_id).await?))
}

#[utoipa::path(get, path = "/api/runs/{run_id}/assets/{name}", tag = "runs",
    params(("run_id" = String, Path), ("name" = String, Path, description = "The asset's file name")),
    responses((status = 200, description = "A rendered asset", content(("image/svg+xml"), ("image/png"), ("image/jpeg"), ("image/webp"))),
        (status = 401, description = "No valid token or session", body = ErrorBody), (status = 404, description = "Not found in the caller's workspace", body = ErrorBody), (status = 503, description = "A dependency is unavailable; retry", body = ErrorBody)))]
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

#[utoipa::path(get, path = "/api/workflows", tag = "catalog",
    responses((status = 200, description = "The recipes", body = WorkflowList), (status = 401, description = "No valid token or session", body = ErrorBody), (status = 503, description = "A dependency is unavailable; retry", body = ErrorBody)))]
async fn workflows(State(app): State<AppState>, Caller(_): Caller) -> Json<Value> {
    Json(json!({ "workflows": app.workflows() }))
}

#[utoipa::path(get, path = "/api/catalog/products", tag = "catalog",
    responses((status = 200, description = "The workspace's products", body = ProductList), (status = 401, description = "No valid token or session", body = ErrorBody), (status = 503, description = "A dependency is unavailable; retry", body = ErrorBody)))]
async fn products(State(app): State<AppState>, Caller(member): Caller) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "products": app.products(&member).await? })))
}

#[utoipa::path(get, path = "/api/agents", tag = "catalog",
    responses((status = 200, description = "The agents and what they output", body = AgentList), (status = 401, description = "No valid token or session", body = ErrorBody), (status = 503, description = "A dependency is unavailable; retry", body = ErrorBody)))]
async fn agents(Caller(_): Caller) -> Json<Value> {
    Json(json!({ "agents": greenlight_agents::catalog() }))
}

#[utoipa::path(get, path = "/api/outbox", tag = "records",
    params(("limit" = Option<u32>, Query, minimum = 1, maximum = 200, description = "Page size (default 50)"), ("cursor" = Option<String>, Query, description = "The previous page's next_cursor")),
    responses((status = 200, description = "What actions sent, newest first", body = OutboxList), (status = 400, description = "Invalid request: the message names the field", body = ErrorBody), (status = 401, description = "No valid token or session", body = ErrorBody), (status = 503, description = "A dependency is unavailable; retry", body = ErrorBody)))]
async fn outbox(
    State(app): State<AppState>,
    Caller(member): Caller,
    q: QueryParams,
) -> Result<Json<Value>, ApiError> {
    q.only(&["limit", "cursor"])?;
    Ok(listed("items", app.outbox(&member, &page(&q)?).await?))
}

#[utoipa::path(get, path = "/api/approver/stats", tag = "approver",
    responses((status = 200, description = "Per gate: decisions learnt from, agreement, precision and recall of predicted rejections (shadow mode), auto-approvals and the auto-approve setting", body = ApproverStats), (status = 400, description = "A query parameter this endpoint does not take", body = ErrorBody), (status = 401, description = "No valid token or session", body = ErrorBody), (status = 503, description = "A dependency is unavailable; retry", body = ErrorBody)))]
async fn approver_stats(
    State(app): State<AppState>,
    Caller(member): Caller,
    q: QueryParams,
) -> Result<Json<Value>, ApiError> {
    q.only(&[])?;
    let gates = app.approver_stats(&member).await?;
    Ok(Json(json!({ "gates": gates })))
}

#[utoipa::path(get, path = "/api/approver/history", tag = "approver",
    params(("workflow" = String, Query, description = "A workflow id"), ("gate" = String, Query, description = "One of its gates' step key"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 200, description = "Page size (default 50)"), ("cursor" = Option<String>, Query, description = "The previous page's next_cursor")),
    responses((status = 200, description = "The gate's decision history, newest first: the approver agent's training data", body = HistoryList), (status = 400, description = "Invalid request: the message names the field", body = ErrorBody), (status = 401, description = "No valid token or session", body = ErrorBody), (status = 503, description = "A dependency is unavailable; retry", body = ErrorBody)))]
async fn approver_history(
    State(app): State<AppState>,
    Caller(member): Caller,
    q: QueryParams,
) -> Result<Json<Value>, ApiError> {
    q.only(&["workflow", "gate", "limit", "cursor"])?;
    let workflow = q.require("workflow", "a workflow id")?;
    let gate = q.require("gate", "one of the workflow's gates")?;
    Ok(listed(
        "decisions",
        app.history(&member, workflow, gate, &page(&q)?).await?,
    ))
}

#[utoipa::path(get, path = "/api/audit", tag = "records",
    params(("limit" = Option<u32>, Query, minimum = 1, maximum = 200, description = "Page size (default 50)"), ("cursor" = Option<String>, Query, description = "The previous page's next_cursor")),
    responses((status = 200, description = "Every decision, newest first", body = AuditList), (status = 400, description = "Invalid request: the message names the field", body = ErrorBody), (status = 401, description = "No valid token or session", body = ErrorBody), (status = 503, description = "A dependency is unavailable; retry", body = ErrorBody)))]
async fn audit(
    State(app): State<AppState>,
    Caller(member): Caller,
    q: QueryParams,
) -> Result<Json<Value>, ApiError> {
    q.only(&["limit", "cursor"])?;
    Ok(listed("entries", app.audit(&member, &page(&q)?).await?))
}
