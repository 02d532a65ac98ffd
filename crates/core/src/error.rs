//! The errors the application services answer with; the API maps each to
//! its status code in one place.

use crate::model::{Decision, StepStatus};
use crate::money::Money;
use crate::ports::{OrchestratorError, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("a valid API token is required")]
    Unauthorized,
    #[error("{0} not found")]
    NotFound(String),
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("{0}")]
    Forbidden(String),
    #[error("this approval was already decided")]
    AlreadyDecided {
        status: StepStatus,
        decision: Box<Decision>,
    },
    #[error("{0}")]
    NotPending(String),
    #[error("the proposal changed since it was shown; reload the card and review it again")]
    StaleProposal,
    #[error("Approving {proposed} would exceed this month's spend cap: only {remaining} of it is left.")]
    SpendCapExceeded { proposed: Money, remaining: Money },
    #[error("{0}")]
    NoReport(String),
    #[error("{0}")]
    InvalidRecipe(String),
    #[error("temporarily unavailable: {0}")]
    Unavailable(String),
}

impl Error {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The snake_case code of API.md.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Unauthorized => "unauthorized",
            Error::NotFound(_) => "not_found",
            Error::Invalid { .. } => "invalid_request",
            Error::Forbidden(_) => "forbidden",
            Error::AlreadyDecided { .. } => "already_decided",
            Error::NotPending(_) => "not_pending",
            Error::StaleProposal => "stale_proposal",
            Error::SpendCapExceeded { .. } => "spend_cap_exceeded",
            Error::NoReport(_) => "no_report",
            Error::InvalidRecipe(_) => "invalid_recipe",
            Error::Unavailable(_) => "unavailable",
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Error {
        match e {
            StoreError::BadCursor => Error::invalid("cursor", "is not a cursor this list issued"),
            other => Error::Unavailable(other.to_string()),
        }
    }
}

impl From<OrchestratorError> for Error {
    fn from(e: OrchestratorError) -> Error {
        Error::Unavailable(e.to_string())
    }
}

/// A task's failure, as the orchestrator sees it: `error` is what ASL
/// `Retry`/`Catch` match on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{error}: {cause}")]
pub struct TaskError {
    pub error: String,
    pub cause: String,
}

impl TaskError {
    pub fn new(error: &str, cause: impl Into<String>) -> TaskError {
        TaskError {
            error: error.to_string(),
            cause: cause.into(),
        }
    }
}

/// Error names our functions raise, beside `Rejected` and
/// `Greenlight.Retryable` (see `greenlight_recipes::errors`).
pub mod task_errors {
    /// An agent could not do its work; not retried.
    pub const AGENT_FAILED: &str = "Greenlight.AgentFailed";
    /// The task's payload was not what the function takes; not retried.
    pub const BAD_PAYLOAD: &str = "Greenlight.BadPayload";
}
