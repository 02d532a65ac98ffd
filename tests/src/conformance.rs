//! The store conformance suite: what every `Store` adapter must do, run
//! against each one (SQLite now; DynamoDB with the AWS adapters).

use greenlight_core::ids::*;
use greenlight_core::model::*;
use greenlight_core::money::Money;
use greenlight_core::ports::*;
use greenlight_core::time::Timestamp;
use serde_json::{Value, json};
use std::sync::Arc;

fn at(n: u32) -> Timestamp {
    Timestamp::parse(&format!(
        "2026-03-01T10:00:{:02}.{:06}Z",
        n / 1000 % 60,
        n % 1000 * 1000
    ))
    .expect("time")
}

fn ws(id: &str) -> WorkspaceId {
    WorkspaceId::parse(id).expect("ws")
}

fn member(w: &str, id: &str, roles: &[&str]) -> Member {
    Member {
        workspace_id: ws(w),
        id: MemberId::parse(id).expect("member"),
        name: format!("{id} name"),
        roles: roles.iter().map(|r| r.to_string()).collect(),
    }
}

fn key(k: &str) -> StepKey {
    StepKey::parse(k).expect("key")
}

fn new_run(w: &str, n: u32) -> NewRun {
    let id = RunId::parse(format!("run_conf{w}{n:04}")).expect("run id");
    let steps = ["agent_a", "gate_a", "action_a", "gate_b"]
        .iter()
        .map(|k| StepRecord {
            run_id: id.clone(),
            key: key(k),
            label: k.to_string(),
            kind: if k.starts_with("gate") {
                "approval_gate"
            } else {
                "agent"
            }
            .into(),
            status: StepStatus::Pending,
            after: vec![],
            output: None,
            trail: vec![],
            cost: Money::ZERO,
            started_at: None,
            finished_at: None,
            decision: None,
        })
        .collect();
    NewRun {
        run: Run {
            id: id.clone(),
            workspace_id: ws(w),
            workflow: "wf".into(),
            workflow_name: "Workflow".into(),
            brief: json!({"title": format!("run {n}")}),
            status: RunStatus::Running,
            error: None,
            created_at: at(n),
            finished_at: None,
            created_by: member(w, "alice", &[]).actor(),
            rerun_of: None,
        },
        steps,
        started: NewEvent {
            kind: EventType::RunStarted,
            data: json!({"n": n}),
        },
    }
}

fn approval(run: &RunId, k: &str, w: &str, created: Timestamp, spend: Option<Money>) -> Approval {
    Approval {
        step_id: StepId::new(run, &key(k)),
        workspace_id: ws(w),
        run_id: run.clone(),
        step_key: key(k),
        step_label: k.into(),
        workflow: "wf".into(),
        workflow_name: "Workflow".into(),
        target_output_field: "x".into(),
        upstream_step_key: "agent_a".into(),
        created_at: created,
        status: ApprovalStatus::Pending,
        summary: "s".into(),
        proposed_spend: spend,
        proposed_daily: None,
        required_role: None,
        proposal_digest: "sha256:x".into(),
        run_title: Some("Spring launch".into()),
        suggestion: None,
    }
}

fn history_entry(gate: &str, step: &str, n: u32, verdict: Verdict) -> HistoryEntry {
    HistoryEntry {
        workflow: "wf".into(),
        gate: gate.into(),
        step_id: step.into(),
        at: at(n),
        proposal: json!({"text": format!("proposal {n}"), "hashtags": ["#a"]}),
        proposal_digest: "sha256:x".into(),
        verdict,
        feedback: (verdict == Verdict::Rejected).then(|| "no".to_string()),
        comment: None,
        edited_proposal: None,
        edited_proposal_digest: None,
        actor: member("one", "alice", &[]).actor(),
        brief_budget_usd: Some(1500.0),
        spend_cap_remaining_usd: None,
        prediction: Some(ShadowPrediction {
            predicted_verdict: "reject".into(),
            confidence: 0.75,
        }),
        synthetic: false,
    }
}

fn decision(verdict: Verdict, w: &str, step: &StepId, n: u32) -> DecisionWrite {
    let actor = member(w, "alice", &[]).actor();
    DecisionWrite {
        workspace_id: ws(w),
        step_id: step.clone(),
        decision: Decision {
            verdict,
            actor: actor.clone(),
            at: at(n),
            comment: None,
            feedback: Some("no".into()),
        },
        step_status: if verdict == Verdict::Approved {
            StepStatus::Succeeded
        } else {
            StepStatus::Failed
        },
        step_output: json!({"verdict": format!("{verdict:?}")}),
        audit: AuditEntry {
            id: format!("a{n}"),
            workspace_id: ws(w),
            at: at(n),
            actor,
            action: "approval.x".into(),
            run_id: step.run_id().clone(),
            step_id: step.clone(),
            text: None,
        },
        events: vec![NewEvent {
            kind: EventType::ApprovalApproved,
            data: json!({}),
        }],
        fail_run: None,
        resume: ResumeAction::Success { output: json!({}) },
        reserve: None,
        history: history_entry(step.step_key().as_str(), &step.to_string(), n, verdict),
    }
}

