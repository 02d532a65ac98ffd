//! `GET /api/stream`: the caller's workspace as Server-Sent Events, where the
//! server can stream (locally). Each message is an event of a run, the same
//! object `GET /api/runs/{run_id}/events` answers (it carries `run_id`).

use crate::extract::Caller;
use crate::{ApiError, AppState};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use greenlight_core::ids::RunId;
use greenlight_core::model::Member;
use greenlight_core::time::Timestamp;
use greenlight_core::views::EventView;
use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use tokio::sync::broadcast::{Receiver, error::RecvError};

/// The most runs one connection remembers; past it, it forgets them all
/// (a forgotten run's next events are sent from the time it is seen again).
const MAX_TRACKED_RUNS: usize = 10_000;

struct Feed {
    app: AppState,
    member: Member,
    rx: Receiver<RunId>,
    connected: Timestamp,
    /// Per run: the last sequence sent, or `None` for another workspace's run.
    runs: HashMap<RunId, Option<u64>>,
    queue: VecDeque<Event>,
}

impl Feed {
    /// Queues the events of `run_id` this connection has not sent yet.
    async fn refresh(&mut self, run_id: RunId) {
        let known = self.runs.get(&run_id).copied();
        if known == Some(None) {
            return;
        }
        let after = known.flatten().unwrap_or(0);
        let events = match self.app.events(&self.member, run_id.as_str(), after, 1000).await {
            Ok(events) => events,
            Err(greenlight_core::Error::NotFound(_)) => {
                self.runs.insert(run_id, None);
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, run_id = %run_id, "live stream could not read events");
                return;
            }
        };
        if self.runs.len() >= MAX_TRACKED_RUNS {
            self.runs.clear();
        }
        let last = events.last().map_or(after, |e| e.seq);
        let first_sight = known.is_none();
        self.runs.insert(run_id, Some(last));
        for event in events {
            // A run first seen now: only what happened since the connection opened.
            if first_sight && event.at < self.connected {
                continue;
            }
            self.queue.push_back(message(&event));
        }
    }
}

fn message(event: &EventView) -> Event {
    let id = format!("{}:{}", event.run_id, event.seq);
    Event::default()
        .id(id)
        .json_data(event)
        .unwrap_or_else(|_| Event::default().event("resync").data("{}"))
}

/// `GET /api/stream`: the workspace's events as Server-Sent Events.
#[utoipa::path(get, path = "/api/stream", tag = "runs",
    responses(
        (status = 200, description = "One `data:` line per event (an event of GET /api/runs/{run_id}/events); a `resync` event asks the client to refetch", content_type = "text/event-stream"),
        (status = 401, description = "No valid token or session", body = crate::openapi::ErrorBody),
        (status = 404, description = "This deployment has no live stream: poll the run's events", body = crate::openapi::ErrorBody)))]
pub async fn stream(
    State(app): State<AppState>,
    Caller(member): Caller,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let Some(live) = &app.opts.live else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "this deployment has no live stream; poll GET /api/runs/{run_id}/events?after=<seq>",
        ));
    };
    let feed = Feed {
        rx: live.subscribe(),
        connected: app.now(),
        app: app.clone(),
        member,
        runs: HashMap::new(),
        queue: VecDeque::new(),
    };
    let events = futures::stream::unfold(feed, |mut feed| async move {
        loop {
            if let Some(event) = feed.queue.pop_front() {
                return Some((Ok(event), feed));
            }
            match feed.rx.recv().await {
                Ok(run_id) => feed.refresh(run_id).await,
                // Too slow a reader: tell the page to refetch what it shows.
                Err(RecvError::Lagged(_)) => {
                    return Some((Ok(Event::default().event("resync").data("{}")), feed));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}
