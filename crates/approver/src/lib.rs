//! The approver agent: learns a workspace's approval patterns per workflow
//! and gate from its decision history, predicts a verdict with the reasons,
//! pre-edits what it predicts will be rejected, and is evaluated on a
//! time-ordered split. Pure: no IO.
//!
//! - [`features`]: what it sees in a proposal (emoji, hashtags, discount and
//!   urgency language, banned words, length, spend against the brief and the
//!   cap, words and phrases).
//! - [`model`]: logistic regression (`linfa-logistic`) over those, with the
//!   features that weighed most and the feedback of similar rejections.
//! - [`edit`]: the edits its rules can make, and what they cannot.
//! - [`eval`]: precision and recall of predicted rejections, agreement, and
//!   auto-approve's false-accept rate by threshold.

pub mod edit;
pub mod eval;
pub mod features;
pub mod model;

pub use edit::{PreEdit, pre_edit};
pub use eval::{AtThreshold, Evaluation, evaluate};
pub use features::{Signal, SpendContext, observe};
pub use model::{Example, Model, PastFeedback, Prediction, TrainError, Verdict, Weighed};