async fn open(store: &dyn Store, run: &RunId, k: &str, w: &str, n: u32, token: &str) -> GateOpened {
    store
        .open_gate(&OpenGate {
            approval: approval(run, k, w, at(n), None),
            task_token: token.into(),
            // A retried gate task must not count it twice.
            cost: Money::from_micros(700),
            events: vec![NewEvent {
                kind: EventType::ApprovalRequested,
                data: json!({"step_key": k}),
            }],
        })
        .await
        .expect("open gate")
}

fn page(limit: usize, cursor: Option<String>) -> PageRequest {
    PageRequest { limit, cursor }
}

async fn seed(store: &dyn Store) {
    for w in ["one", "two"] {
        store
            .put_workspace(&Workspace {
                id: ws(w),
                name: w.into(),
                spend_cap: Money::from_cents(100 * 100),
                data: json!({}),
            })
            .await
            .expect("workspace");
        let m = member(w, "alice", &["member"]);
        store.put_member(&m).await.expect("member");
    }
}

/// Runs every check against a fresh, empty store.
pub async fn run_all(store: &dyn Store) {
    seed(store).await;
    tokens(store).await;
    runs_and_steps(store).await;
    gates_and_decisions(store).await;
    queue_pagination(store).await;
    spend(store).await;
    rejection_and_finish(store).await;
    actions_and_resumes(store).await;
    races(store).await;
    kept_responses(store).await;
    decision_history(store).await;
}

/// The output of a run's step, read each way that carries it: without
/// trails (alone, with the outputs of some steps, with some steps only, in
/// a list of runs) and with them.
async fn outputs_read(store: &dyn Store, run: &RunId, k: &str) -> [Option<Value>; 5] {
    let of = |r: Option<RunRecord>| {
        r.expect("the run")
            .step(k)
            .expect("the step")
            .output
            .as_deref()
            .cloned()
    };
    let listed = store
        .list_runs(&ws("rw"), None, &page(50, None))
        .await
        .expect("listed")
        .items
        .into_iter()
        .find(|r| r.run.id == *run);
    [
        of(store.get_run_without_trails(run).await.expect("read")),
        of(store.get_run_with_steps(run, &[key(k)]).await.expect("read")),
        of(store.get_run_with_outputs_of(run, &[key(k)]).await.expect("read")),
        of(listed),
        of(store.get_run(run).await.expect("read")),
    ]
}

/// Two handles on one store's data (two processes on one database file, two
/// functions on one table): a step's output that one has written and read is
/// not served again by it once the other has written the step anew.
pub async fn outputs_rewritten_elsewhere(reader: &dyn Store, writer: &dyn Store) {
    let new = new_run("rw", 1);
    reader.create_run(&new).await.expect("run");
    let run = &new.run.id;
    let write = |v: u32, to: StepStatus, finished: Option<u32>, from: StepStatus| StepUpdate {
        run_id: run.clone(),
        key: key("agent_a"),
        from: vec![from],
        to,
        result: Some(StepResult {
            output: Arc::new(json!({"v": v})),
            trail: vec![],
            cost: Money::ZERO,
        }),
        started_at: None,
        finished_at: finished.map(at),
        events: vec![],
    };
    let each_read = |v: u32| [0; 5].map(|_| Some(json!({"v": v})));
    let (done, failed) = (StepStatus::Succeeded, StepStatus::Failed);
    let first = write(1, done, Some(3), StepStatus::Pending);
    assert!(reader.update_step(&first).await.unwrap());
    for _ in 0..2 {
        assert_eq!(outputs_read(reader, run, "agent_a").await, each_read(1));
    }
    // Read with another step's output only: none for this one.
    let others = reader
        .get_run_with_outputs_of(run, &[key("gate_a")])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(others.step("agent_a").unwrap().output, None);
    // Written anew elsewhere: finished later; with another status; with the
    // same status and finish time; with no finish time (the row keeps its own).
    let rewrites = [
        write(2, done, Some(4), done),
        write(3, failed, Some(4), done),
        write(4, failed, Some(4), failed),
        write(5, failed, None, failed),
    ];
    for (v, rewrite) in (2..).zip(&rewrites) {
        assert!(writer.update_step(rewrite).await.unwrap());
        assert_eq!(
            outputs_read(reader, run, "agent_a").await,
            each_read(v),
            "rewrite {v}"
        );
    }
}

