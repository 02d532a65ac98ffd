//! The OpenAPI 3.1 document of the API (`GET /api/openapi.json`), generated
//! from the handlers' `#[utoipa::path]` annotations and the response types.
//! It documents every status an operation answers, errors included.

use greenlight_agents::{AgentInfo, Product};
use greenlight_core::model::{
    Actor, AutoApprove, Decision, HistoryEntry, RunStatus, ShadowPrediction, StepStatus, Verdict,
};
use greenlight_core::service::StartRun;
use greenlight_core::views::*;
use serde::Serialize;
use serde_json::Value;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// Every error: `{"error": {"code", "message"}}`, and for some codes more
/// beside it.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
    /// With 409 `already_decided`: the standing decision.
    #[schema(nullable = false)]
    pub decision: Option<Decision>,
    /// With 409 `already_decided`: the gate's status.
    #[schema(nullable = false)]
    pub status: Option<StepStatus>,
    /// With 409 `spend_cap_exceeded`: `proposed_spend_usd` and `spend_cap_remaining_usd`.
    #[schema(nullable = false, value_type = Option<Object>)]
    pub spend: Option<Value>,
}

/// The errors a decision (approve or reject) may answer.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // a description of responses, never built
pub enum DecisionErrors {
    /// Invalid request: the message names the field
    #[response(status = 400)]
    Invalid(ErrorBody),
    /// No valid token or session
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// The gate's policy needs a role the caller lacks, or a session without this server's Origin
    #[response(status = 403)]
    Forbidden(ErrorBody),
    /// Not found in the caller's workspace
    #[response(status = 404)]
    NotFound(ErrorBody),
    /// already_decided (with the standing decision), not_pending, stale_proposal or spend_cap_exceeded; nothing changed
    #[response(status = 409)]
    Conflict(ErrorBody),
    /// The body is over 1 MiB
    #[response(status = 413)]
    TooLarge(ErrorBody),
    /// A dependency is unavailable; retry
    #[response(status = 503)]
    Unavailable(ErrorBody),
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// `invalid_request`, `unauthorized`, `forbidden`, `not_found`,
    /// `method_not_allowed`, `already_decided`, `stale_proposal`,
    /// `spend_cap_exceeded`, `not_pending`, `no_report`, `too_large`,
    /// `invalid_recipe`, `unavailable`.
    pub code: String,
    /// A sentence for a person; a 400 names the field.
    pub message: String,
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: String,
}

/// The caller: `GET /api/me`, and `POST /api/session` (with `expires_at`).
#[derive(Serialize, ToSchema)]
pub struct Me {
    pub workspace_id: String,
    pub workspace_name: Option<String>,
    pub member_id: String,
    pub name: String,
    pub roles: Vec<String>,
    /// Only when a session was opened: when it ends.
    #[schema(nullable = false, value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct DevMembers {
    pub members: Vec<crate::DevMember>,
}

#[derive(Serialize, ToSchema)]
pub struct ApprovalList {
    pub approvals: Vec<ApprovalItem>,
    /// The next page's `cursor`; `null` at the end.
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct RunList {
    pub runs: Vec<RunSummary>,
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct EventList {
    pub events: Vec<EventView>,
}

#[derive(Serialize, ToSchema)]
pub struct ApproverStats {
    pub gates: Vec<GateStats>,
}

#[derive(Serialize, ToSchema)]
pub struct HistoryList {
    pub decisions: Vec<HistoryEntry>,
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditList {
    pub entries: Vec<AuditView>,
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct OutboxList {
    pub items: Vec<OutboxView>,
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct WorkflowList {
    pub workflows: Vec<WorkflowView>,
}

#[derive(Serialize, ToSchema)]
pub struct ProductList {
    pub products: Vec<Product>,
}

#[derive(Serialize, ToSchema)]
pub struct AgentList {
    pub agents: Vec<AgentInfo>,
}

/// The synthesis report of a succeeded run.
#[derive(Serialize, ToSchema)]
pub struct Report {
    pub markdown: String,
    /// `{"step_label", "actor", "comment"}` per approval with a comment.
    #[schema(value_type = Vec<Object>)]
    pub approver_comments: Vec<Value>,
    pub rejections: Vec<Rejection>,
    pub cost_usd: f64,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Greenlight",
        description = "Human approval gates for AI-agent workflows. The contract is API.md; this document is generated from the code.",
    ),
    paths(
        crate::healthz,
        crate::openapi_json,
        crate::me,
        crate::session::open,
        crate::session::close,
        crate::session::dev_members,
        crate::stream::stream,
        crate::list_approvals,
        crate::card,
        crate::approve,
        crate::reject,
        crate::start_run,
        crate::list_runs,
        crate::run,
        crate::events,
        crate::report,
        crate::asset,
        crate::workflows,
        crate::products,
        crate::agents,
        crate::outbox,
        crate::audit,
        crate::approver_stats,
        crate::approver_history,
    ),
    components(schemas(
        ErrorBody, ErrorDetail, Health, Me, DevMembers, ApprovalList, RunList, EventList, AuditList,
        OutboxList, WorkflowList, ProductList, AgentList, Report, ApprovalItem, Card, DecideResponse,
        RunView, StepView, RunSummary, EventView, AuditView, OutboxView, WorkflowView, GateView,
        Rejection, Decision, Actor, Verdict, RunStatus, StepStatus, StartRun, ApproverStats, HistoryList,
        GateStats, HistoryEntry, ShadowPrediction, AutoApprove, Suggestion, PastFeedbackView,
    )),
    modifiers(&Security, &Links),
    security(("bearer" = []), ("session" = [])),
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API token of one member of one workspace"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::session::COOKIE,
                "A browser session from POST /api/session; writes need this server's Origin",
            ))),
        );
    }
}

