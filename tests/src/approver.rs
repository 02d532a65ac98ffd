//! Helpers for the approver agent's tests: a workspace of the demo brand
//! with no history, and past decisions to teach it.

use crate::TestApp;
use greenlight_core::ids::{MemberId, WorkspaceId};
use greenlight_core::model::{Actor, HistoryEntry, Member, Verdict, Workspace};
use greenlight_core::money::Money;
use greenlight_core::service::token_hash;
use greenlight_core::time::Timestamp;
use serde_json::{Value, json};

pub const FRAN: &str = "fresh-fran-token-xxxxxxxxxxxx";
pub const LEAD: &str = "fresh-lead-token-xxxxxxxxxxxx";

/// A workspace with the demo brand and no history: `fran` (member) and
/// `lena` (ops-lead).
pub async fn fresh_workspace(app: &TestApp, id: &str, spend_cap_usd: f64) -> WorkspaceId {
    let store = app.local.app.store();
    let demo = store
        .get_workspace(&WorkspaceId::parse("demo").unwrap())
        .await
        .unwrap()
        .expect("the demo workspace");
    let ws = WorkspaceId::parse(id).unwrap();
    store
        .put_workspace(&Workspace {
            id: ws.clone(),
            name: format!("Fresh {id}"),
            spend_cap: Money::from_usd(spend_cap_usd).unwrap(),
            data: demo.data,
        })
        .await
        .unwrap();
    for (member, name, roles, token) in [
        ("fran", "Fran Okafor", vec!["member"], FRAN),
        ("lena", "Lena Park", vec!["member", "ops-lead"], LEAD),
    ] {
        let m = Member {
            workspace_id: ws.clone(),
            id: MemberId::parse(member).unwrap(),
            name: name.into(),
            roles: roles.into_iter().map(String::from).collect(),
        };
        store.put_member(&m).await.unwrap();
        store
            .put_token(&token_hash(&format!("{id}-{token}")), &m, false)
            .await
            .unwrap();
    }
    ws
}

pub fn tok(ws: &str, token: &str) -> String {
    format!("{ws}-{token}")
}

/// A past decision at `day` days after June 1st.
pub fn past(gate: &str, n: usize, proposal: Value, verdict: Verdict, feedback: Option<&str>) -> HistoryEntry {
    let at = Timestamp::parse(&format!("2026-06-{:02}T10:{:02}:00.000000Z", 1 + n / 60, n % 60)).unwrap();
    HistoryEntry {
        workflow: "campaign-launch".into(),
        gate: gate.into(),
        step_id: format!("past.{gate}.{n}"),
        at,
        proposal_digest: greenlight_core::proposal::digest(&proposal),
        proposal,
        verdict,
        feedback: feedback.map(String::from),
        comment: None,
        edited_proposal: None,
        edited_proposal_digest: None,
        actor: Actor {
            member_id: "fran".into(),
            name: "Fran Okafor".into(),
        },
        brief_budget_usd: None,
        spend_cap_remaining_usd: None,
        prediction: None,
        synthetic: false,
    }
}

pub const TOO_MANY: &str = "Five hashtags is too many for us; three at most, please.";

/// A fresh workspace (`fresh`) whose publish gate learned to reject too
/// many hashtags, and a Holiday Table launch waiting at its four gates:
/// its member's token, the run id and the run.
pub async fn hashtag_launch(app: &TestApp) -> (String, String, Value) {
    let ws = fresh_workspace(app, "fresh", 5000.0).await;
    hashtag_history(app, &ws).await;
    let token = tok("fresh", FRAN);
    let (run_id, run) = app.launch(&token, "demo-campaign-launch-holiday-table").await;
    (token, run_id, run)
}

/// A workspace whose people rejected five-hashtag captions and approved
/// three-hashtag ones.
pub async fn hashtag_history(app: &TestApp, ws: &WorkspaceId) {
    let caption = |i: usize, tags: usize| {
        let all = [
            "#LinenAndLoom",
            "#slowliving",
            "#linensheets",
            "#tablescape",
            "#hostingathome",
        ];
        json!({"text": format!("Linen, slowly: set {i}. Softer with every wash."), "hashtags": all[..tags]})
    };
    let entries: Vec<HistoryEntry> = (0..48)
        .map(|i| {
            if i % 3 == 0 {
                past(
                    "publish_gate",
                    i,
                    caption(i, 5),
                    Verdict::Rejected,
                    Some(TOO_MANY),
                )
            } else {
                past("publish_gate", i, caption(i, 3), Verdict::Approved, None)
            }
        })
        .collect();
    app.local.app.import_history(ws, &entries).await.unwrap();
}