/// The decision history: written with each decision, imported without
/// doubles, listed per gate newest first with cursors bound to the gate, and
/// the approver settings beside it.
async fn decision_history(store: &dyn Store) {
    // The suites above decided gate_a in workspace one: its history has each decision.
    let h = store
        .list_history(&ws("one"), "wf", "gate_a", &page(200, None))
        .await
        .unwrap();
    assert!(
        h.items.iter().any(|e| e.verdict == Verdict::Approved),
        "the decision transaction keeps the history"
    );
    assert!(h.items.windows(2).all(|w| w[0].at >= w[1].at), "newest first");
    assert!(
        h.items
            .iter()
            .all(|e| e.prediction.as_ref().unwrap().predicted_verdict == "reject")
    );
    // An import, repeated, keeps each entry once.
    let entries: Vec<HistoryEntry> = (0..7)
        .map(|i| {
            history_entry(
                "gate_z",
                &format!("run_import{i}.gate_z"),
                100 + i,
                if i % 2 == 0 {
                    Verdict::Approved
                } else {
                    Verdict::Rejected
                },
            )
        })
        .collect();
    store.add_history(&ws("two"), &entries).await.unwrap();
    store.add_history(&ws("two"), &entries[..3]).await.unwrap();
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let p = store
            .list_history(&ws("two"), "wf", "gate_z", &page(3, cursor))
            .await
            .unwrap();
        seen.extend(p.items.iter().map(|e| e.step_id.clone()));
        match p.next_cursor {
            Some(c) => {
                // A cursor of one gate is refused by another.
                assert!(matches!(
                    store
                        .list_history(&ws("two"), "wf", "gate_y", &page(3, Some(c.clone())))
                        .await,
                    Err(StoreError::BadCursor)
                ));
                cursor = Some(c)
            }
            None => break,
        }
    }
    let want: Vec<String> = (0..7).rev().map(|i| format!("run_import{i}.gate_z")).collect();
    // Another workspace's history is its own.
    assert!(
        store
            .list_history(&ws("one"), "wf", "gate_z", &page(50, None))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert_eq!(seen, want, "newest first, each once");
    let back = store
        .list_history(&ws("two"), "wf", "gate_z", &page(1, None))
        .await
        .unwrap();
    assert_eq!(back.items[0], entries[6], "an entry comes back as it went in");
    // Settings: the default is nothing opted in.
    assert_eq!(
        store.approver_settings(&ws("one")).await.unwrap(),
        ApproverSettings::default()
    );
    let settings = ApproverSettings {
        auto_approve: vec![AutoApprove {
            workflow: "wf".into(),
            gate: "gate_a".into(),
            threshold: 0.95,
            spend: false,
        }],
    };
    store.put_approver_settings(&ws("one"), &settings).await.unwrap();
    assert_eq!(store.approver_settings(&ws("one")).await.unwrap(), settings);
    assert_eq!(
        store.approver_settings(&ws("two")).await.unwrap(),
        ApproverSettings::default()
    );
}

/// Responses kept for `Idempotency-Key` replay: the first stands until it
/// expires, per workspace, member and key.
async fn kept_responses(store: &dyn Store) {
    let kept = |member: &str, key: &str, body: &str, created: u32, expires: u32| KeptResponse {
        workspace_id: ws("one"),
        member_id: MemberId::parse(member).expect("member"),
        key: key.to_string(),
        fingerprint: format!("fp-{body}"),
        status: 201,
        body: body.to_string(),
        location: Some("/api/runs/run_x".into()),
        created_at: at(created),
        expires_at: at(expires),
    };
    let alice = MemberId::parse("alice").unwrap();
    let first = kept("alice", "k#1 ünï", "{\"a\":1}", 100, 200);
    assert_eq!(store.keep_response(&first, at(100)).await.unwrap(), first);
    // A second response under the same key does not replace the first.
    let second = kept("alice", "k#1 ünï", "{\"a\":2}", 110, 210);
    assert_eq!(store.keep_response(&second, at(110)).await.unwrap(), first);
    assert_eq!(
        store
            .kept_response(&ws("one"), &alice, "k#1 ünï", at(150))
            .await
            .unwrap(),
        Some(first.clone())
    );
    // Other keys, members and workspaces see nothing.
    assert_eq!(
        store
            .kept_response(&ws("one"), &alice, "k#2", at(150))
            .await
            .unwrap(),
        None
    );
    let bob = MemberId::parse("bob").unwrap();
    assert_eq!(
        store
            .kept_response(&ws("one"), &bob, "k#1 ünï", at(150))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .kept_response(&ws("two"), &alice, "k#1 ünï", at(150))
            .await
            .unwrap(),
        None
    );
    // Once expired it is gone, and a new response takes the key.
    assert_eq!(
        store
            .kept_response(&ws("one"), &alice, "k#1 ünï", at(200))
            .await
            .unwrap(),
        None
    );
    let third = kept("alice", "k#1 ünï", "{\"a\":3}", 250, 350);
    assert_eq!(store.keep_response(&third, at(250)).await.unwrap(), third);
    assert_eq!(
        store
            .kept_response(&ws("one"), &alice, "k#1 ünï", at(251))
            .await
            .unwrap(),
        Some(third)
    );
}

