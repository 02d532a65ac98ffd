//! The local engine against hand-written definitions: the subset's
//! semantics, refusals by state name, and durability by replay.

use async_trait::async_trait;
use greenlight_engine::*;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

#[derive(Default)]
struct MemJournal {
    executions: Mutex<HashMap<String, ExecutionRecord>>,
    tasks: Mutex<HashMap<(String, String), TaskOutcome>>,
    /// How many times a task's outcome was looked up (one or all of an execution's).
    lookups: std::sync::atomic::AtomicUsize,
}

#[async_trait]
impl Journal for MemJournal {
    async fn create_execution(&self, r: &ExecutionRecord) -> Result<bool, JournalError> {
        let mut e = self.executions.lock().unwrap();
        if e.contains_key(&r.name) {
            return Ok(false);
        }
        e.insert(r.name.clone(), r.clone());
        Ok(true)
    }
    async fn get_execution(&self, name: &str) -> Result<Option<ExecutionRecord>, JournalError> {
        Ok(self.executions.lock().unwrap().get(name).cloned())
    }
    async fn unfinished(&self) -> Result<Vec<ExecutionRecord>, JournalError> {
        Ok(self
            .executions
            .lock()
            .unwrap()
            .values()
            .filter(|e| !e.notified)
            .cloned()
            .collect())
    }
    async fn record_task(&self, e: &str, k: &str, o: &TaskOutcome) -> Result<bool, JournalError> {
        let mut t = self.tasks.lock().unwrap();
        let key = (e.to_string(), k.to_string());
        if t.contains_key(&key) {
            return Ok(false);
        }
        t.insert(key, o.clone());
        Ok(true)
    }
    async fn task_outcome(&self, e: &str, k: &str) -> Result<Option<TaskOutcome>, JournalError> {
        // A real journal suspends here (SQLite runs on a blocking thread).
        tokio::task::yield_now().await;
        self.lookups.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(self
            .tasks
            .lock()
            .unwrap()
            .get(&(e.to_string(), k.to_string()))
            .cloned())
    }
    async fn task_outcomes(&self, e: &str) -> Result<HashMap<String, TaskOutcome>, JournalError> {
        tokio::task::yield_now().await;
        self.lookups.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(self
            .tasks
            .lock()
            .unwrap()
            .iter()
            .filter(|((x, _), _)| x == e)
            .map(|((_, k), o)| (k.clone(), o.clone()))
            .collect())
    }
    async fn finish_execution(
        &self,
        name: &str,
        status: ExecutionStatus,
        output: Option<&Value>,
        failure: Option<&Failure>,
    ) -> Result<(), JournalError> {
        if let Some(e) = self.executions.lock().unwrap().get_mut(name) {
            e.status = status;
            e.output = output.cloned();
            e.failure = failure.cloned();
        }
        Ok(())
    }
    async fn mark_notified(&self, name: &str) -> Result<(), JournalError> {
        if let Some(e) = self.executions.lock().unwrap().get_mut(name) {
            e.notified = true;
        }
        Ok(())
    }
}

/// Functions for the tests: `echo`, `fail:<Error>` (always), `flaky` (fails
/// twice with `Retryable`, then succeeds), `gate` (records the token).
#[derive(Default)]
struct Funcs {
    calls: Mutex<Vec<(String, Value)>>,
    flaky: Mutex<u32>,
    tokens: Mutex<Vec<String>>,
    token_seen: Notify,
}

impl Funcs {
    /// How many times `function` has been invoked.
    fn calls_of(&self, function: &str) -> usize {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.0 == function)
            .count()
    }
}

