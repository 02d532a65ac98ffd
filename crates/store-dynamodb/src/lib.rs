//! The `Store` port on DynamoDB: DESIGN.md's single-table design.
//!
//! | item | PK | SK |
//! |---|---|---|
//! | workspace | `WS#<ws>` | `META` |
//! | member | `WS#<ws>` | `MEMBER#<id>` |
//! | token | `TOKEN#<sha256>` | `TOKEN` (a base-table item, not a GSI) |
//! | run | `RUN#<run>` | `META` (GSI1 `WS#<ws>#RUNS` by time; GSI3 `RUNNING` while running) |
//! | step | `RUN#<run>` | `STEP#<key>` |
//! | approval | `RUN#<run>` | `APPROVAL#<key>` (sparse GSI2 `WS#<ws>#PENDING` while pending) |
//! | event | `RUN#<run>` | `EVT#<seq, 10 digits>` |
//! | resume | `RUN#<run>` | `RESUME#<key>` (sparse GSI3 `RESUME#PENDING` until delivered) |
//! | outbox | `RUN#<run>` | `OUTBOX#<key>` (GSI1 `WS#<ws>#OUTBOX` by time) |
//! | reservation | `RUN#<run>` | `RESERVATION#<step id>` |
//! | month's spend | `WS#<ws>` | `SPEND#<yyyy-mm>` (one aggregate, `ADD`ed under a condition) |
//! | audit | `WS#<ws>#AUDIT` | `<at>#<id>` |
//! | decision history | `WS#<ws>#DECISIONS#<workflow>#<gate>` | `<at>#<step id>` |
//! | approver settings | `WS#<ws>` | `APPROVER` |
//!
//! Every write that must be atomic is one `TransactWriteItems` with
//! conditions; reads that decide a write are strongly consistent. A
//! transaction that loses a race is re-read and re-decided (optimistic
//! concurrency), so a lost condition becomes the domain answer (conflict,
//! over the cap) rather than an error.

mod item;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    KeysAndAttributes, Projection, ProjectionType, Put, ScalarAttributeType, TransactWriteItem, Update,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use greenlight_core::ids::*;
use greenlight_core::model::*;
use greenlight_core::money::Money;
use greenlight_core::ports::*;
use greenlight_core::time::Timestamp;
use greenlight_core::trail;
use item::*;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

type Res<T> = Result<T, StoreError>;

/// How many times a transaction that lost a race is re-read and retried.
const MAX_ATTEMPTS: usize = 12;

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

fn unavailable<E: std::error::Error + 'static, R: std::fmt::Debug>(e: SdkError<E, R>) -> StoreError {
    StoreError::Unavailable(DisplayErrorContext(&e).to_string())
}

fn run_pk(run: &RunId) -> String {
    format!("RUN#{run}")
}

fn history_pk(ws: &WorkspaceId, workflow: &str, gate: &str) -> String {
    format!("WS#{ws}#DECISIONS#{workflow}#{gate}")
}

fn history_item(ws: &WorkspaceId, e: &HistoryEntry) -> Res<Item> {
    let mut item = Item::new();
    item.insert("PK".into(), s(history_pk(ws, &e.workflow, &e.gate)));
    item.insert("SK".into(), s(format!("{}#{}", e.at, e.step_id)));
    item.insert("body".into(), s(serde_json::to_string(e).map_err(corrupt)?));
    Ok(item)
}

fn ws_pk(ws: &WorkspaceId) -> String {
    format!("WS#{ws}")
}

fn seq_sk(seq: u64) -> String {
    format!("EVT#{seq:010}")
}

/// Outcome of one attempt of an optimistic transaction.
enum Attempt<T> {
    Done(T),
    Retry,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> DynamoStore {
        DynamoStore {
            client,
            table: table.into(),
        }
    }