/// Concurrent decisions: one winner per gate, and the cap holds for gates
/// that each fit alone but not together.
async fn races(store: &dyn Store) {
    let new = new_run("two", 70);
    store.create_run(&new).await.unwrap();
    open(store, &new.run.id, "gate_a", "two", 71, "t").await;
    let step = StepId::new(&new.run.id, &key("gate_a"));
    let writes: Vec<DecisionWrite> = (0..8)
        .map(|i| {
            let mut d = decision(
                if i % 2 == 0 {
                    Verdict::Approved
                } else {
                    Verdict::Rejected
                },
                "two",
                &step,
                72 + i,
            );
            d.audit.id = format!("race{i}");
            d
        })
        .collect();
    let results = futures::future::join_all(writes.iter().map(|w| store.apply_decision(w))).await;
    let applied = results
        .iter()
        .filter(|r| matches!(r, Ok(DecisionApplied::Applied { .. })))
        .count();
    assert_eq!(applied, 1, "{results:?}");
    assert!(results.iter().all(|r| matches!(
        r,
        Ok(DecisionApplied::Applied { .. }) | Ok(DecisionApplied::Conflict)
    )));
    let audit = store.list_audit(&ws("two"), &page(200, None)).await.unwrap();
    assert_eq!(audit.items.iter().filter(|a| a.step_id == step).count(), 1);
    let events = store.events_after(&new.run.id, 0, 100).await.unwrap();
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as u64).collect::<Vec<_>>(),
        "event numbers stay dense"
    );

    let month = at(80).month();
    let before = store.month_spend(&ws("two"), &month).await.unwrap();
    let mut writes = Vec::new();
    for n in 80..82 {
        let r = new_run("two", n);
        store.create_run(&r).await.unwrap();
        open(store, &r.run.id, "gate_a", "two", n, "t").await;
        let mut d = decision(
            Verdict::Approved,
            "two",
            &StepId::new(&r.run.id, &key("gate_a")),
            n,
        );
        d.reserve = Some(SpendReservation {
            month: month.clone(),
            amount: Money::from_cents(30 * 100),
            cap: before + Money::from_cents(50 * 100),
        });
        writes.push(d);
    }
    let results = futures::future::join_all(writes.iter().map(|w| store.apply_decision(w))).await;
    let applied = results
        .iter()
        .filter(|r| matches!(r, Ok(DecisionApplied::Applied { .. })))
        .count();
    let over = results
        .iter()
        .filter(|r| matches!(r, Ok(DecisionApplied::OverCap { .. })))
        .count();
    assert_eq!((applied, over), (1, 1), "{results:?}");
    assert_eq!(
        store.month_spend(&ws("two"), &month).await.unwrap(),
        before + Money::from_cents(30 * 100)
    );
}

async fn tokens(store: &dyn Store) {
    let m = member("one", "alice", &["member"]);
    store.put_token("hash-1", &m, false).await.unwrap();
    store.put_token("hash-dev", &m, true).await.unwrap();
    let (found, dev) = store
        .member_by_token("hash-1")
        .await
        .unwrap()
        .expect("token found");
    assert_eq!(found, m);
    assert!(!dev);
    assert!(store.member_by_token("hash-dev").await.unwrap().unwrap().1);
    assert!(store.member_by_token("unknown").await.unwrap().is_none());
    store.put_token("hash-revoked", &m, false).await.unwrap();
    assert!(store.delete_token("hash-revoked").await.unwrap());
    assert!(
        !store.delete_token("hash-revoked").await.unwrap(),
        "already revoked"
    );
    assert!(store.member_by_token("hash-revoked").await.unwrap().is_none());
    assert_eq!(
        store.get_member(&ws("one"), &m.id).await.unwrap(),
        Some(m.clone())
    );
    assert_eq!(
        store
            .get_member(&ws("two"), &MemberId::parse("nobody").unwrap())
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.get_workspace(&ws("one")).await.unwrap().unwrap().spend_cap,
        Money::from_cents(100 * 100)
    );
    assert!(store.get_workspace(&ws("nope")).await.unwrap().is_none());
    workspace_revisions(store).await;
}

/// Every write of a workspace changes its revision; reads do not.
async fn workspace_revisions(store: &dyn Store) {
    let revision = || async { store.workspace_revision(&ws("one")).await.unwrap() };
    let first = revision().await.expect("an existing workspace has a revision");
    assert_eq!(revision().await, Some(first), "reading changes nothing");
    let mut w = store.get_workspace(&ws("one")).await.unwrap().unwrap();
    w.data = json!({"changed": true});
    store.put_workspace(&w).await.unwrap();
    let second = revision().await.expect("still there");
    assert_ne!(second, first, "a write changes the revision");
    assert_eq!(
        store.get_workspace(&ws("one")).await.unwrap().unwrap().data,
        json!({"changed": true})
    );
    w.data = json!({});
    store.put_workspace(&w).await.unwrap();
    assert!(
        ![first, second].contains(&revision().await.unwrap()),
        "every write"
    );
    assert_eq!(store.workspace_revision(&ws("nope")).await.unwrap(), None);
}