/// Links from the operations that return ids to those that take them, so
/// a client (or a fuzzer) can follow a run and its gates.
struct Links;

impl Modify for Links {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::RefOr;
        use utoipa::openapi::link::LinkBuilder;
        // (path, method, status, [(link name, target operation, parameter, value)])
        type Targets = &'static [(&'static str, &'static str, &'static str, &'static str)];
        let links: [(&str, &str, &str, Targets); 3] = [
            (
                "/api/runs",
                "post",
                "201",
                &[
                    ("GetRun", "run", "run_id", "$response.body#/run_id"),
                    ("GetRunEvents", "events", "run_id", "$response.body#/run_id"),
                    ("GetRunReport", "report", "run_id", "$response.body#/run_id"),
                ],
            ),
            (
                "/api/runs",
                "get",
                "200",
                &[("GetNewestRun", "run", "run_id", "$response.body#/runs/0/run_id")],
            ),
            (
                "/api/dashboard/approvals",
                "get",
                "200",
                &[
                    (
                        "GetNewestCard",
                        "card",
                        "step_id",
                        "$response.body#/approvals/0/step_id",
                    ),
                    (
                        "ApproveNewest",
                        "approve",
                        "step_id",
                        "$response.body#/approvals/0/step_id",
                    ),
                    (
                        "RejectNewest",
                        "reject",
                        "step_id",
                        "$response.body#/approvals/0/step_id",
                    ),
                ],
            ),
        ];
        for (path, method, status, targets) in links {
            let Some(item) = doc.paths.paths.get_mut(path) else {
                continue;
            };
            let op = match method {
                "post" => item.post.as_mut(),
                _ => item.get.as_mut(),
            };
            let Some(RefOr::T(response)) = op.and_then(|o| o.responses.responses.get_mut(status)) else {
                continue;
            };
            for (name, operation, param, value) in targets {
                let link = LinkBuilder::new()
                    .operation_id(*operation)
                    .parameter(*param, *value)
                    .build();
                response.links.insert((*name).to_string(), RefOr::T(link));
            }
        }
    }
}

/// The document, as JSON.
pub fn document() -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_else(|e| {
        tracing::error!(error = %e, "the OpenAPI document does not serialise");
        Value::Null
    });
    fix_link_field_names(&mut doc);
    doc
}

/// utoipa 5 writes a Link's fields in snake case (`operation_id`); the
/// specification spells them `operationId` and `requestBody`.
fn fix_link_field_names(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    let operations = paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|i| i.values_mut());
    let responses = operations
        .filter_map(|op| op.get_mut("responses").and_then(Value::as_object_mut))
        .flat_map(|r| r.values_mut());
    for response in responses {
        let Some(links) = response.get_mut("links").and_then(Value::as_object_mut) else {
            continue;
        };
        for link in links.values_mut().filter_map(Value::as_object_mut) {
            for (from, to) in [
                ("operation_id", "operationId"),
                ("operation_ref", "operationRef"),
                ("request_body", "requestBody"),
            ] {
                if let Some(v) = link.remove(from) {
                    link.insert(to.to_string(), v);
                }
            }
        }
    }
}
