//! Greenlight's core: domain types, the rules (who may decide, the spend
//! cap, state transitions), the ports, and the application services that
//! the API, the CLI and the functions call.
//!
//! It does no IO: no AWS, no SQL, no HTTP. A test asserts that its
//! dependency tree holds none of them.

pub mod approver;
pub mod brands;
pub mod error;
pub mod ids;
pub mod model;
pub mod money;
pub mod ports;
pub mod proposal;
pub mod recipes;
pub mod service;
pub mod time;
pub mod trail;
pub mod views;

pub use error::{Error, TaskError};
pub use ids::*;
pub use money::Money;
pub use service::{Config, DecideRequest, Deps, ExecutionOutcome, Greenlight, StartRun};
pub use time::{Clock, SystemClock, Timestamp};