async fn runs_and_steps(store: &dyn Store) {
    let new = new_run("one", 1);
    store.create_run(&new).await.unwrap();
    assert!(matches!(
        store.create_run(&new).await,
        Err(StoreError::AlreadyExists(_))
    ));
    let rec = store.get_run(&new.run.id).await.unwrap().expect("run");
    assert_eq!(rec.steps.len(), 4);
    assert_eq!(rec.steps[0].key.as_str(), "agent_a", "steps keep recipe order");
    // A conditional transition applies once.
    let update = StepUpdate {
        run_id: new.run.id.clone(),
        key: key("agent_a"),
        from: vec![StepStatus::Pending],
        to: StepStatus::Running,
        result: None,
        started_at: Some(at(2)),
        finished_at: None,
        events: vec![NewEvent {
            kind: EventType::StepStarted,
            data: json!({}),
        }],
    };
    assert!(store.update_step(&update).await.unwrap());
    assert!(
        !store.update_step(&update).await.unwrap(),
        "the condition no longer holds"
    );
    // A trail as long as an agent's (a store may keep it compressed).
    let trail = vec![
        json!({"kind": "llm", "prompt": "BRAND\nLinen & Loom — “slow linen” ✨\n".repeat(80), "response": "{}"}),
        json!({"kind": "rule", "result": "ok"}),
    ];
    let done = StepUpdate {
        from: vec![StepStatus::Running],
        to: StepStatus::Succeeded,
        result: Some(StepResult {
            output: Arc::new(json!({"x": [1, 2]})),
            trail: trail.clone(),
            cost: Money::from_micros(1234),
        }),
        finished_at: Some(at(3)),
        started_at: None,
        events: vec![NewEvent {
            kind: EventType::StepSucceeded,
            data: json!({}),
        }],
        ..update.clone()
    };
    assert!(store.update_step(&done).await.unwrap());
    let rec = store.get_run(&new.run.id).await.unwrap().unwrap();
    let a = rec.step("agent_a").unwrap();
    assert_eq!(a.status, StepStatus::Succeeded);
    assert_eq!(a.output.as_deref(), Some(&json!({"x": [1, 2]})));
    assert_eq!(a.cost, Money::from_micros(1234));
    assert_eq!(a.started_at, Some(at(2)));
    assert_eq!(a.trail, trail);
    // Without trails: the same run, every trail empty.
    let lite = store.get_run_without_trails(&new.run.id).await.unwrap().unwrap();
    assert_eq!(lite.steps.len(), rec.steps.len());
    for (l, full) in lite.steps.iter().zip(&rec.steps) {
        assert!(l.trail.is_empty(), "{} kept its trail", l.key);
        assert_eq!(
            (&l.key, l.status, &l.output, l.cost),
            (&full.key, full.status, &full.output, full.cost)
        );
    }
    // With the outputs of some steps only: the rest as without trails.
    for (keys, with_a) in [
        (vec![key("agent_a")], true),
        (vec![], false),
        (vec![key("gate_a")], false),
    ] {
        let some = store
            .get_run_with_outputs_of(&new.run.id, &keys)
            .await
            .unwrap()
            .expect("the run");
        assert_eq!(some.run.id, lite.run.id);
        assert_eq!(some.run.brief, lite.run.brief);
        assert_eq!(some.steps.len(), lite.steps.len());
        for (s, l) in some.steps.iter().zip(&lite.steps) {
            assert!(s.trail.is_empty());
            assert_eq!(
                (&s.key, s.status, s.cost, &s.decision),
                (&l.key, l.status, l.cost, &l.decision)
            );
        }
        let a = some.step("agent_a").unwrap();
        assert_eq!(a.output.is_some(), with_a, "agent_a's output with {keys:?}");
        if with_a {
            assert_eq!(a.output.as_deref(), Some(&json!({"x": [1, 2]})));
        }
    }
    // With only some steps: those, outputs and all, in the run's order.
    let only = store
        .get_run_with_steps(&new.run.id, &[key("gate_a"), key("agent_a"), key("no_such_step")])
        .await
        .unwrap()
        .expect("the run");
    assert_eq!(only.run.brief, lite.run.brief);
    let keys: Vec<&str> = only.steps.iter().map(|s| s.key.as_str()).collect();
    assert_eq!(keys, ["agent_a", "gate_a"]);
    for s in &only.steps {
        let l = lite.step(s.key.as_str()).unwrap();
        assert!(s.trail.is_empty());
        assert_eq!(
            (&s.output, s.status, s.cost, &s.decision, &s.label),
            (&l.output, l.status, l.cost, &l.decision, &l.label)
        );
    }
    assert_eq!(
        only.step("agent_a").and_then(|s| s.output.as_deref()),
        Some(&json!({"x": [1, 2]}))
    );
    let none = store
        .get_run_with_steps(&new.run.id, &[])
        .await
        .unwrap()
        .expect("the run");
    assert!(none.steps.is_empty());
    // A run that is not there is `None` to every way of reading one.
    let missing = RunId::parse("run_confnone").unwrap();
    let some = [key("agent_a")];
    let found = [
        store.get_run(&missing).await.unwrap().is_some(),
        store.get_run_without_trails(&missing).await.unwrap().is_some(),
        store
            .get_run_with_outputs_of(&missing, &some)
            .await
            .unwrap()
            .is_some(),
        store.get_run_with_steps(&missing, &some).await.unwrap().is_some(),
    ];
    assert_eq!(
        found, [false; 4],
        "get_run, without trails, with outputs of, with steps"
    );
    let events = store.events_after(&new.run.id, 0, 100).await.unwrap();
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1, 2, 3]);
    assert_eq!(store.events_after(&new.run.id, 2, 100).await.unwrap().len(), 1);
    // Runs list per workspace, newest first, paginated.
    for n in 2..=4 {
        store.create_run(&new_run("one", n)).await.unwrap();
    }
    store.create_run(&new_run("two", 5)).await.unwrap();
    let p1 = store.list_runs(&ws("one"), None, &page(3, None)).await.unwrap();
    let ids: Vec<String> = p1.items.iter().map(|r| r.run.id.to_string()).collect();
    assert_eq!(ids, ["run_confone0004", "run_confone0003", "run_confone0002"]);
    let p2 = store
        .list_runs(&ws("one"), None, &page(3, p1.next_cursor.clone()))
        .await
        .unwrap();
    assert_eq!(p2.items.len(), 1);
    assert!(p2.next_cursor.is_none());
    assert!(matches!(
        store.list_runs(&ws("two"), None, &page(3, p1.next_cursor)).await,
        Err(StoreError::BadCursor)
    ));
    assert!(matches!(
        store
            .list_runs(&ws("one"), None, &page(3, Some("garbage!".into())))
            .await,
        Err(StoreError::BadCursor)
    ));
}