#[async_trait]
impl Invoker for Funcs {
    async fn invoke(&self, function: &str, payload: Value) -> Result<Value, Failure> {
        self.calls
            .lock()
            .unwrap()
            .push((function.to_string(), payload.clone()));
        match function {
            "echo" => Ok(payload),
            "flaky" => {
                let mut n = self.flaky.lock().unwrap();
                *n += 1;
                if *n <= 2 {
                    Err(Failure {
                        error: "Retryable".into(),
                        cause: format!("attempt {n}"),
                    })
                } else {
                    Ok(json!({"attempts": *n}))
                }
            }
            "gate" => {
                let token = payload["token"].as_str().unwrap_or_default().to_string();
                self.tokens.lock().unwrap().push(token);
                self.token_seen.notify_waiters();
                Ok(json!({}))
            }
            "fail-after-gate" => {
                // Fails only once a gate is waiting, so the test sees a real sibling wait.
                for _ in 0..500 {
                    if !self.tokens.lock().unwrap().is_empty() {
                        return Err(Failure {
                            error: "Boom".into(),
                            cause: "after the gate".into(),
                        });
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err(Failure {
                    error: "NoGate".into(),
                    cause: "the gate never opened".into(),
                })
            }
            f => match f.strip_prefix("fail:") {
                Some(e) => Err(Failure {
                    error: e.into(),
                    cause: "it failed".into(),
                }),
                None => Err(Failure {
                    error: "Lambda.ResourceNotFoundException".into(),
                    cause: f.into(),
                }),
            },
        }
    }
}

#[derive(Default)]
struct Ends {
    ended: Mutex<Vec<ExecutionRecord>>,
    notify: Notify,
}

#[async_trait]
impl Listener for Ends {
    async fn execution_finished(&self, r: &ExecutionRecord) -> Result<(), String> {
        self.ended.lock().unwrap().push(r.clone());
        self.notify.notify_waiters();
        Ok(())
    }
}

struct Rig {
    engine: Engine,
    funcs: Arc<Funcs>,
    ends: Arc<Ends>,
}

fn rig_with(def: Value, journal: Arc<MemJournal>) -> Result<Rig, EngineError> {
    let funcs = Arc::new(Funcs::default());
    let ends = Arc::new(Ends::default());
    let engine = Engine::new(
        &[("m".into(), def)],
        &HashMap::new(),
        journal,
        funcs.clone(),
        ends.clone(),
    )?
    .with_retry_scale(0.0);
    Ok(Rig { engine, funcs, ends })
}

fn rig(def: Value) -> Rig {
    rig_with(def, Arc::new(MemJournal::default())).expect("definition accepted")
}

impl Rig {
    async fn run(&self, name: &str, input: Value) -> ExecutionRecord {
        let waiting = self.ends.notify.notified();
        self.engine.start("m", name, input).await.unwrap();
        tokio::time::timeout(Duration::from_secs(10), waiting)
            .await
            .expect("execution ends");
        self.ends
            .ended
            .lock()
            .unwrap()
            .iter()
            .find(|e| e.name == name)
            .cloned()
            .unwrap()
    }
}

/// A gate: the `gate` function gets the task token, and the task waits on it.
fn token_gate() -> Value {
    json!({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
        "Parameters": {"FunctionName": "gate", "Payload": {"token.$": "$$.Task.Token"}}, "ResultPath": null, "End": true})
}

/// An engine over `def` (as machine `m`) that keeps no paused run in memory.
fn parking_engine(def: Value) -> (Engine, Arc<Funcs>, Arc<Ends>) {
    let funcs = Arc::new(Funcs::default());
    let ends = Arc::new(Ends::default());
    let engine = Engine::new(
        &[("m".into(), def)],
        &HashMap::new(),
        Arc::new(MemJournal::default()),
        funcs.clone(),
        ends.clone(),
    )
    .unwrap()
    .with_live_paused(0);
    (engine, funcs, ends)
}

fn invoke(function: &str, next: Option<&str>) -> Value {
    let mut s = json!({
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": function, "Payload": {"run_id.$": "$.run_id", "fixed": 1}},
        "ResultPath": null
    });
    match next {
        Some(n) => s["Next"] = json!(n),
        None => s["End"] = json!(true),
    }
    s
}

#[tokio::test]
async fn tasks_pass_references_and_keep_their_input() {
    let r =
        rig(json!({"StartAt": "A", "States": {"A": invoke("echo", Some("B")), "B": invoke("echo", None)}}));
    let end = r.run("e1", json!({"run_id": "run_1", "other": true})).await;
    assert_eq!(end.status, ExecutionStatus::Succeeded);
    assert_eq!(end.output, Some(json!({"run_id": "run_1", "other": true})));
    let calls = r.funcs.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].1, json!({"run_id": "run_1", "fixed": 1}));
}