    /// From the standard AWS configuration (honours `AWS_ENDPOINT_URL` and
    /// `AWS_ENDPOINT_URL_DYNAMODB`).
    pub async fn from_env(table: impl Into<String>) -> DynamoStore {
        let config = aws_config::load_from_env().await;
        DynamoStore::new(Client::new(&config), table)
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Creates the table with its three GSIs (on-demand); for tests and the
    /// admin command. On AWS the SAM template owns the table.
    pub async fn create_table(&self) -> Res<()> {
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| StoreError::Unavailable(e.to_string()))
        };
        let key = |name: &str, ty: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(ty)
                .build()
                .map_err(|e| StoreError::Unavailable(e.to_string()))
        };
        let gsi = |n: &str| -> Res<GlobalSecondaryIndex> {
            GlobalSecondaryIndex::builder()
                .index_name(n)
                .key_schema(key(&format!("{n}PK"), KeyType::Hash)?)
                .key_schema(key(&format!("{n}SK"), KeyType::Range)?)
                .projection(Projection::builder().projection_type(ProjectionType::All).build())
                .build()
                .map_err(|e| StoreError::Unavailable(e.to_string()))
        };
        let mut req = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key("PK", KeyType::Hash)?)
            .key_schema(key("SK", KeyType::Range)?);
        for a in [
            "PK", "SK", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK", "GSI3PK", "GSI3SK",
        ] {
            req = req.attribute_definitions(attr(a)?);
        }
        for g in ["GSI1", "GSI2", "GSI3"] {
            req = req.global_secondary_indexes(gsi(g)?);
        }
        req.send().await.map_err(unavailable)?;
        Ok(())
    }

    /// Writes an item whatever is there (workspaces, members, tokens).
    async fn put_unconditionally(&self, item: Item) -> Res<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn get(&self, pk: &str, sk: &str) -> Res<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("PK", s(pk))
            .key("SK", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.item)
    }

    /// Every item of a partition whose SK starts with `prefix`, consistently.
    async fn query_prefix(&self, pk: &str, prefix: &str) -> Res<Vec<Item>> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let resp = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :pk AND begins_with(SK, :p)")
                .expression_attribute_values(":pk", s(pk))
                .expression_attribute_values(":p", s(prefix))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            out.extend(resp.items.unwrap_or_default());
            match resp.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(out),
            }
        }
    }

    /// The items of one partition with these SKs (those that exist), read
    /// consistently, 100 keys a request; keys DynamoDB leaves unprocessed
    /// are asked for again, after a growing pause.
    async fn get_many(&self, pk: &str, sks: &[String]) -> Res<Vec<Item>> {
        let mut out = Vec::new();
        for chunk in sks.chunks(100) {
            let mut keys = chunk
                .iter()
                .map(|sk| HashMap::from([("PK".to_string(), s(pk)), ("SK".to_string(), s(sk))]))
                .collect::<Vec<_>>();
            for attempt in 0u32.. {
                let ask = KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| StoreError::Unavailable(e.to_string()))?;
                let resp = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, ask)
                    .send()
                    .await
                    .map_err(unavailable)?;
                out.extend(
                    resp.responses
                        .and_then(|mut r| r.remove(&self.table))
                        .unwrap_or_default(),
                );
                keys = match resp.unprocessed_keys.and_then(|mut u| u.remove(&self.table)) {
                    Some(left) if !left.keys.is_empty() => left.keys,
                    _ => break,
                };
                if attempt >= 8 {
                    return Err(StoreError::Unavailable(format!(
                        "DynamoDB left {} keys of partition {pk} in table {} unprocessed after {} batch reads",
                        keys.len(),
                        self.table,
                        attempt + 1
                    )));
                }
                tokio::time::sleep(std::time::Duration::from_millis(25 << attempt)).await;
            }
        }
        Ok(out)
    }

    async fn transact(&self, items: Vec<TransactWriteItem>) -> Res<bool> {
        if items.len() > 100 {
            return Err(StoreError::Unavailable(format!(
                "the write needs {} items, over DynamoDB's 100 per transaction",
                items.len()
            )));
        }
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) => {
                let lost_race = e.as_service_error().is_some_and(|se| {
                    se.is_transaction_canceled_exception() || se.is_transaction_in_progress_exception()
                });
                if lost_race { Ok(false) } else { Err(unavailable(e)) }
            }
        }
    }

    /// Commits the transaction: `Done(value)`, or `Retry` when it lost a race
    /// (the caller re-reads and decides again).
    async fn commit<T>(&self, items: Vec<TransactWriteItem>, value: T) -> Res<Attempt<T>> {
        Ok(if self.transact(items).await? {
            Attempt::Done(value)
        } else {
            Attempt::Retry
        })
    }

    /// Runs `attempt` until it is done, re-reading after each lost race.
    async fn optimistic<T, F, Fut>(&self, what: &str, mut attempt: F) -> Res<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Res<Attempt<T>>>,
    {
        for n in 0..MAX_ATTEMPTS {
            match attempt().await? {
                Attempt::Done(v) => return Ok(v),
                Attempt::Retry => {
                    tokio::time::sleep(std::time::Duration::from_millis(5 * (n as u64 + 1))).await;
                }
            }
        }
        Err(StoreError::Unavailable(format!(
            "{what}: too much contention, gave up after {MAX_ATTEMPTS} attempts"
        )))
    }

    fn put(&self, item: Item, condition: Option<&str>) -> TransactWriteItem {
        let mut p = Put::builder().table_name(&self.table).set_item(Some(item));
        if let Some(c) = condition {
            p = p.condition_expression(c);
        }
        TransactWriteItem::builder()
            .put(p.build().expect("table, item set"))
            .build()
    }

    fn update(&self, pk: &str, sk: &str, u: Upd) -> TransactWriteItem {
        let mut b = Update::builder()
            .table_name(&self.table)
            .key("PK", s(pk))
            .key("SK", s(sk))
            .update_expression(u.expression())
            .set_expression_attribute_names(u.names())
            .set_expression_attribute_values(u.values());
        if let Some(c) = &u.condition {
            b = b.condition_expression(c);
        }
        TransactWriteItem::builder()
            .update(b.build().expect("key, expression set"))
            .build()
    }

    /// The run's META item: (status, next_seq, item).
    async fn run_meta(&self, run: &RunId) -> Res<Option<(RunStatus, u64, Item)>> {
        let Some(item) = self.get(&run_pk(run), "META").await? else {
            return Ok(None);
        };
        let status = RunStatus::parse(get_s(&item, "status")?).ok_or_else(|| corrupt("run status"))?;
        let seq = get_n(&item, "next_seq")? as u64;
        Ok(Some((status, seq, item)))
    }

    /// Event puts numbered from `seq`.
    fn events(
        &self,
        run: &RunId,
        seq: u64,
        at: impl Fn(&NewEvent) -> Timestamp,
        events: &[NewEvent],
    ) -> Vec<TransactWriteItem> {
        events
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let mut item = Item::new();
                item.insert("PK".into(), s(run_pk(run)));
                item.insert("SK".into(), s(seq_sk(seq + i as u64)));
                item.insert("seq".into(), n((seq + i as u64) as i64));
                item.insert("type".into(), s(e.kind.as_str()));
                item.insert("at".into(), s(at(e).to_string()));
                item.insert("data".into(), s(e.data.to_string()));
                self.put(item, Some("attribute_not_exists(PK)"))
            })
            .collect()
    }

    /// The run META update that claims `count` event numbers from `seq`,
    /// conditioned on the run still running with that sequence.
    fn claim_seq(seq: u64, count: usize) -> Upd {
        Upd::new()
            .set("next_seq", n((seq + count as u64) as i64))
            .when("#status = :running AND next_seq = :seq")
            .value(":running", s("running"))
            .value(":seq", n(seq as i64))
            .name("#status", "status")
    }
}

/// A pending approval leaves the queue as cancelled (only if still pending).
fn cancel_pending_approval() -> Upd {
    Upd::new()
        .set("status", s("cancelled"))
        .remove("GSI2PK")
        .remove("GSI2SK")
        .when("#status = :pending")
        .value(":pending", s("pending"))
        .name("#status", "status")
}

/// A step's transition as an update, conditioned on the status it was read in.
fn step_transition(u: &StepUpdate, current: &str) -> Upd {
    let mut upd = Upd::new()
        .set("status", s(u.to.as_str()))
        .when("#status = :current")
        .value(":current", s(current))
        .name("#status", "status");
    if let Some(t) = u.started_at {
        upd = upd.set("started_at", s(t.to_string()));
    }
    if let Some(t) = u.finished_at {
        upd = upd.set("finished_at", s(t.to_string()));
    }
    if let Some(r) = &u.result {
        upd = upd
            .set("output", s(r.output.to_string()))
            .set("trail", stored_trail(&r.trail))
            .set("cost", n(r.cost.micros()));
    }
    upd
}

/// The most a packed trail read from the table may expand to: an item is
/// at most 400 KB, and trails pack to about a third (a Lambda's memory must
/// not be the limit on a damaged one).
const TRAIL_MAX_BYTES: usize = 8 << 20;

/// A trail as an attribute: a string of JSON when short, else packed
/// (binary, about a third of the trail's bytes).
fn stored_trail(t: &[Value]) -> AttributeValue {
    let json = serde_json::to_string(t).unwrap_or_else(|_| Value::Array(t.to_vec()).to_string());
    match trail::pack_json(json) {
        trail::Stored::Text(json) => s(json),
        trail::Stored::Packed(bytes) => AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(bytes)),
    }
}

/// A step item's trail: JSON (as every trail was written before packing)
/// or packed.
fn trail_of(item: &Item) -> Res<Vec<Value>> {
    match item.get("trail") {
        None => Ok(Vec::new()),
        Some(AttributeValue::S(json)) => trail::from_text(json.as_bytes()).map_err(corrupt),
        Some(AttributeValue::B(bytes)) => trail::unpack(bytes.as_ref(), TRAIL_MAX_BYTES).map_err(corrupt),
        Some(_) => Err(corrupt("a step's trail is neither a string nor binary")),
    }
}

fn step_from_item(run: &RunId, item: &Item, with_trail: bool) -> Res<(i64, StepRecord)> {
    Ok((
        get_n(item, "position")?,
        StepRecord {
            run_id: run.clone(),
            key: StepKey::parse(get_s(item, "key")?).map_err(corrupt)?,
            label: get_s(item, "label")?.to_string(),
            kind: get_s(item, "kind")?.to_string(),
            status: StepStatus::parse(get_s(item, "status")?).ok_or_else(|| corrupt("step status"))?,
            after: json_of(get_s(item, "after")?)?,
            output: opt_s(item, "output").map(json_of).transpose()?,
            trail: if with_trail { trail_of(item)? } else { Vec::new() },
            cost: Money::from_micros(opt_n(item, "cost")?.unwrap_or(0)),
            started_at: opt_s(item, "started_at").map(ts).transpose()?,
            finished_at: opt_s(item, "finished_at").map(ts).transpose()?,
            decision: opt_s(item, "decision").map(json_of).transpose()?,
        },
    ))
}