async fn gates_and_decisions(store: &dyn Store) {
    let new = new_run("one", 10);
    let run = new.run.id.clone();
    store.create_run(&new).await.unwrap();
    assert_eq!(
        open(store, &run, "gate_a", "one", 11, "tok-1").await,
        GateOpened::Waiting
    );
    // A retried gate task replaces the token, and is told the approval was there.
    assert_eq!(
        open(store, &run, "gate_a", "one", 11, "tok-2").await,
        GateOpened::StillWaiting
    );
    let step = StepId::new(&run, &key("gate_a"));
    let rec = store.get_run(&run).await.unwrap().unwrap();
    assert_eq!(rec.step("gate_a").unwrap().status, StepStatus::WaitingForApproval);
    // The card's compute cost is added once, as the gate opens.
    assert_eq!(rec.step("gate_a").unwrap().cost, Money::from_micros(700));
    assert_eq!(
        store.get_approval(&step).await.unwrap().unwrap().status,
        ApprovalStatus::Pending
    );
    // Decide: applied once, then a conflict.
    let d = decision(Verdict::Approved, "one", &step, 12);
    assert_eq!(
        store.apply_decision(&d).await.unwrap(),
        DecisionApplied::Applied { cancelled: vec![] }
    );
    assert_eq!(store.apply_decision(&d).await.unwrap(), DecisionApplied::Conflict);
    let rec = store.get_run(&run).await.unwrap().unwrap();
    let gate = rec.step("gate_a").unwrap();
    assert_eq!(gate.status, StepStatus::Succeeded);
    assert_eq!(gate.decision.as_ref().unwrap().verdict, Verdict::Approved);
    // The resume goes out with the latest token.
    let resumes = store.pending_resumes(10).await.unwrap();
    let r = resumes
        .iter()
        .find(|r| r.step_id == step)
        .expect("a pending resume");
    assert_eq!(r.task_token, "tok-2");
    store.resume_done(&step).await.unwrap();
    assert!(
        !store
            .pending_resumes(10)
            .await
            .unwrap()
            .iter()
            .any(|r| r.step_id == step)
    );
    // A gate task retried after its decision re-arms the stored decision with the new token.
    assert_eq!(
        open(store, &run, "gate_a", "one", 13, "tok-3").await,
        GateOpened::AlreadyDecided
    );
    let r = store
        .pending_resumes(10)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.step_id == step)
        .expect("re-armed");
    assert_eq!(r.task_token, "tok-3");
    assert_eq!(r.action, ResumeAction::Success { output: json!({}) });
    store.resume_failed_attempt(&step).await.unwrap();
    assert_eq!(
        store
            .pending_resumes(10)
            .await
            .unwrap()
            .into_iter()
            .find(|r| r.step_id == step)
            .unwrap()
            .attempts,
        1
    );
    store.resume_done(&step).await.unwrap();
    // The audit has the decision.
    let audit = store.list_audit(&ws("one"), &page(50, None)).await.unwrap();
    assert_eq!(audit.items.len(), 1);
    assert_eq!(audit.items[0].step_id, step);
    assert!(
        store
            .list_audit(&ws("two"), &page(50, None))
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

async fn queue_pagination(store: &dyn Store) {
    let mut gates = Vec::new();
    for n in 20..25 {
        let new = new_run("two", n);
        store.create_run(&new).await.unwrap();
        open(store, &new.run.id, "gate_a", "two", n, "t").await;
        gates.push(StepId::new(&new.run.id, &key("gate_a")));
    }
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let p = store
            .list_pending(&ws("two"), &QueueFilter::default(), &page(2, cursor))
            .await
            .unwrap();
        seen.extend(p.items.iter().map(|a| a.step_id.clone()));
        match p.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    gates.reverse();
    assert_eq!(seen, gates, "newest first, every pending gate once");
    let filtered = store
        .list_pending(
            &ws("two"),
            &QueueFilter {
                workflow: Some("other".into()),
                step_key: None,
            },
            &page(50, None),
        )
        .await
        .unwrap();
    assert!(filtered.items.is_empty());
    let by_gate = store
        .list_pending(
            &ws("two"),
            &QueueFilter {
                workflow: Some("wf".into()),
                step_key: Some("gate_a".into()),
            },
            &page(50, None),
        )
        .await
        .unwrap();
    assert_eq!(by_gate.items.len(), 5);
    // Deciding removes a gate from the queue.
    store
        .apply_decision(&decision(Verdict::Approved, "two", &gates[0], 30))
        .await
        .unwrap();
    let p = store
        .list_pending(&ws("two"), &QueueFilter::default(), &page(50, None))
        .await
        .unwrap();
    assert_eq!(p.items.len(), 4);
    assert!(!p.items.iter().any(|a| a.step_id == gates[0]));
}

async fn spend(store: &dyn Store) {
    let month = at(40).month();
    let before = store.month_spend(&ws("one"), &month).await.unwrap();
    let mut steps = Vec::new();
    for n in 40..42 {
        let new = new_run("one", n);
        store.create_run(&new).await.unwrap();
        open(store, &new.run.id, "gate_a", "one", n, "t").await;
        steps.push(StepId::new(&new.run.id, &key("gate_a")));
    }
    let cap = before + Money::from_cents(60 * 100);
    let reserve = |amount| {
        Some(SpendReservation {
            month: month.clone(),
            amount,
            cap,
        })
    };
    let mut d = decision(Verdict::Approved, "one", &steps[0], 42);
    d.reserve = reserve(Money::from_cents(50 * 100));
    assert!(matches!(
        store.apply_decision(&d).await.unwrap(),
        DecisionApplied::Applied { .. }
    ));
    assert_eq!(
        store.month_spend(&ws("one"), &month).await.unwrap(),
        before + Money::from_cents(50 * 100)
    );
    let mut d = decision(Verdict::Approved, "one", &steps[1], 43);
    d.reserve = reserve(Money::from_cents(20 * 100));
    assert_eq!(
        store.apply_decision(&d).await.unwrap(),
        DecisionApplied::OverCap {
            remaining: Money::from_cents(10 * 100)
        }
    );
    // Nothing changed: still waiting, spend unchanged.
    let rec = store.get_run(steps[1].run_id()).await.unwrap().unwrap();
    assert_eq!(rec.step("gate_a").unwrap().status, StepStatus::WaitingForApproval);
    assert_eq!(
        store.month_spend(&ws("one"), &month).await.unwrap(),
        before + Money::from_cents(50 * 100)
    );
    // The first run fails before its action ran: its reservation is released.
    let finish = FinishRun {
        run_id: steps[0].run_id().clone(),
        status: RunStatus::Failed,
        error: Some("boom".into()),
        at: at(44),
        event: NewEvent {
            kind: EventType::RunFailed,
            data: json!({}),
        },
    };
    assert!(store.finish_run(&finish).await.unwrap());
    assert_eq!(store.month_spend(&ws("one"), &month).await.unwrap(), before);
}

async fn rejection_and_finish(store: &dyn Store) {
    let new = new_run("one", 50);
    let run = new.run.id.clone();
    store.create_run(&new).await.unwrap();
    open(store, &run, "gate_a", "one", 51, "ta").await;
    open(store, &run, "gate_b", "one", 52, "tb").await;
    let a = StepId::new(&run, &key("gate_a"));
    let b = StepId::new(&run, &key("gate_b"));
    let mut d = decision(Verdict::Rejected, "one", &a, 53);
    d.fail_run = Some(FailRun {
        error: "Rejected at gate_a: no".into(),
        event: NewEvent {
            kind: EventType::RunFailed,
            data: json!({}),
        },
    });
    d.resume = ResumeAction::Failure {
        error: "Rejected".into(),
        cause: "Rejected at gate_a: no".into(),
    };
    assert_eq!(
        store.apply_decision(&d).await.unwrap(),
        DecisionApplied::Applied {
            cancelled: vec![b.clone()]
        }
    );
    let rec = store.get_run(&run).await.unwrap().unwrap();
    assert_eq!(rec.run.status, RunStatus::Failed);
    assert_eq!(rec.run.error.as_deref(), Some("Rejected at gate_a: no"));
    assert_eq!(rec.step("gate_a").unwrap().status, StepStatus::Failed);
    assert_eq!(rec.step("gate_b").unwrap().status, StepStatus::Cancelled);
    assert_eq!(
        store.get_approval(&b).await.unwrap().unwrap().status,
        ApprovalStatus::Cancelled
    );
    // The cancelled sibling can't be decided; nothing moves on a failed run.
    assert_eq!(
        store
            .apply_decision(&decision(Verdict::Approved, "one", &b, 54))
            .await
            .unwrap(),
        DecisionApplied::Conflict
    );
    assert_eq!(
        open(store, &run, "gate_b", "one", 55, "tb2").await,
        GateOpened::Closed
    );
    let types: Vec<EventType> = store
        .events_after(&run, 0, 100)
        .await
        .unwrap()
        .iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(types.last(), Some(&EventType::RunFailed));
    assert!(types.contains(&EventType::ApprovalCancelled));
    // The execution's end arrives later: idempotent, it closes what never ran.
    let finish = FinishRun {
        run_id: run.clone(),
        status: RunStatus::Failed,
        error: Some("Rejected".into()),
        at: at(56),
        event: NewEvent {
            kind: EventType::RunFailed,
            data: json!({}),
        },
    };
    assert!(
        !store.finish_run(&finish).await.unwrap(),
        "the run had already ended"
    );
    let rec = store.get_run(&run).await.unwrap().unwrap();
    assert_eq!(
        rec.run.error.as_deref(),
        Some("Rejected at gate_a: no"),
        "the first error stands"
    );
    assert_eq!(rec.step("action_a").unwrap().status, StepStatus::Cancelled);
    let failed = store
        .events_after(&run, 0, 100)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.kind == EventType::RunFailed)
        .count();
    assert_eq!(failed, 1);
    // A run that succeeds skips the steps that never ran.
    let ok = new_run("one", 57);
    store.create_run(&ok).await.unwrap();
    let finish = FinishRun {
        run_id: ok.run.id.clone(),
        status: RunStatus::Succeeded,
        error: None,
        at: at(58),
        event: NewEvent {
            kind: EventType::RunSucceeded,
            data: json!({}),
        },
    };
    assert!(store.finish_run(&finish).await.unwrap());
    let rec = store.get_run(&ok.run.id).await.unwrap().unwrap();
    assert_eq!(rec.run.status, RunStatus::Succeeded);
    assert!(rec.steps.iter().all(|s| s.status == StepStatus::Skipped));
    assert!(!store.running_runs().await.unwrap().contains(&ok.run.id));
}