#[tokio::test]
async fn a_new_execution_looks_up_no_outcome_but_a_restarted_one_replays_them() {
    let def = json!({"StartAt": "A", "States": {
        "A": invoke("echo", Some("F")),
        "F": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
              "Parameters": {"FunctionName": "flaky", "Payload": {}},
              "Retry": [{"ErrorEquals": ["Retryable"], "MaxAttempts": 3}], "ResultPath": null, "End": true}
    }});
    let journal = Arc::new(MemJournal::default());
    let r = rig_with(def.clone(), journal.clone()).unwrap();
    let end = r.run("fresh", json!({"run_id": "run_1"})).await;
    assert_eq!(end.status, ExecutionStatus::Succeeded);
    // Four tasks ran (echo, then flaky three times), each journaled ...
    assert_eq!(journal.tasks.lock().unwrap().len(), 4);
    // ... and none was looked up: only this run could have recorded them.
    assert_eq!(journal.lookups.load(std::sync::atomic::Ordering::SeqCst), 0);

    // The same journal with the execution unfinished: a new engine replays
    // the four outcomes instead of invoking anything again.
    if let Some(e) = journal.executions.lock().unwrap().get_mut("fresh") {
        e.status = ExecutionStatus::Running;
        e.output = None;
        e.notified = false;
    }
    let again = rig_with(def, journal.clone()).unwrap();
    let waiting = again.ends.notify.notified();
    assert_eq!(again.engine.recover().await.unwrap(), 1);
    tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the replay ends");
    assert_eq!(
        again.funcs.calls.lock().unwrap().len(),
        0,
        "nothing is invoked twice"
    );
    assert!(journal.lookups.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    assert_eq!(
        journal.executions.lock().unwrap()["fresh"].status,
        ExecutionStatus::Succeeded
    );
}

#[tokio::test]
async fn result_paths_and_pass_states() {
    let def = json!({"StartAt": "P", "States": {
        "P": {"Type": "Pass", "Result": {"x": 1}, "ResultPath": "$.a.b", "Next": "T"},
        "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
              "Parameters": {"FunctionName": "echo", "Payload": {"v.$": "$.a.b.x", "name.$": "$$.Execution.Name"}},
              "ResultSelector": {"got.$": "$.Payload"}, "ResultPath": "$.result", "End": true}
    }});
    let r = rig(def);
    let end = r.run("e2", json!({"keep": 1})).await;
    assert_eq!(
        end.output,
        Some(json!({"keep": 1, "a": {"b": {"x": 1}}, "result": {"got": {"v": 1, "name": "e2"}}}))
    );
}

/// The context object is there for every state that reads it, however
/// deep: a Pass state, and a task in a branch of a Parallel state that
/// itself never mentions it (states that do not read it are given none).
#[tokio::test]
async fn the_context_object_reaches_every_state_that_reads_it() {
    let def = json!({"StartAt": "P", "States": {
        "P": {"Type": "Pass", "Parameters": {"state.$": "$$.State.Name", "keep.$": "$.keep"}, "Next": "Par"},
        "Par": {"Type": "Parallel", "End": true, "Branches": [{"StartAt": "T", "States": {
            "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                  "Parameters": {"FunctionName": "echo",
                                 "Payload": {"state.$": "$$.State.Name", "execution.$": "$$.Execution.Name", "before.$": "$.state"}},
                  "OutputPath": "$.Payload", "End": true}}}]}
    }});
    let r = rig(def);
    let end = r.run("ctx", json!({"keep": 1})).await;
    assert_eq!(
        end.output,
        Some(json!([{"state": "T", "execution": "ctx", "before": "P"}]))
    );
}

#[tokio::test]
async fn retry_then_success_and_catch_into_a_fail_state() {
    let def = json!({"StartAt": "F", "States": {
        "F": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
              "Parameters": {"FunctionName": "flaky", "Payload": {}},
              "Retry": [{"ErrorEquals": ["Retryable"], "MaxAttempts": 3}], "ResultPath": null, "Next": "G"},
        "G": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
              "Parameters": {"FunctionName": "fail:Rejected", "Payload": {}},
              "Retry": [{"ErrorEquals": ["Lambda.ServiceException"]}],
              "Catch": [{"ErrorEquals": ["Rejected"], "ResultPath": null, "Next": "Rejected"}], "End": true},
        "Rejected": {"Type": "Fail", "Error": "Rejected", "Cause": "rejected"}
    }});
    let r = rig(def);
    let end = r.run("e3", json!({})).await;
    assert_eq!(end.status, ExecutionStatus::Failed);
    assert_eq!(end.failure.unwrap().error, "Rejected");
    assert_eq!(r.funcs.calls_of("flaky"), 3, "two failures, one success");
    assert_eq!(r.funcs.calls_of("fail:Rejected"), 1, "Rejected is never retried");
}