fn run_from_item(item: &Item) -> Res<Run> {
    Ok(Run {
        id: RunId::parse(get_s(item, "run_id")?).map_err(corrupt)?,
        workspace_id: WorkspaceId::parse(get_s(item, "workspace_id")?).map_err(corrupt)?,
        workflow: get_s(item, "workflow")?.to_string(),
        workflow_name: get_s(item, "workflow_name")?.to_string(),
        brief: json_of(get_s(item, "brief")?)?,
        status: RunStatus::parse(get_s(item, "status")?).ok_or_else(|| corrupt("run status"))?,
        error: opt_s(item, "error").map(str::to_string),
        created_at: ts(get_s(item, "created_at")?)?,
        finished_at: opt_s(item, "finished_at").map(ts).transpose()?,
        created_by: json_of(get_s(item, "created_by")?)?,
        rerun_of: opt_s(item, "rerun_of")
            .map(RunId::parse)
            .transpose()
            .map_err(corrupt)?,
    })
}

fn approval_from_item(item: &Item) -> Res<Approval> {
    let mut a: Approval = json_of(get_s(item, "body")?)?;
    a.status = match get_s(item, "status")? {
        "pending" => ApprovalStatus::Pending,
        "decided" => ApprovalStatus::Decided,
        _ => ApprovalStatus::Cancelled,
    };
    Ok(a)
}

/// A pagination cursor: the index key of the last item served, bound to the
/// caller's workspace and the list.
fn encode_cursor(ws: &WorkspaceId, list: &str, key: &Item) -> String {
    let key: BTreeMap<String, String> = key
        .iter()
        .filter_map(|(k, v)| v.as_s().ok().map(|s| (k.clone(), s.clone())))
        .collect();
    let c = serde_json::json!({"w": ws.as_str(), "l": list, "k": key});
    URL_SAFE_NO_PAD.encode(c.to_string())
}

fn decode_cursor(ws: &WorkspaceId, list: &str, cursor: &Option<String>, keys: &[&str]) -> Res<Option<Item>> {
    let Some(raw) = cursor else { return Ok(None) };
    let bytes = URL_SAFE_NO_PAD
        .decode(raw.as_bytes())
        .map_err(|_| StoreError::BadCursor)?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| StoreError::BadCursor)?;
    if v["w"] != ws.as_str() || v["l"] != list {
        return Err(StoreError::BadCursor);
    }
    let mut key = Item::new();
    for k in keys {
        let value = v["k"][k].as_str().ok_or(StoreError::BadCursor)?;
        key.insert(k.to_string(), s(value));
    }
    Ok(Some(key))
}

/// A run from its META item and its step items, in the run's order (trails
/// decoded only if `with_trail`).
fn record_of(id: &RunId, meta: &Item, steps: &[Item], with_trail: bool) -> Res<RunRecord> {
    let run = run_from_item(meta)?;
    let mut steps: Vec<(i64, StepRecord)> = steps
        .iter()
        .map(|i| step_from_item(id, i, with_trail))
        .collect::<Res<_>>()?;
    steps.sort_by_key(|(p, _)| *p);
    Ok(RunRecord {
        run,
        steps: steps.into_iter().map(|(_, s)| s).collect(),
    })
}

impl DynamoStore {
    /// A run with its steps; their trails decoded only if `with_trail`
    /// (the items are read whole either way: a step is one item).
    async fn run_record(&self, id: &RunId, with_trail: bool) -> Res<Option<RunRecord>> {
        let Some(meta) = self.get(&run_pk(id), "META").await? else {
            return Ok(None);
        };
        let steps = self.query_prefix(&run_pk(id), "STEP#").await?;
        record_of(id, &meta, &steps, with_trail).map(Some)
    }

    /// A page of one base-table partition (all of its items), newest first.
    async fn partition_page(
        &self,
        pk: &str,
        ws: &WorkspaceId,
        list: &str,
        page: &PageRequest,
    ) -> Res<(Vec<Item>, Option<String>)> {
        self.page(None, "PK", pk, ws, list, &["PK", "SK"], page, &|_| true)
            .await
    }

    /// One page of an index partition, newest first; `keep` filters items
    /// (so a page may take several queries).
    #[allow(clippy::too_many_arguments)]
    async fn page(
        &self,
        index: Option<&str>,
        pk_attr: &str,
        pk: &str,
        ws: &WorkspaceId,
        list: &str,
        key_attrs: &[&str],
        page: &PageRequest,
        keep: &(dyn Fn(&Item) -> bool + Sync),
    ) -> Res<(Vec<Item>, Option<String>)> {
        let mut start = decode_cursor(ws, list, &page.cursor, key_attrs)?;
        let mut items: Vec<Item> = Vec::new();
        loop {
            let resp = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(index.map(str::to_string))
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", pk_attr)
                .expression_attribute_values(":pk", s(pk))
                .scan_index_forward(false)
                .limit((page.limit + 1).min(1000) as i32)
                .set_exclusive_start_key(start.clone())
                .send()
                .await;
            let resp = match resp {
                Ok(r) => r,
                // A forged start key outside the partition.
                Err(e) if page.cursor.is_some() && e.as_service_error().is_some() => {
                    tracing::warn!(error = %DisplayErrorContext(&e), "a cursor was refused");
                    return Err(StoreError::BadCursor);
                }
                Err(e) => return Err(unavailable(e)),
            };
            items.extend(resp.items.unwrap_or_default().into_iter().filter(|i| keep(i)));
            if items.len() > page.limit {
                items.truncate(page.limit);
                let last = items.last().map(|i| {
                    key_attrs
                        .iter()
                        .filter_map(|k| i.get(*k).map(|v| (k.to_string(), v.clone())))
                        .collect::<Item>()
                });
                return Ok((items, last.map(|k| encode_cursor(ws, list, &k))));
            }
            match resp.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok((items, None)),
            }
        }
    }

    /// Release updates for the run's reserved spend: one per month aggregate
    /// (a transaction may touch an item once), one per reservation.
    fn releases(&self, ws: &WorkspaceId, reservations: &[Item]) -> Res<Vec<TransactWriteItem>> {
        let mut per_month: BTreeMap<String, i64> = BTreeMap::new();
        let mut items = Vec::new();
        for r in reservations {
            let month = get_s(r, "month")?.to_string();
            *per_month.entry(month).or_default() += get_n(r, "amount")?;
            items.push(
                self.update(
                    get_s(r, "PK")?,
                    get_s(r, "SK")?,
                    Upd::new()
                        .set("state", s("released"))
                        .when("#st = :reserved")
                        .value(":reserved", s("reserved"))
                        .name("#st", "state"),
                ),
            );
        }
        for (month, amount) in per_month {
            items.push(self.update(
                &ws_pk(ws),
                &format!("SPEND#{month}"),
                Upd::new().add("total", n(-amount)),
            ));
        }
        Ok(items)
    }

    async fn reserved_of(&self, run: &RunId) -> Res<Vec<Item>> {
        Ok(self
            .query_prefix(&run_pk(run), "RESERVATION#")
            .await?
            .into_iter()
            .filter(|r| opt_s(r, "state") == Some("reserved"))
            .collect())
    }
}