async fn actions_and_resumes(store: &dyn Store) {
    let new = new_run("one", 60);
    let run = new.run.id.clone();
    store.create_run(&new).await.unwrap();
    assert!(store.running_runs().await.unwrap().contains(&run));
    let step = StepId::new(&run, &key("action_a"));
    let item = OutboxItem {
        step_id: step.clone(),
        workspace_id: ws("one"),
        run_id: run.clone(),
        step_key: key("action_a"),
        action: "post".into(),
        payload: json!({"post_caption": {"text": "hi"}}),
        sent_at: at(61),
    };
    let update = StepUpdate {
        run_id: run.clone(),
        key: key("action_a"),
        from: vec![StepStatus::Pending, StepStatus::Running],
        to: StepStatus::Succeeded,
        result: Some(StepResult {
            output: Arc::new(json!({})),
            trail: vec![],
            cost: Money::ZERO,
        }),
        started_at: Some(at(61)),
        finished_at: Some(at(61)),
        events: vec![NewEvent {
            kind: EventType::StepSucceeded,
            data: json!({}),
        }],
    };
    let gate = StepId::new(&run, &key("gate_a"));
    assert!(store.complete_action(&item, &update, &gate).await.unwrap());
    assert!(
        !store.complete_action(&item, &update, &gate).await.unwrap(),
        "at most once per step"
    );
    let outbox = store.list_outbox(&ws("one"), &page(50, None)).await.unwrap();
    assert_eq!(outbox.items.iter().filter(|i| i.step_id == step).count(), 1);
    assert!(
        store
            .list_outbox(&ws("two"), &page(50, None))
            .await
            .unwrap()
            .items
            .is_empty()
    );
}