#[tokio::test]
async fn a_failing_branch_fails_the_parallel_and_a_waiting_sibling_is_abandoned() {
    let gate = token_gate();
    let def = json!({"StartAt": "Par", "States": {
        "Par": {"Type": "Parallel", "ResultPath": null, "Branches": [
            {"StartAt": "Wait here", "States": {"Wait here": gate}},
            {"StartAt": "Fail there", "States": {"Fail there": invoke("fail-after-gate", None)}}
        ], "End": true}
    }});
    let r = rig(def);
    let end = r.run("e4", json!({"run_id": "r"})).await;
    assert_eq!(end.status, ExecutionStatus::Failed);
    assert_eq!(end.failure.unwrap().error, "Boom");
    // The gate's token is no longer valid.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let token = r.funcs.tokens.lock().unwrap()[0].clone();
    assert!(matches!(
        r.engine.send_task_success(&token, json!({})).await,
        Err(EngineError::InvalidToken)
    ));
    assert_eq!(r.engine.waiting_tasks(), 0);
}

#[tokio::test]
async fn unsupported_constructs_are_refused_naming_the_state() {
    let cases = [
        (
            json!({"StartAt": "M", "States": {"M": {"Type": "Map", "End": true}}}),
            "state `M`",
        ),
        (
            json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 1, "End": true}}}),
            "state `W`",
        ),
        (
            json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "Parameters": {"FunctionName": "x"}, "End": true}}}),
            "state `T`",
        ),
        (
            json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "TimeoutSeconds": 5, "Parameters": {"FunctionName": "x"}, "End": true}}}),
            "`TimeoutSeconds`",
        ),
        (
            json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {"x.$": "States.UUID()"}, "End": true}}}),
            "intrinsic",
        ),
        (
            json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Next": "Nowhere"}}}),
            "`Nowhere`",
        ),
    ];
    for (def, expected) in cases {
        let err = match rig_with(def.clone(), Arc::new(MemJournal::default())) {
            Ok(_) => panic!("accepted {def}"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains(expected), "expected `{expected}` in: {err}");
    }
}