#[async_trait]
impl Store for DynamoStore {
    async fn put_workspace(&self, ws: &Workspace) -> Res<()> {
        // Every write gets a revision at random rather than the next count:
        // an earlier version's PutItem drops the attribute, and a count
        // started again would come back to a revision some function still
        // has the old data cached under.
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes)
            .map_err(|e| StoreError::Unavailable(format!("no randomness for a workspace revision: {e}")))?;
        let revision = (u64::from_le_bytes(bytes) >> 2) as i64;
        self.client
            .update_item()
            .table_name(&self.table)
            .key("PK", s(ws_pk(&ws.id)))
            .key("SK", s("META"))
            .update_expression("SET #name = :name, spend_cap = :cap, #data = :data, revision = :revision")
            .expression_attribute_names("#name", "name")
            .expression_attribute_names("#data", "data")
            .expression_attribute_values(":name", s(&ws.name))
            .expression_attribute_values(":cap", n(ws.spend_cap.micros()))
            .expression_attribute_values(":data", s(ws.data.to_string()))
            .expression_attribute_values(":revision", n(revision))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn workspace_revision(&self, id: &WorkspaceId) -> Res<Option<u64>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("PK", s(ws_pk(id)))
            .key("SK", s("META"))
            // With the key too, an existing item is never answered as none.
            .projection_expression("PK, revision")
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        // An item without a revision was last written by a version that did
        // not count them (before revisions, or an old function's PutItem
        // during a rolling deploy): its writes cannot be told apart, so no
        // revision is given and the workspace is read in full each time,
        // until this version writes it again.
        match out.item {
            Some(item) if item.contains_key("revision") => Ok(Some(get_n(&item, "revision")? as u64)),
            _ => Ok(None),
        }
    }

    async fn get_workspace(&self, id: &WorkspaceId) -> Res<Option<Workspace>> {
        let Some(item) = self.get(&ws_pk(id), "META").await? else {
            return Ok(None);
        };
        Ok(Some(Workspace {
            id: id.clone(),
            name: get_s(&item, "name")?.to_string(),
            spend_cap: Money::from_micros(get_n(&item, "spend_cap")?),
            data: json_of(get_s(&item, "data")?)?,
        }))
    }

    async fn put_member(&self, m: &Member) -> Res<()> {
        let mut item = Item::new();
        item.insert("PK".into(), s(ws_pk(&m.workspace_id)));
        item.insert("SK".into(), s(format!("MEMBER#{}", m.id)));
        item.insert("name".into(), s(&m.name));
        item.insert(
            "roles".into(),
            s(serde_json::to_string(&m.roles).map_err(corrupt)?),
        );
        self.put_unconditionally(item).await
    }

    async fn get_member(&self, ws: &WorkspaceId, id: &MemberId) -> Res<Option<Member>> {
        let Some(m) = self.get(&ws_pk(ws), &format!("MEMBER#{id}")).await? else {
            return Ok(None);
        };
        Ok(Some(Member {
            workspace_id: ws.clone(),
            id: id.clone(),
            name: get_s(&m, "name")?.to_string(),
            roles: json_of(get_s(&m, "roles")?)?,
        }))
    }

    async fn put_token(&self, token_hash: &str, m: &Member, dev_only: bool) -> Res<()> {
        let mut item = Item::new();
        item.insert("PK".into(), s(format!("TOKEN#{token_hash}")));
        item.insert("SK".into(), s("TOKEN"));
        item.insert("workspace_id".into(), s(m.workspace_id.as_str()));
        item.insert("member_id".into(), s(m.id.as_str()));
        item.insert("dev_only".into(), AttributeValue::Bool(dev_only));
        self.put_unconditionally(item).await
    }

    async fn delete_token(&self, token_hash: &str) -> Res<bool> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("PK", s(format!("TOKEN#{token_hash}")))
            .key("SK", s("TOKEN"))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }

    async fn member_by_token(&self, token_hash: &str) -> Res<Option<(Member, bool)>> {
        let Some(t) = self.get(&format!("TOKEN#{token_hash}"), "TOKEN").await? else {
            return Ok(None);
        };
        let ws = WorkspaceId::parse(get_s(&t, "workspace_id")?).map_err(corrupt)?;
        let id = MemberId::parse(get_s(&t, "member_id")?).map_err(corrupt)?;
        let dev = matches!(t.get("dev_only"), Some(AttributeValue::Bool(true)));
        let Some(m) = self.get(&ws_pk(&ws), &format!("MEMBER#{id}")).await? else {
            return Ok(None);
        };
        Ok(Some((
            Member {
                workspace_id: ws,
                id,
                name: get_s(&m, "name")?.to_string(),
                roles: json_of(get_s(&m, "roles")?)?,
            },
            dev,
        )))
    }

    async fn create_run(&self, new: &NewRun) -> Res<()> {
        let r = &new.run;
        let pk = run_pk(&r.id);
        let created = r.created_at.to_string();
        let mut meta = Item::new();
        meta.insert("PK".into(), s(&pk));
        meta.insert("SK".into(), s("META"));
        meta.insert("run_id".into(), s(r.id.as_str()));
        meta.insert("workspace_id".into(), s(r.workspace_id.as_str()));
        meta.insert("workflow".into(), s(&r.workflow));
        meta.insert("workflow_name".into(), s(&r.workflow_name));
        meta.insert("brief".into(), s(r.brief.to_string()));
        meta.insert("status".into(), s(r.status.as_str()));
        meta.insert("created_at".into(), s(&created));
        meta.insert(
            "created_by".into(),
            s(serde_json::to_string(&r.created_by).map_err(corrupt)?),
        );
        if let Some(x) = &r.rerun_of {
            meta.insert("rerun_of".into(), s(x.as_str()));
        }
        meta.insert("next_seq".into(), n(2));
        meta.insert("GSI1PK".into(), s(format!("WS#{}#RUNS", r.workspace_id)));
        meta.insert("GSI1SK".into(), s(format!("{created}#{}", r.id)));
        meta.insert("GSI3PK".into(), s("RUNNING"));
        meta.insert("GSI3SK".into(), s(format!("{created}#{}", r.id)));
        let mut items = vec![self.put(meta, Some("attribute_not_exists(PK)"))];
        for (i, st) in new.steps.iter().enumerate() {
            let mut item = Item::new();
            item.insert("PK".into(), s(&pk));
            item.insert("SK".into(), s(format!("STEP#{}", st.key)));
            item.insert("key".into(), s(st.key.as_str()));
            item.insert("position".into(), n(i as i64));
            item.insert("label".into(), s(&st.label));
            item.insert("kind".into(), s(&st.kind));
            item.insert("status".into(), s(st.status.as_str()));
            item.insert(
                "after".into(),
                s(serde_json::to_string(&st.after).map_err(corrupt)?),
            );
            items.push(self.put(item, None));
        }
        items.extend(self.events(&r.id, 1, |_| r.created_at, std::slice::from_ref(&new.started)));
        if self.transact(items).await? {
            Ok(())
        } else {
            Err(StoreError::AlreadyExists(format!("run {}", r.id)))
        }
    }

    async fn get_run(&self, id: &RunId) -> Res<Option<RunRecord>> {
        self.run_record(id, true).await
    }

    async fn get_run_without_trails(&self, id: &RunId) -> Res<Option<RunRecord>> {
        self.run_record(id, false).await
    }

    /// The run's META item and only the step items asked for, in one
    /// batch read (fewer items than the whole run's).
    async fn get_run_with_steps(&self, id: &RunId, keys: &[StepKey]) -> Res<Option<RunRecord>> {
        let mut sks: Vec<String> = keys.iter().map(|k| format!("STEP#{k}")).collect();
        sks.sort();
        sks.dedup();
        sks.push("META".into());
        let (meta, steps): (Vec<Item>, Vec<Item>) = self
            .get_many(&run_pk(id), &sks)
            .await?
            .into_iter()
            .partition(|i| opt_s(i, "SK") == Some("META"));
        match meta.first() {
            Some(meta) => record_of(id, meta, &steps, false).map(Some),
            None => Ok(None),
        }
    }

    async fn list_runs(
        &self,
        ws: &WorkspaceId,
        status: Option<RunStatus>,
        page: &PageRequest,
    ) -> Res<Page<RunRecord>> {
        let want = status.map(|s| s.as_str());
        let keep = move |i: &Item| want.is_none_or(|w| opt_s(i, "status") == Some(w));
        let (items, next_cursor) = self
            .page(
                Some("GSI1"),
                "GSI1PK",
                &format!("WS#{ws}#RUNS"),
                ws,
                "runs",
                &["GSI1PK", "GSI1SK", "PK", "SK"],
                page,
                &keep,
            )
            .await?;
        let mut runs = Vec::new();
        for i in &items {
            let id = RunId::parse(get_s(i, "run_id")?).map_err(corrupt)?;
            if let Some(r) = self.get_run(&id).await? {
                runs.push(r);
            }
        }
        Ok(Page {
            items: runs,
            next_cursor,
        })
    }

    async fn update_step(&self, u: &StepUpdate) -> Res<bool> {
        self.optimistic("update step", || async {
            let Some((status, seq, _)) = self.run_meta(&u.run_id).await? else {
                return Ok(Attempt::Done(false));
            };
            if status != RunStatus::Running {
                return Ok(Attempt::Done(false));
            }
            let pk = run_pk(&u.run_id);
            let sk = format!("STEP#{}", u.key);
            let Some(step) = self.get(&pk, &sk).await? else {
                return Ok(Attempt::Done(false));
            };
            let current = get_s(&step, "status")?.to_string();
            if !u.from.iter().any(|f| f.as_str() == current) {
                return Ok(Attempt::Done(false));
            }
            let upd = step_transition(u, &current);
            let at = |e: &NewEvent| u.event_at(e).unwrap_or_else(now);
            let mut items = vec![self.update(&pk, &sk, upd)];
            if !u.events.is_empty() {
                items.push(self.update(&pk, "META", Self::claim_seq(seq, u.events.len())));
                items.extend(self.events(&u.run_id, seq, at, &u.events));
            }
            self.commit(items, true).await
        })
        .await
    }

    async fn open_gate(&self, open: &OpenGate) -> Res<GateOpened> {
        let a = &open.approval;
        let pk = run_pk(&a.run_id);
        let ask = format!("APPROVAL#{}", a.step_key);
        self.optimistic("open gate", || async {
            if let Some(existing) = self.get(&pk, &ask).await? {
                let status = get_s(&existing, "status")?.to_string();
                let set_token = Upd::new()
                    .set("task_token", s(&open.task_token))
                    .when("#status = :st")
                    .value(":st", s(&status))
                    .name("#status", "status");
                return match status.as_str() {
                    "pending" => {
                        self.commit(vec![self.update(&pk, &ask, set_token)], GateOpened::StillWaiting)
                            .await
                    }
                    "decided" => {
                        let rearm = Upd::new()
                            .set("task_token", s(&open.task_token))
                            .set("done", n(0))
                            .set("attempts", n(0))
                            .set("GSI3PK", s("RESUME#PENDING"))
                            .set("GSI3SK", s(a.step_id.to_string()))
                            .when("attribute_exists(PK)");
                        let items = vec![
                            self.update(&pk, &ask, set_token),
                            self.update(&pk, &format!("RESUME#{}", a.step_key), rearm),
                        ];
                        self.commit(items, GateOpened::AlreadyDecided).await
                    }
                    _ => Ok(Attempt::Done(GateOpened::Closed)),
                };
            }
            let Some((status, seq, _)) = self.run_meta(&a.run_id).await? else {
                return Ok(Attempt::Done(GateOpened::Closed));
            };
            if status != RunStatus::Running {
                return Ok(Attempt::Done(GateOpened::Closed));
            }
            let ssk = format!("STEP#{}", a.step_key);
            let Some(step) = self.get(&pk, &ssk).await? else {
                return Ok(Attempt::Done(GateOpened::Closed));
            };
            let current = get_s(&step, "status")?.to_string();
            if current != "pending" && current != "running" {
                return Ok(Attempt::Done(GateOpened::Closed));
            }
            let created = a.created_at.to_string();
            let mut item = Item::new();
            item.insert("PK".into(), s(&pk));
            item.insert("SK".into(), s(&ask));
            item.insert("status".into(), s("pending"));
            item.insert("workspace_id".into(), s(a.workspace_id.as_str()));
            item.insert("workflow".into(), s(&a.workflow));
            item.insert("step_key".into(), s(a.step_key.as_str()));
            item.insert("created_at".into(), s(&created));
            item.insert("task_token".into(), s(&open.task_token));
            item.insert("body".into(), s(serde_json::to_string(a).map_err(corrupt)?));
            item.insert("GSI2PK".into(), s(format!("WS#{}#PENDING", a.workspace_id)));
            item.insert("GSI2SK".into(), s(format!("{created}#{}", a.step_id)));
            let started = match opt_s(&step, "started_at") {
                Some(t) => t.to_string(),
                None => created.clone(),
            };
            let mut items = vec![
                self.put(item, Some("attribute_not_exists(PK)")),
                self.update(
                    &pk,
                    &ssk,
                    Upd::new()
                        .set("status", s("waiting_for_approval"))
                        .set("started_at", s(started))
                        .add("cost", n(open.cost.micros()))
                        .when("#status = :current")
                        .value(":current", s(&current))
                        .name("#status", "status"),
                ),
            ];
            items.push(self.update(&pk, "META", Self::claim_seq(seq, open.events.len())));
            items.extend(self.events(&a.run_id, seq, |_| a.created_at, &open.events));
            self.commit(items, GateOpened::Waiting).await
        })
        .await
    }

    async fn get_approval(&self, step_id: &StepId) -> Res<Option<Approval>> {
        let item = self
            .get(
                &run_pk(step_id.run_id()),
                &format!("APPROVAL#{}", step_id.step_key()),
            )
            .await?;
        item.as_ref().map(approval_from_item).transpose()
    }

    async fn list_pending(
        &self,
        ws: &WorkspaceId,
        filter: &QueueFilter,
        page: &PageRequest,
    ) -> Res<Page<Approval>> {
        let (wf, gate) = (filter.workflow.clone(), filter.step_key.clone());
        let keep = move |i: &Item| {
            wf.as_deref().is_none_or(|w| opt_s(i, "workflow") == Some(w))
                && gate.as_deref().is_none_or(|g| opt_s(i, "step_key") == Some(g))
        };
        let (items, next_cursor) = self
            .page(
                Some("GSI2"),
                "GSI2PK",
                &format!("WS#{ws}#PENDING"),
                ws,
                "approvals",
                &["GSI2PK", "GSI2SK", "PK", "SK"],
                page,
                &keep,
            )
            .await?;
        Ok(Page {
            items: items.iter().map(approval_from_item).collect::<Res<_>>()?,
            next_cursor,
        })
    }

    async fn apply_decision(&self, w: &DecisionWrite) -> Res<DecisionApplied> {
        let run = w.step_id.run_id();
        let key = w.step_id.step_key();
        let pk = run_pk(run);
        self.optimistic("decide", || async {
            let Some((status, seq, _)) = self.run_meta(run).await? else {
                return Ok(Attempt::Done(DecisionApplied::Conflict));
            };
            let step = self.get(&pk, &format!("STEP#{key}")).await?;
            let approval = self.get(&pk, &format!("APPROVAL#{key}")).await?;
            let (Some(_step), Some(approval)) = (
                step.filter(|s| opt_s(s, "status") == Some("waiting_for_approval")),
                approval,
            ) else {
                return Ok(Attempt::Done(DecisionApplied::Conflict));
            };
            if status != RunStatus::Running || get_s(&approval, "status")? != "pending" {
                return Ok(Attempt::Done(DecisionApplied::Conflict));
            }
            let token = get_s(&approval, "task_token")?.to_string();
            let at = w.decision.at;
            let at_s = at.to_string();
            let mut items = Vec::new();
            // The spend aggregate, under the cap.
            if let Some(r) = &w.reserve {
                let spent = match self
                    .get(&ws_pk(&w.workspace_id), &format!("SPEND#{}", r.month))
                    .await?
                {
                    Some(i) => opt_n(&i, "total")?.unwrap_or(0),
                    None => 0,
                };
                if spent + r.amount.micros() > r.cap.micros() {
                    let remaining = Money::from_micros((r.cap.micros() - spent).max(0));
                    return Ok(Attempt::Done(DecisionApplied::OverCap { remaining }));
                }
                items.push(
                    self.update(
                        &ws_pk(&w.workspace_id),
                        &format!("SPEND#{}", r.month),
                        Upd::new()
                            .add("total", n(r.amount.micros()))
                            .when("attribute_not_exists(#total) OR #total <= :room")
                            .value(":room", n(r.cap.micros() - r.amount.micros()))
                            .name("#total", "total"),
                    ),
                );
                let mut res = Item::new();
                res.insert("PK".into(), s(&pk));
                res.insert("SK".into(), s(format!("RESERVATION#{}", w.step_id)));
                res.insert("workspace_id".into(), s(w.workspace_id.as_str()));
                res.insert("month".into(), s(&r.month));
                res.insert("amount".into(), n(r.amount.micros()));
                res.insert("state".into(), s("reserved"));
                items.push(self.put(res, Some("attribute_not_exists(PK)")));
            }
            items.push(
                self.update(
                    &pk,
                    &format!("STEP#{key}"),
                    Upd::new()
                        .set("status", s(w.step_status.as_str()))
                        .set("output", s(w.step_output.to_string()))
                        .set(
                            "decision",
                            s(serde_json::to_string(&w.decision).map_err(corrupt)?),
                        )
                        .set("finished_at", s(&at_s))
                        .when("#status = :waiting")
                        .value(":waiting", s("waiting_for_approval"))
                        .name("#status", "status"),
                ),
            );
            items.push(
                self.update(
                    &pk,
                    &format!("APPROVAL#{key}"),
                    Upd::new()
                        .set("status", s("decided"))
                        .remove("GSI2PK")
                        .remove("GSI2SK")
                        .when("#status = :pending AND task_token = :tok")
                        .value(":pending", s("pending"))
                        .value(":tok", s(&token))
                        .name("#status", "status"),
                ),
            );
            let au = &w.audit;
            let mut audit = Item::new();
            audit.insert("PK".into(), s(format!("WS#{}#AUDIT", au.workspace_id)));
            audit.insert("SK".into(), s(format!("{}#{}", au.at, au.id)));
            audit.insert("id".into(), s(&au.id));
            audit.insert("at".into(), s(au.at.to_string()));
            audit.insert(
                "actor".into(),
                s(serde_json::to_string(&au.actor).map_err(corrupt)?),
            );
            audit.insert("action".into(), s(&au.action));
            audit.insert("run_id".into(), s(au.run_id.as_str()));
            audit.insert("step_id".into(), s(au.step_id.to_string()));
            if let Some(t) = &au.text {
                audit.insert("text".into(), s(t));
            }
            items.push(self.put(audit, Some("attribute_not_exists(PK)")));
            items.push(self.put(history_item(&w.workspace_id, &w.history)?, None));
            let mut resume = Item::new();
            resume.insert("PK".into(), s(&pk));
            resume.insert("SK".into(), s(format!("RESUME#{key}")));
            resume.insert("step_id".into(), s(w.step_id.to_string()));
            resume.insert("task_token".into(), s(&token));
            resume.insert(
                "action".into(),
                s(serde_json::to_string(&w.resume).map_err(corrupt)?),
            );
            resume.insert("done".into(), n(0));
            resume.insert("attempts".into(), n(0));
            resume.insert("GSI3PK".into(), s("RESUME#PENDING"));
            resume.insert("GSI3SK".into(), s(w.step_id.to_string()));
            items.push(self.put(resume, None));

            let mut events = w.events.clone();
            let mut cancelled = Vec::new();
            let mut run_update = Self::claim_seq(seq, 0);
            if let Some(fail) = &w.fail_run {
                run_update = run_update
                    .set("status", s("failed"))
                    .set("error", s(&fail.error))
                    .set("finished_at", s(&at_s))
                    .remove("GSI3PK")
                    .remove("GSI3SK");
                for sib in self.query_prefix(&pk, "APPROVAL#").await? {
                    let sib_key = get_s(&sib, "step_key")?.to_string();
                    if sib_key == key.as_str() || opt_s(&sib, "status") != Some("pending") {
                        continue;
                    }
                    items.push(self.update(&pk, &format!("APPROVAL#{sib_key}"), cancel_pending_approval()));
                    items.push(
                        self.update(
                            &pk,
                            &format!("STEP#{sib_key}"),
                            Upd::new()
                                .set("status", s("cancelled"))
                                .set("finished_at", s(&at_s)),
                        ),
                    );
                    let sid = StepId::new(run, &StepKey::parse(&sib_key).map_err(corrupt)?);
                    events.push(NewEvent {
                        kind: EventType::ApprovalCancelled,
                        data: serde_json::json!({"step_id": sid, "step_key": sib_key, "reason": fail.error}),
                    });
                    cancelled.push(sid);
                }
                events.push(fail.event.clone());
                items.extend(self.releases(&w.workspace_id, &self.reserved_of(run).await?)?);
            }
            run_update = run_update.set("next_seq", n((seq + events.len() as u64) as i64));
            items.push(self.update(&pk, "META", run_update));
            items.extend(self.events(run, seq, |_| at, &events));
            self.commit(items, DecisionApplied::Applied { cancelled }).await
        })
        .await
    }

    async fn month_spend(&self, ws: &WorkspaceId, month: &str) -> Res<Money> {
        let total = match self.get(&ws_pk(ws), &format!("SPEND#{month}")).await? {
            Some(i) => opt_n(&i, "total")?.unwrap_or(0),
            None => 0,
        };
        Ok(Money::from_micros(total))
    }

    async fn pending_resumes(&self, limit: usize) -> Res<Vec<PendingResume>> {
        let resp = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("GSI3")
            .key_condition_expression("GSI3PK = :p")
            .expression_attribute_values(":p", s("RESUME#PENDING"))
            .limit(limit.clamp(1, 1000) as i32)
            .send()
            .await
            .map_err(unavailable)?;
        let mut out = Vec::new();
        for i in resp.items.unwrap_or_default() {
            // The index lags the table: confirm on the base table.
            let (Some(pk), Some(sk)) = (opt_s(&i, "PK"), opt_s(&i, "SK")) else {
                continue;
            };
            let Some(item) = self.get(pk, sk).await? else {
                continue;
            };
            if opt_n(&item, "done")? != Some(0) {
                continue;
            }
            out.push(PendingResume {
                step_id: StepId::parse(get_s(&item, "step_id")?).map_err(corrupt)?,
                task_token: get_s(&item, "task_token")?.to_string(),
                action: json_of(get_s(&item, "action")?)?,
                attempts: opt_n(&item, "attempts")?.unwrap_or(0) as u32,
            });
        }
        Ok(out)
    }

    async fn resume_done(&self, step_id: &StepId) -> Res<()> {
        let upd = Upd::new()
            .set("done", n(1))
            .remove("GSI3PK")
            .remove("GSI3SK")
            .when("attribute_exists(PK)");
        let items = vec![self.update(
            &run_pk(step_id.run_id()),
            &format!("RESUME#{}", step_id.step_key()),
            upd,
        )];
        self.transact(items).await?;
        Ok(())
    }

    async fn resume_failed_attempt(&self, step_id: &StepId) -> Res<()> {
        let upd = Upd::new().add("attempts", n(1)).when("attribute_exists(PK)");
        let items = vec![self.update(
            &run_pk(step_id.run_id()),
            &format!("RESUME#{}", step_id.step_key()),
            upd,
        )];
        self.transact(items).await?;
        Ok(())
    }

    async fn complete_action(&self, item: &OutboxItem, u: &StepUpdate, gate: &StepId) -> Res<bool> {
        let pk = run_pk(&u.run_id);
        self.optimistic("complete action", || async {
            let Some((status, seq, _)) = self.run_meta(&u.run_id).await? else {
                return Ok(Attempt::Done(false));
            };
            if status != RunStatus::Running || self.get(&pk, &format!("OUTBOX#{}", u.key)).await?.is_some() {
                return Ok(Attempt::Done(false));
            }
            let ssk = format!("STEP#{}", u.key);
            let Some(step) = self.get(&pk, &ssk).await? else {
                return Ok(Attempt::Done(false));
            };
            let current = get_s(&step, "status")?.to_string();
            if !u.from.iter().any(|f| f.as_str() == current) {
                return Ok(Attempt::Done(false));
            }
            let mut out = Item::new();
            out.insert("PK".into(), s(&pk));
            out.insert("SK".into(), s(format!("OUTBOX#{}", u.key)));
            out.insert("step_id".into(), s(item.step_id.to_string()));
            out.insert("workspace_id".into(), s(item.workspace_id.as_str()));
            out.insert("run_id".into(), s(item.run_id.as_str()));
            out.insert("step_key".into(), s(item.step_key.as_str()));
            out.insert("action".into(), s(&item.action));
            out.insert("payload".into(), s(item.payload.to_string()));
            out.insert("sent_at".into(), s(item.sent_at.to_string()));
            out.insert("GSI1PK".into(), s(format!("WS#{}#OUTBOX", item.workspace_id)));
            out.insert("GSI1SK".into(), s(format!("{}#{}", item.sent_at, item.step_id)));
            let upd = step_transition(u, &current);
            let mut items = vec![
                self.put(out, Some("attribute_not_exists(PK)")),
                self.update(&pk, &ssk, upd),
            ];
            let rsk = format!("RESERVATION#{gate}");
            if self
                .get(&pk, &rsk)
                .await?
                .is_some_and(|r| opt_s(&r, "state") == Some("reserved"))
            {
                items.push(
                    self.update(
                        &pk,
                        &rsk,
                        Upd::new()
                            .set("state", s("consumed"))
                            .when("#st = :r")
                            .value(":r", s("reserved"))
                            .name("#st", "state"),
                    ),
                );
            }
            let at = |e: &NewEvent| u.event_at(e).unwrap_or_else(now);
            items.push(self.update(&pk, "META", Self::claim_seq(seq, u.events.len())));
            items.extend(self.events(&u.run_id, seq, at, &u.events));
            self.commit(items, true).await
        })
        .await
    }

    async fn finish_run(&self, f: &FinishRun) -> Res<bool> {
        let pk = run_pk(&f.run_id);
        self.optimistic("finish run", || async {
            let Some((status, seq, meta)) = self.run_meta(&f.run_id).await? else {
                return Ok(Attempt::Done(false));
            };
            let ws = WorkspaceId::parse(get_s(&meta, "workspace_id")?).map_err(corrupt)?;
            let changed = status == RunStatus::Running;
            let final_status = if changed { f.status } else { status };
            let at = f.at.to_string();
            let mut items = Vec::new();
            let mut events = Vec::new();
            let never_ran = if final_status == RunStatus::Succeeded {
                "skipped"
            } else {
                "cancelled"
            };
            for step in self.query_prefix(&pk, "STEP#").await? {
                let current = get_s(&step, "status")?.to_string();
                let to = match current.as_str() {
                    "pending" => never_ran,
                    "running" | "waiting_for_approval" => "cancelled",
                    _ => continue,
                };
                items.push(
                    self.update(
                        &pk,
                        get_s(&step, "SK")?,
                        Upd::new()
                            .set("status", s(to))
                            .set("finished_at", s(&at))
                            .when("#status = :current")
                            .value(":current", s(&current))
                            .name("#status", "status"),
                    ),
                );
            }
            for a in self.query_prefix(&pk, "APPROVAL#").await? {
                if opt_s(&a, "status") != Some("pending") {
                    continue;
                }
                let k = get_s(&a, "step_key")?.to_string();
                items.push(self.update(&pk, get_s(&a, "SK")?, cancel_pending_approval()));
                let sid = StepId::new(&f.run_id, &StepKey::parse(&k).map_err(corrupt)?);
                events.push(NewEvent {
                    kind: EventType::ApprovalCancelled,
                    data: serde_json::json!({"step_id": sid, "step_key": k, "reason": "the run ended"}),
                });
            }
            if changed {
                events.push(f.event.clone());
            }
            if final_status == RunStatus::Failed {
                items.extend(self.releases(&ws, &self.reserved_of(&f.run_id).await?)?);
            }
            let mut run_update = Upd::new()
                .set("next_seq", n((seq + events.len() as u64) as i64))
                .when("#status = :st AND next_seq = :seq")
                .value(":st", s(status.as_str()))
                .value(":seq", n(seq as i64))
                .name("#status", "status");
            if changed {
                run_update = run_update
                    .set("status", s(f.status.as_str()))
                    .set("finished_at", s(&at))
                    .remove("GSI3PK")
                    .remove("GSI3SK");
                if let Some(e) = &f.error {
                    run_update = run_update.set("error", s(e));
                }
            }
            if items.is_empty() && events.is_empty() {
                return Ok(Attempt::Done(false));
            }
            items.push(self.update(&pk, "META", run_update));
            items.extend(self.events(&f.run_id, seq, |_| f.at, &events));
            self.commit(items, changed).await
        })
        .await
    }

    async fn events_after(&self, run: &RunId, after: u64, limit: usize) -> Res<Vec<Event>> {
        let resp = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND SK BETWEEN :from AND :to")
            .expression_attribute_values(":pk", s(run_pk(run)))
            .expression_attribute_values(":from", s(seq_sk(after.saturating_add(1))))
            .expression_attribute_values(":to", s(seq_sk(9_999_999_999)))
            .limit(limit.clamp(1, 1000) as i32)
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        resp.items
            .unwrap_or_default()
            .iter()
            .map(|i| {
                Ok(Event {
                    run_id: run.clone(),
                    seq: get_n(i, "seq")? as u64,
                    kind: EventType::parse(get_s(i, "type")?).ok_or_else(|| corrupt("event type"))?,
                    at: ts(get_s(i, "at")?)?,
                    data: json_of(get_s(i, "data")?)?,
                })
            })
            .collect()
    }

    async fn list_audit(&self, ws: &WorkspaceId, page: &PageRequest) -> Res<Page<AuditEntry>> {
        let (items, next_cursor) = self
            .partition_page(&format!("WS#{ws}#AUDIT"), ws, "audit", page)
            .await?;
        let entries = items
            .iter()
            .map(|i| {
                Ok(AuditEntry {
                    id: get_s(i, "id")?.to_string(),
                    workspace_id: ws.clone(),
                    at: ts(get_s(i, "at")?)?,
                    actor: json_of(get_s(i, "actor")?)?,
                    action: get_s(i, "action")?.to_string(),
                    run_id: RunId::parse(get_s(i, "run_id")?).map_err(corrupt)?,
                    step_id: StepId::parse(get_s(i, "step_id")?).map_err(corrupt)?,
                    text: opt_s(i, "text").map(str::to_string),
                })
            })
            .collect::<Res<_>>()?;
        Ok(Page {
            items: entries,
            next_cursor,
        })
    }

    async fn list_outbox(&self, ws: &WorkspaceId, page: &PageRequest) -> Res<Page<OutboxItem>> {
        let (items, next_cursor) = self
            .page(
                Some("GSI1"),
                "GSI1PK",
                &format!("WS#{ws}#OUTBOX"),
                ws,
                "outbox",
                &["GSI1PK", "GSI1SK", "PK", "SK"],
                page,
                &|_| true,
            )
            .await?;
        let out = items
            .iter()
            .map(|i| {
                Ok(OutboxItem {
                    step_id: StepId::parse(get_s(i, "step_id")?).map_err(corrupt)?,
                    workspace_id: ws.clone(),
                    run_id: RunId::parse(get_s(i, "run_id")?).map_err(corrupt)?,
                    step_key: StepKey::parse(get_s(i, "step_key")?).map_err(corrupt)?,
                    action: get_s(i, "action")?.to_string(),
                    payload: json_of(get_s(i, "payload")?)?,
                    sent_at: ts(get_s(i, "sent_at")?)?,
                })
            })
            .collect::<Res<_>>()?;
        Ok(Page {
            items: out,
            next_cursor,
        })
    }

    async fn running_runs(&self) -> Res<Vec<RunId>> {
        let mut out = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let resp = self
                .client
                .query()
                .table_name(&self.table)
                .index_name("GSI3")
                .key_condition_expression("GSI3PK = :p")
                .expression_attribute_values(":p", s("RUNNING"))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            for i in resp.items.unwrap_or_default() {
                out.push(RunId::parse(get_s(&i, "run_id")?).map_err(corrupt)?);
            }
            match resp.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(out),
            }
        }
    }

    async fn add_history(&self, ws: &WorkspaceId, entries: &[HistoryEntry]) -> Res<()> {
        for e in entries {
            let put = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(history_item(ws, e)?))
                .condition_expression("attribute_not_exists(PK)")
                .send()
                .await;
            match put {
                Ok(_) => {}
                Err(err)
                    if err
                        .as_service_error()
                        .is_some_and(|se| se.is_conditional_check_failed_exception()) => {}
                Err(err) => return Err(unavailable(err)),
            }
        }
        Ok(())
    }

    async fn list_history(
        &self,
        ws: &WorkspaceId,
        workflow: &str,
        gate: &str,
        page: &PageRequest,
    ) -> Res<Page<HistoryEntry>> {
        let (items, next_cursor) = self
            .partition_page(
                &history_pk(ws, workflow, gate),
                ws,
                &format!("history:{workflow}:{gate}"),
                page,
            )
            .await?;
        let entries = items
            .iter()
            .map(|i| json_of(get_s(i, "body")?))
            .collect::<Res<_>>()?;
        Ok(Page {
            items: entries,
            next_cursor,
        })
    }

    async fn put_approver_settings(&self, ws: &WorkspaceId, settings: &ApproverSettings) -> Res<()> {
        let mut item = Item::new();
        item.insert("PK".into(), s(ws_pk(ws)));
        item.insert("SK".into(), s("APPROVER"));
        item.insert(
            "body".into(),
            s(serde_json::to_string(settings).map_err(corrupt)?),
        );
        self.put_unconditionally(item).await
    }

    async fn approver_settings(&self, ws: &WorkspaceId) -> Res<ApproverSettings> {
        match self.get(&ws_pk(ws), "APPROVER").await? {
            Some(i) => json_of(get_s(&i, "body")?),
            None => Ok(ApproverSettings::default()),
        }
    }

    async fn keep_response(&self, r: &KeptResponse, now: Timestamp) -> Res<KeptResponse> {
        let sk = kept_sk(&r.member_id, &r.key);
        let mut item = Item::new();
        item.insert("PK".into(), s(ws_pk(&r.workspace_id)));
        item.insert("SK".into(), s(&sk));
        item.insert("fingerprint".into(), s(&r.fingerprint));
        item.insert("status".into(), n(i64::from(r.status)));
        item.insert("body".into(), s(&r.body));
        if let Some(l) = &r.location {
            item.insert("location".into(), s(l));
        }
        item.insert("created_at".into(), s(r.created_at.to_string()));
        item.insert("expires_at".into(), s(r.expires_at.to_string()));
        // DynamoDB's TTL deletes it some time after it expires.
        item.insert("ttl".into(), n(r.expires_at.datetime().timestamp()));
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK) OR expires_at <= :now")
            .expression_attribute_values(":now", s(now.to_string()))
            .send()
            .await;
        match put {
            Ok(_) => Ok(r.clone()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                self.kept_response(&r.workspace_id, &r.member_id, &r.key, now)
                    .await?
                    .ok_or_else(|| StoreError::Unavailable("a kept response vanished; retry".into()))
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn kept_response(
        &self,
        ws: &WorkspaceId,
        member: &MemberId,
        key: &str,
        now: Timestamp,
    ) -> Res<Option<KeptResponse>> {
        let Some(i) = self.get(&ws_pk(ws), &kept_sk(member, key)).await? else {
            return Ok(None);
        };
        let kept = KeptResponse {
            workspace_id: ws.clone(),
            member_id: member.clone(),
            key: key.to_string(),
            fingerprint: get_s(&i, "fingerprint")?.to_string(),
            status: u16::try_from(get_n(&i, "status")?).map_err(corrupt)?,
            body: get_s(&i, "body")?.to_string(),
            location: opt_s(&i, "location").map(str::to_string),
            created_at: ts(get_s(&i, "created_at")?)?,
            expires_at: ts(get_s(&i, "expires_at")?)?,
        };
        Ok((kept.expires_at > now).then_some(kept))
    }
}

fn kept_sk(member: &MemberId, key: &str) -> String {
    format!("KEPT#{member}#{key}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trail_reads_back_packed_or_as_earlier_versions_wrote_it() {
        let long = vec![serde_json::json!({"kind": "llm", "prompt": "Linen & Loom ✨\n".repeat(200)})];
        let packed = stored_trail(&long);
        assert!(packed.is_b(), "a long trail is binary: {packed:?}");
        let item = |v: AttributeValue| Item::from([("trail".to_string(), v)]);
        assert_eq!(trail_of(&item(packed)).unwrap(), long);
        let text = Value::Array(long.clone()).to_string();
        assert_eq!(trail_of(&item(s(text))).unwrap(), long);
        let short = vec![serde_json::json!({"kind": "rule"})];
        assert_eq!(stored_trail(&short), s(r#"[{"kind":"rule"}]"#));
        assert!(trail_of(&Item::new()).unwrap().is_empty());
        assert!(trail_of(&item(n(1))).is_err());
        // Past what an item can hold packed: refused before it expands.
        let huge = vec![Value::String("x".repeat(TRAIL_MAX_BYTES))];
        let e = trail_of(&item(stored_trail(&huge))).expect_err("past the bound");
        assert!(e.to_string().contains("more than"), "{e}");
        assert!(
            trail_of(&item(AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(
                vec![1, 2]
            ))))
            .is_err()
        );
    }
}