#[tokio::test]
async fn a_restarted_engine_replays_finished_tasks_and_resumes_the_wait() {
    let gate = json!({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
        "Parameters": {"FunctionName": "gate", "Payload": {"token.$": "$$.Task.Token"}}, "ResultPath": "$.decision", "Next": "After"});
    let def = json!({"StartAt": "Before", "States": {
        "Before": invoke("echo", Some("Gate")), "Gate": gate, "After": invoke("echo", None)
    }});
    let journal = Arc::new(MemJournal::default());
    let first = rig_with(def.clone(), journal.clone()).unwrap();
    let seen = first.funcs.token_seen.notified();
    first
        .engine
        .start("m", "e5", json!({"run_id": "r"}))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), seen)
        .await
        .expect("gate reached");
    let token = first.funcs.tokens.lock().unwrap()[0].clone();
    // "Crash": drop the engine; its tasks are gone with it in a real process.
    drop(first);

    let second = rig_with(def, journal.clone()).unwrap();
    let seen = second.funcs.token_seen.notified();
    let ended = second.ends.notify.notified();
    assert_eq!(second.engine.recover().await.unwrap(), 1);
    tokio::time::timeout(Duration::from_secs(10), seen)
        .await
        .expect("gate re-opened");
    // The same token, and the finished task did not run again.
    assert_eq!(second.funcs.tokens.lock().unwrap()[0], token);
    assert_eq!(
        second.funcs.calls_of("echo"),
        0,
        "Before replayed from the journal"
    );
    second
        .engine
        .send_task_success(&token, json!({"verdict": "approved"}))
        .await
        .unwrap();
    // A second delivery of the same decision is a no-op, not an error.
    second
        .engine
        .send_task_success(&token, json!({"verdict": "approved"}))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), ended)
        .await
        .expect("execution ends");
    let end = second.ends.ended.lock().unwrap()[0].clone();
    assert_eq!(end.status, ExecutionStatus::Succeeded);
    assert_eq!(end.output.unwrap()["decision"], json!({"verdict": "approved"}));
    // Starting the same execution again is a no-op; with another input it is refused.
    second
        .engine
        .start("m", "e5", json!({"run_id": "r"}))
        .await
        .unwrap();
    assert!(
        second
            .engine
            .start("m", "e5", json!({"run_id": "other"}))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn an_execution_of_a_machine_this_process_lacks_stays_paused() {
    let gate = token_gate();
    let journal = Arc::new(MemJournal::default());
    let first = rig_with(json!({"StartAt": "G", "States": {"G": gate}}), journal.clone()).unwrap();
    let seen = first.funcs.token_seen.notified();
    first.engine.start("m", "e6", json!({})).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), seen)
        .await
        .expect("gate reached");
    drop(first);
    // A process started without that state machine leaves the execution alone.
    let funcs = Arc::new(Funcs::default());
    let ends = Arc::new(Ends::default());
    let other = Engine::new(&[], &HashMap::new(), journal.clone(), funcs, ends.clone()).unwrap();
    assert_eq!(other.recover().await.unwrap(), 1);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(other.status("e6").await.unwrap(), ExecutionStatus::Running);
    assert!(ends.ended.lock().unwrap().is_empty(), "not reported as ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_run_is_parked_but_never_while_a_sibling_retries() {
    let gate = token_gate();
    let def = json!({"StartAt": "Par", "States": {
        "Par": {"Type": "Parallel", "ResultPath": null, "Branches": [
            {"StartAt": "Wait here", "States": {"Wait here": gate}},
            {"StartAt": "First", "States": {
                "First": invoke("echo", Some("Flaky")),
                "Flaky": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                    "Parameters": {"FunctionName": "flaky", "Payload": {}},
                    "Retry": [{"ErrorEquals": ["Retryable"], "IntervalSeconds": 1, "BackoffRate": 1.0, "MaxAttempts": 3}],
                    "ResultPath": null, "End": true}}}
        ], "End": true}
    }});
    // Real retry waits (1 s), and no paused run kept in memory.
    let (engine, funcs, ends) = parking_engine(def);
    let ended = ends.notify.notified();
    engine.start("m", "e9", json!({"run_id": "r"})).await.unwrap();
    // The retries go on while the gate waits: the run is not parked mid-retry.
    let flaky = || funcs.calls_of("flaky");
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while flaky() < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "the retries stalled at {} calls",
            flaky()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Then only the gate waits: the run leaves memory.
    while engine.in_memory() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the paused run was never parked"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(engine.waiting_tasks(), 1);
    // A decision replays it to the end, without running anything twice.
    let token = funcs.tokens.lock().unwrap()[0].clone();
    engine.send_task_success(&token, json!({})).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), ended)
        .await
        .expect("execution ends");
    let end = ends.ended.lock().unwrap()[0].clone();
    assert_eq!(end.status, ExecutionStatus::Succeeded);
    assert_eq!(flaky(), 3, "two failures and a success, none replayed");
    assert_eq!(funcs.calls_of("echo"), 1);
    assert_eq!(engine.waiting_tasks(), 0);
    assert_eq!(engine.in_memory(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_waits_on_its_parked_gates_again_without_invoking_them_twice() {
    let gate = token_gate();
    let def = json!({"StartAt": "Par", "States": {
        "Par": {"Type": "Parallel", "ResultPath": null, "Branches": [
            {"StartAt": "A", "States": {"A": gate.clone()}},
            {"StartAt": "B", "States": {"B": gate.clone()}},
            {"StartAt": "C", "States": {"C": gate}}
        ], "End": true}
    }});
    let (engine, funcs, ends) = parking_engine(def);
    let ended = ends.notify.notified();
    engine.start("m", "e10", json!({})).await.unwrap();
    let gates = || funcs.calls_of("gate");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while gates() < 3 || engine.in_memory() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the run never paused and parked"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let tokens = funcs.tokens.lock().unwrap().clone();
    // Each decision replays the run, which parks again; the gates still
    // waiting wait again, their functions not run again.
    for (i, token) in tokens.iter().enumerate() {
        engine.send_task_success(token, json!({})).await.unwrap();
        if i + 1 < tokens.len() {
            while engine.in_memory() > 0 || engine.waiting_tasks() != tokens.len() - i - 1 {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the replay never parked again"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        assert_eq!(gates(), 3, "a gate's function ran again on a replay");
    }
    tokio::time::timeout(Duration::from_secs(10), ended)
        .await
        .expect("execution ends");
    assert_eq!(ends.ended.lock().unwrap()[0].status, ExecutionStatus::Succeeded);
    assert_eq!(engine.waiting_tasks(), 0);
}
